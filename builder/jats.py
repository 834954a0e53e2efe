"""JATS XML papers (PMC OA, bioRxiv, medRxiv) to figure records with image bytes.

Inputs: an article folder (one ``.nxml``/``.xml`` plus its media files), a single article
file (its media beside it), or a PMC ``oa_package`` ``.tar.gz`` (unpacked into a temporary
folder, never outside it). One contract record per ``<fig>``::

    from s1mmalign.builder.jats import read_jats_article, iter_oa_package
    for rec in read_jats_article("PMC123456/", rejects):
        rec["figure_label"], rec["caption"], rec["citation_contexts"], rec["image"]["path"]

Per figure: label, caption (title + paragraphs as plain text), the media file named by
``<graphic xlink:href>`` whatever its extension (when several exist, the largest image;
ties prefer lossless), the sentences citing it (``<xref ref-type="fig" rid=...>`` and printed
references, via :mod:`s1mmalign.builder.contexts`), and the paper's title, abstract, subjects
and license. TIFF/GIF become PNG through :func:`s1mmalign.builder.images.normalize_image`.

XML is parsed with ``defusedxml`` (no entity expansion, no external resources). Bad input is
a reject with a reason and the run goes on: ``malformed_xml``, ``no_article_xml``,
``unsafe_href`` (``..``, absolute paths, URLs: never followed), ``missing_media``,
``no_graphic``, ``no_caption``, ``corrupt_archive``, ``unsafe_member`` and the image reasons
of :mod:`s1mmalign.builder.images`.
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Optional
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

import s1mmalign_dataset as contract
from s1mmalign.builder.contexts import find_citations, mark
from s1mmalign.builder.images import ImageRejected, normalize_image
from s1mmalign.builder.manifest import safe_join
from s1mmalign.builder.rejects import Rejects

log = logging.getLogger(__name__)

STAGE = "jats"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ARTICLE_SUFFIXES = (".nxml", ".xml")
MEDIA_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
# Tie-break among media files of equal pixel area: lossless first, GIF (thumbnails) last.
_FORMAT_RANK = {".png": 0, ".tif": 0, ".tiff": 0, ".bmp": 1, ".webp": 2, ".jpg": 2, ".jpeg": 2, ".gif": 3}
# Elements whose text is not part of the surrounding paragraph.
_SKIP_IN_TEXT = {"fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material", "fn",
                 "object-id", "graphic", "media"}

#: oa_package limits: members and total unpacked bytes (a guard against archive bombs).
MAX_PACKAGE_MEMBERS = 10_000
MAX_PACKAGE_BYTES = 4 << 30


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


def _text(el: Element, *, marks: bool = False) -> str:
    """Plain text of ``el`` (tails included inside, floats and footnotes left out).

    With ``marks``, each figure ``<xref>`` is preceded by :func:`contexts.mark` of its ids.
    """
    parts: list[str] = []

    def walk(node: Element) -> None:
        name = _local(node.tag)
        if name in _SKIP_IN_TEXT:
            return
        if name in ("inline-formula", "disp-formula"):
            pad = " " if name == "disp-formula" else ""
            parts.append(pad + _formula_text(node) + pad)
            return
        if marks and name == "xref" and node.get("ref-type") == "fig":
            for rid in (node.get("rid") or "").split():
                parts.append(mark(rid))
        if name in ("break", "p", "title", "list-item", "label") and parts:
            parts.append(" ")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(el)
    return _norm("".join(parts))


def _paragraphs(root: Element) -> list[str]:
    """Body text blocks (outermost ``<p>``), with figure markers, in document order.

    Captions, tables and footnotes are left out; ``<back>`` appendices are kept.
    """
    out: list[str] = []

    def walk(node: Element) -> None:
        name = _local(node.tag)
        if name in _SKIP_IN_TEXT or name in ("caption", "front", "ref-list", "front-stub", "abstract"):
            return
        if name == "p":
            text = _text(node, marks=True)
            if text:
                out.append(text)
            return
        for child in node:
            walk(child)

    walk(root)
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
    return _text(el) if el is not None else ""


def _abstract(meta: Element) -> str:
    abstracts = [el for el in meta.iter() if _local(el.tag) == "abstract"]
    plain = [a for a in abstracts if not a.get("abstract-type")] or abstracts
    if not plain:
        return ""
    a = plain[0]
    blocks = [_text(c) for c in a if _local(c.tag) not in ("title", "label")]
    return _norm(" ".join(b for b in blocks if b)) or _text(a)


def _subjects(root: Element) -> list[str]:
    out: list[str] = []
    meta = _meta(root)
    for el in meta.iter():
        if _local(el.tag) == "subject":
            s = _text(el)
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
    prose = " ".join(_text(el) for el in meta.iter() if _local(el.tag) in ("license", "copyright-statement"))
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


def _source_of(root: Element, doi: str) -> str:
    names = " ".join(_text(el) for el in root.iter() if _local(el.tag) in ("journal-title", "publisher-name", "journal-id")).lower()
    if "medrxiv" in names:
        return "medrxiv"
    if "biorxiv" in names or doi.startswith("10.1101/"):
        return "biorxiv"
    if "nature communications" in names:
        return "nature_communications"
    return "pmc"


# -- media ----------------------------------------------------------------------------------------


def _unsafe_href(href: str) -> Optional[str]:
    """Why ``href`` may not be followed, or None."""
    if not href.strip():
        return "empty href"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", href) and not re.match(r"^[A-Za-z]:[\\/]", href):
        return "a URL, not a file of the paper"
    if href.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", href) or "\x00" in href:
        return "absolute path"
    if ".." in re.split(r"[\\/]", href):
        return "'..' leaves the paper's folder"
    return None


def _pixel_area(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size[0] * im.size[1]
    except Exception:
        return -1


def resolve_media(root: Path, href: str) -> list[Path]:
    """The media files ``href`` may name under ``root``, best first.

    ``href`` is matched exactly, then by stem with any image extension (PMC often writes the
    href without one, or names ``x.tif`` while shipping ``x.jpg``), case-insensitively, in the
    href's folder. Best = largest pixel area, then lossless before lossy before GIF.
    """
    base = safe_join(root, href, resolve_links=True)
    if base is None:
        return []
    folder = base.parent
    if not folder.is_dir():
        return []
    name = base.name
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in MEDIA_SUFFIXES else name
    found = []
    for p in folder.iterdir():
        if not p.is_file():
            continue
        low = p.name.lower()
        if low == name.lower() or (low.startswith(stem.lower() + ".") and p.suffix.lower() in MEDIA_SUFFIXES
                                   and low[: -len(p.suffix)] == stem.lower()):
            if safe_join(root, p.relative_to(root).as_posix(), resolve_links=True) is not None:
                found.append(p)
    found.sort(key=lambda p: (-_pixel_area(p), _FORMAT_RANK.get(p.suffix.lower(), 4), p.name))
    return found


# -- articles -------------------------------------------------------------------------------------


@dataclass
class _Figure:
    fid: str
    label: str
    caption: str
    href: Optional[str]


def _figures(root: Element) -> list[_Figure]:
    out: list[_Figure] = []
    for i, fig in enumerate(el for el in root.iter() if _local(el.tag) == "fig"):
        label_el = next((c for c in fig if _local(c.tag) == "label"), None)
        cap_el = next((c for c in fig if _local(c.tag) == "caption"), None)
        caption = ""
        if cap_el is not None:
            blocks = []
            for c in cap_el:
                t = _text(c)
                if not t:
                    continue
                if _local(c.tag) == "title" and not re.search(r"[.!?:]$", t):
                    t += "."
                blocks.append(t)
            caption = _norm(" ".join(blocks)) if blocks else _text(cap_el)
        graphic = next((g for g in fig.iter() if _local(g.tag) == "graphic" and g.get(XLINK_HREF) is not None), None)
        out.append(_Figure(
            fid=fig.get("id") or f"fig{i + 1}",
            label=_text(label_el) if label_el is not None else "",
            caption=caption,
            href=graphic.get(XLINK_HREF).strip() if graphic is not None else None,
        ))
    return out


def _printed_number(label: str) -> str:
    m = re.search(r"(S?\d+)", label.replace("Supplementary ", "S").replace("Suppl. ", "S"))
    return m.group(1) if m else ""


def find_article_xml(folder: Path) -> list[Path]:
    """The JATS article files of a folder (``.nxml`` first; ``.xml`` that look like JATS)."""
    nxml = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".nxml")
    if nxml:
        return nxml
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".xml" and _looks_like_jats(p))


def _looks_like_jats(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return bool(re.search(r"<article[\s>]", head)) and ("JATS" in head or "jats" in head or "article-type" in head
                                                       or "xmlns:xlink" in head or "<front" in head)


def is_jats_source(path: str | os.PathLike) -> bool:
    """True for a JATS article file, a folder holding one, or an ``oa_package`` tar.gz."""
    p = Path(path)
    if p.is_dir():
        try:
            return bool(find_article_xml(p))
        except OSError:
            return False
    if p.suffix.lower() == ".nxml":
        return True
    if p.suffix.lower() == ".xml":
        return _looks_like_jats(p)
    if p.name.lower().endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(p, "r:gz") as tf:
                for i, m in enumerate(tf):
                    if m.name.lower().endswith(".nxml"):
                        return True
                    if i >= 500:
                        break
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            return False
    return False


def read_jats_article(
    path: str | os.PathLike,
    rejects: Rejects,
    *,
    source: Optional[str] = None,
    media_root: str | os.PathLike | None = None,
    paper_id: Optional[str] = None,
) -> Iterator[dict]:
    """Yield one contract record (image bytes included) per figure of a JATS article.

    ``path``: an article folder or an article file (media beside it, or under ``media_root``).
    ``source`` overrides the detected one (``pmc``, ``biorxiv``, ``medrxiv``, ...).
    Figures that cannot be read are added to ``rejects``; this never raises on bad input.
    """
    path = Path(path)
    if path.is_dir():
        try:
            files = find_article_xml(path)
        except OSError as e:
            rejects.add(None, "article", "unreadable", f"{path}: {e}", stage=STAGE, source=source or "")
            return
        if not files:
            rejects.add(None, "article", "no_article_xml", f"{path}: no .nxml/.xml article in the folder",
                        stage=STAGE, source=source or "")
            return
        for f in files:
            yield from _read_one(f, Path(media_root) if media_root else path, rejects, source, paper_id)
    else:
        yield from _read_one(path, Path(media_root) if media_root else path.parent, rejects, source, paper_id)


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


def _read_one(xml: Path, root: Path, rejects: Rejects, source: Optional[str], paper_id: Optional[str]) -> Iterator[dict]:
    try:
        root_el = parse_article(xml)
    except (ParseError, DefusedXmlException, UnicodeDecodeError, ValueError) as e:
        rejects.add(paper_id or xml.stem, "article", "malformed_xml", f"{xml.name}: {type(e).__name__}: {e}",
                    stage=STAGE, source=source or "")
        return
    except OSError as e:
        rejects.add(paper_id or xml.stem, "article", "unreadable", f"{xml.name}: {e}", stage=STAGE, source=source or "")
        return
    meta = _meta(root_el)
    ids = _article_ids(meta)
    doi = ids.get("doi", "")
    pid = paper_id or doi or (f"PMC{ids['pmc'].removeprefix('PMC')}" if "pmc" in ids else "") or ids.get("pmid") or xml.stem
    src = source or _source_of(root_el, doi)
    title, abstract = _title(meta), _abstract(meta)
    subjects, license_ = _subjects(root_el), _license(root_el)
    figures = _figures(root_el)
    if not figures:
        return
    numbers = {f.fid: _printed_number(f.label) for f in figures}
    cites = find_citations(_paragraphs(root_el), numbers, figure_ids=[f.fid for f in figures])
    # bioRxiv is all biology and medRxiv all medicine; PMC spans every field: "other" when no subject maps
    discipline = contract.discipline_for_tags(subjects, default={"biorxiv": "biology", "medrxiv": "medicine"}.get(src, "other"))
    for fig in figures:
        key = contract.make_key(src, pid, fig.fid)

        def reject(field: str, reason: str, detail: str) -> None:
            rejects.add(key, field, reason, f"{pid} {fig.label or fig.fid}: {detail}", stage=STAGE, source=src)

        if not fig.caption:
            reject("caption", "no_caption", "the figure has no caption text")
            continue
        if fig.href is None:
            reject("image", "no_graphic", "the figure has no <graphic xlink:href>")
            continue
        why = _unsafe_href(fig.href)
        if why:
            reject("image", "unsafe_href", f"{fig.href!r}: {why}; not followed")
            continue
        candidates = resolve_media(root, fig.href)
        if not candidates:
            reject("image", "missing_media", f"no media file for href {fig.href!r} in {root.name}")
            continue
        media = candidates[0]
        try:
            stored = normalize_image(media.read_bytes())
        except ImageRejected as e:
            reject("image", e.reason, f"{media.name}: {e.detail}")
            continue
        except OSError as e:
            reject("image", "unreadable", f"{media.name}: {e}")
            continue
        ctx = cites.get(fig.fid)
        yield {
            "key": key,
            "image": {"bytes": stored.data, "path": media.relative_to(root).as_posix()},
            "caption": fig.caption,
            "title": title,
            "abstract": abstract,
            "citation_contexts": list(ctx.sentences) if ctx else [],
            "citation_count": ctx.count if ctx else 0,
            "paper_id": pid,
            "figure_label": fig.label or fig.fid,
            "source": src,
            "categories": subjects,
            "discipline": discipline,
            "license": license_,
            "width": stored.width,
            "height": stored.height,
            "image_sha256": stored.sha256,
            "image_path": media.relative_to(root).as_posix(),
        }


# -- oa_package archives --------------------------------------------------------------------------


def iter_oa_package(path: str | os.PathLike, rejects: Rejects, *, source: Optional[str] = None,
                    tmp_dir: str | os.PathLike | None = None) -> Iterator[dict]:
    """Yield the figure records of a PMC ``oa_package`` ``.tar.gz``.

    Regular files are unpacked into a fresh temporary folder (removed afterwards); links,
    devices and names leaving that folder are never written (``unsafe_member``). A corrupt or
    truncated archive is one ``corrupt_archive`` reject.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="s1mm-oa-", dir=tmp_dir) as tmp:
        tmp_root = Path(tmp)
        try:
            _unpack(path, tmp_root, rejects, source or "pmc")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            rejects.add(path.name, "archive", "corrupt_archive", f"{path.name}: {type(e).__name__}: {e}",
                        stage=STAGE, source=source or "pmc")
            return
        folders = sorted({p.parent for p in tmp_root.rglob("*") if p.is_file() and p.suffix.lower() == ".nxml"})
        if not folders:
            folders = sorted({p.parent for p in tmp_root.rglob("*.xml") if p.is_file() and _looks_like_jats(p)})
        if not folders:
            rejects.add(path.name, "archive", "no_article_xml", f"{path.name}: no JATS article inside",
                        stage=STAGE, source=source or "pmc")
            return
        for folder in folders:
            yield from read_jats_article(folder, rejects, source=source)


def _unpack(path: Path, dest: Path, rejects: Rejects, source: str) -> None:
    total = 0
    with tarfile.open(path, "r:*") as tf:
        for i, m in enumerate(tf):
            if i >= MAX_PACKAGE_MEMBERS:
                raise tarfile.TarError(f"more than {MAX_PACKAGE_MEMBERS} members")
            if m.isdir():
                continue
            if not m.isfile():
                rejects.add(path.name, "archive", "unsafe_member", f"{m.name}: not a regular file; skipped",
                            stage=STAGE, source=source)
                continue
            name = PurePosixPath(m.name)
            target = safe_join(dest, m.name, resolve_links=True) if not (name.is_absolute() or ".." in name.parts) else None
            if target is None:
                rejects.add(path.name, "archive", "unsafe_member", f"{m.name}: leaves the package; skipped",
                            stage=STAGE, source=source)
                continue
            total += m.size
            if total > MAX_PACKAGE_BYTES:
                raise tarfile.TarError(f"unpacks to more than {MAX_PACKAGE_BYTES} bytes")
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            with open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
