"""JATS XML parsed safely, and read into text: paragraphs with figure markers, title, abstract, subjects, license, ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET

from s1mmalign.builder.sources.contexts import mark
from s1mmalign.core.years import year_of

STAGE = "jats"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ARTICLE_SUFFIXES = (".nxml", ".xml")
MEDIA_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
# Tie-break among media files of equal pixel area: lossless first, GIF (thumbnails) last.
_FORMAT_RANK = {".png": 0, ".tif": 0, ".tiff": 0, ".bmp": 1, ".webp": 2, ".jpg": 2, ".jpeg": 2, ".gif": 3}
# Elements whose text is not part of the surrounding paragraph.
_SKIP_IN_TEXT = {"fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material", "fn",
                 "object-id", "graphic", "media"}


def _local(tag) -> str:
    """Tag name without namespace (``{ns}fig`` -> ``fig``); comments/PIs give ''."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _norm(text: str) -> str:
    return " ".join(text.split())


def _formula_text(el: Element) -> str:
    """A formula as readable text: its TeX when given, else the MathML characters."""
    for sub in el.iter():
        if _local(sub.tag) == "tex-math" and (sub.text or "").strip():
            tex = sub.text.strip()
            tex = re.sub(r"^\\documentclass.*?\\begin\{document\}|\\end\{document\}$", "", tex, flags=re.S).strip()
            return tex if tex.startswith("$") else f"${tex.strip('$')}$"
    return "".join(t for sub in el.iter() if _local(sub.tag) not in ("annotation",) for t in [sub.text or ""] if t.strip())


def element_text(el: Element, *, marks: bool = False) -> str:
    """Plain text of ``el`` (tails included inside, floats and footnotes left out).

    With ``marks``, each figure ``<xref>`` is preceded by :func:`contexts.mark` of its ids.
    Iterative: a hostile nesting depth costs memory in proportion, never a RecursionError.
    """
    parts: list[str] = []
    stack: list = [el]  # elements to walk, and str tails to append, in reverse order
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            parts.append(node)
            continue
        name = _local(node.tag)
        if name in _SKIP_IN_TEXT:
            continue
        if name in ("inline-formula", "disp-formula"):
            pad = " " if name == "disp-formula" else ""
            parts.append(pad + _formula_text(node) + pad)
            continue
        if marks and name == "xref" and node.get("ref-type") == "fig":
            for rid in (node.get("rid") or "").split():
                parts.append(mark(rid))
        if name in ("break", "p", "title", "list-item", "label") and parts:
            parts.append(" ")
        if node.text:
            parts.append(node.text)
        for child in reversed(node):
            if child.tail:
                stack.append(child.tail)
            stack.append(child)
    return _norm("".join(parts))


def _paragraphs(root: Element) -> list[str]:
    """Body text blocks (outermost ``<p>``), with figure markers, in document order.

    Captions, tables and footnotes are left out; ``<back>`` appendices are kept.
    """
    out: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        name = _local(node.tag)
        if name in _SKIP_IN_TEXT or name in ("caption", "front", "ref-list", "front-stub", "abstract"):
            continue
        if name == "p":
            text = element_text(node, marks=True)
            if text:
                out.append(text)
            continue
        stack.extend(reversed(node))
    return out


# -- metadata -------------------------------------------------------------------------------------


def _first(root: Element, *names: str) -> Optional[Element]:
    for el in root.iter():
        if _local(el.tag) in names:
            return el
    return None


def _meta(root: Element) -> Element:
    meta = _first(root, "article-meta")
    return meta if meta is not None else root


def _title(meta: Element) -> str:
    el = _first(meta, "article-title")
    return element_text(el) if el is not None else ""


def _abstract(meta: Element) -> str:
    abstracts = [el for el in meta.iter() if _local(el.tag) == "abstract"]
    plain = [a for a in abstracts if not a.get("abstract-type")] or abstracts
    if not plain:
        return ""
    a = plain[0]
    blocks = [element_text(c) for c in a if _local(c.tag) not in ("title", "label")]
    return _norm(" ".join(b for b in blocks if b)) or element_text(a)


def _subjects(root: Element) -> list[str]:
    out: list[str] = []
    meta = _meta(root)
    for el in meta.iter():
        if _local(el.tag) == "subject":
            s = element_text(el)
            if s and s not in out:
                out.append(s)
    return out


_URL_RE = re.compile(r"https?://[^\s<>\"')]+")


def _license(root: Element) -> str:
    """The license URL (or a ``CC-BY``-style id when only prose names it), '' when unknown."""
    meta = _meta(root)
    lic = _first(meta, "license")
    if lic is not None:
        href = lic.get(XLINK_HREF)
        if href:
            return href.strip()
        for el in lic.iter():
            name = _local(el.tag)
            if name == "license_ref" and (el.text or "").strip():
                return el.text.strip()
            if name in ("ext-link", "uri") and el.get(XLINK_HREF):
                return el.get(XLINK_HREF).strip()
    prose = " ".join(element_text(el) for el in meta.iter() if _local(el.tag) in ("license", "copyright-statement"))
    m = _URL_RE.search(prose)
    if m:
        return m.group(0).rstrip(".,;")
    if re.search(r"creative commons attribution", prose, re.I):
        return "CC-BY-NC" if re.search(r"non-?commercial", prose, re.I) else "CC-BY"
    return (lic.get("license-type") or "").strip() if lic is not None else ""


def _article_ids(meta: Element) -> dict[str, str]:
    ids: dict[str, str] = {}
    for el in meta:
        if _local(el.tag) == "article-id" and (el.text or "").strip():
            ids.setdefault(el.get("pub-id-type") or "other", el.text.strip())
    return ids


PUB_DATE_ORDER = ("epub", "pub", "ppub", "collection")  # JATS pub-type / date-type, first publication first


def _pub_year(meta: Element) -> Optional[int]:
    """The year of the article's ``<pub-date>`` in ``<article-meta>``: the electronic publication's
    first (``epub``, then ``pub``, ``ppub``, ``collection``, then any); None without a plausible one."""
    dates = []
    for el in meta:
        if _local(el.tag) == "pub-date":
            kind = el.get("pub-type") or el.get("date-type") or ""
            year = next((year_of(element_text(c)) for c in el if _local(c.tag) == "year"), None)
            if year is not None:
                dates.append((PUB_DATE_ORDER.index(kind) if kind in PUB_DATE_ORDER else len(PUB_DATE_ORDER), year))
    return min(dates)[1] if dates else None


def _journal_title(root: Element) -> str:
    """The first ``<journal-title>`` (or, without one, the first ``<journal-id>``)."""
    for tag in ("journal-title", "journal-id"):
        for el in root.iter():
            if _local(el.tag) == tag and element_text(el).strip():
                return " ".join(element_text(el).split())
    return ""


def _source_of(root: Element, doi: str) -> str:
    names = " ".join(element_text(el) for el in root.iter() if _local(el.tag) in ("journal-title", "publisher-name", "journal-id")).lower()
    if "medrxiv" in names:
        return "medrxiv"
    if "biorxiv" in names or doi.startswith("10.1101/"):
        return "biorxiv"
    if "nature communications" in names:
        return "nature_communications"
    return "pmc"


# -- media ----------------------------------------------------------------------------------------




_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")


def _numeric_entities(data: bytes) -> bytes:
    """HTML named entities (``&nbsp;``, ``&mdash;``: defined by the JATS DTD, which is never
    loaded) as numeric character references; unknown names are left for the parser to refuse."""
    from html.entities import name2codepoint

    def sub(m: re.Match) -> bytes:
        name = m.group(1).decode("ascii")
        if name in _XML_ENTITIES or name not in name2codepoint:
            return m.group(0)
        return f"&#{name2codepoint[name]};".encode("ascii")

    return _NAMED_ENTITY.sub(sub, data)


def parse_article(xml: Path) -> Element:
    """The root element of a JATS file, parsed safely (no entity declarations, nothing fetched)."""
    data = xml.read_bytes()
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except ParseError as e:
        if "undefined entity" not in str(e):
            raise
    return SafeET.fromstring(_numeric_entities(data), forbid_dtd=False, forbid_entities=True, forbid_external=True)
