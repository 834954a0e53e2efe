"""A JATS text's figures: each ``<fig>`` with its label, caption and graphic (fig-groups, translations,
labels read from captions, numbering where no label is printed), and the printed numbers of unlabelled
tables, equations and sections."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Optional
from xml.etree.ElementTree import Element

from s1mmalign.builder.sources.jats.xml import DOI_LINE, XLINK_HREF, _local, _norm, element_text


@dataclass
class _Figure:
    fid: str
    label: str
    caption: str
    href: Optional[str]


def _graphic(el: Element) -> Optional[Element]:
    return next((g for g in el.iter() if _local(g.tag) == "graphic" and g.get(XLINK_HREF) is not None), None)


XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _translations(group: Element, figs: list[Element], lang: str) -> Optional[tuple[Element, Optional[Element]]]:
    """A ``<fig-group>`` holding one figure in several languages (SciELO: one ``<fig xml:lang>`` per
    language, one graphic: the group's, or inside one of them) as (the caption's fig, the graphic):
    the caption in the article's language ``lang`` where there is one, else the first (of those
    with a caption)."""
    langs = [f.get(XML_LANG) for f in figs]
    if len(figs) < 2 or not all(langs) or len(set(langs)) < 2:
        return None
    graphics = [g for g in [_graphic(c) for c in group if _local(c.tag) != "fig"] + [_graphic(f) for f in figs] if g is not None]
    if len(graphics) > 1:
        return None
    captioned = [f for f in figs if any(_local(c.tag) == "caption" and element_text(c) for c in f)] or figs
    return next((f for f in captioned if f.get(XML_LANG) == lang), captioned[0]), (graphics[0] if graphics else None)


def _fig_elements(scope: Element, lang: str = "") -> Iterator[tuple[Element, Optional[Element], Optional[str]]]:
    """The ``<fig>`` of ``scope`` (an article or sub-article; nested sub-articles are scopes of their
    own), each with its graphic (its own, else the one its ``<fig-group>`` shares) and the id its
    group lends it when it has none. A group of one figure in several languages is that one figure
    (:func:`_translations`), cited by the group's id; the others' graphic-less figs of a group share
    its graphic, the first of them."""
    stack = [scope]
    while stack:
        node = stack.pop()
        name = _local(node.tag)
        if node is not scope and name == "sub-article":
            continue
        if name == "fig":
            yield node, _graphic(node), None
            continue
        if name == "fig-group":
            figs = [c for c in node if _local(c.tag) == "fig"]
            others = [c for c in node if _local(c.tag) != "fig"]
            one = _translations(node, figs, lang)
            if one is not None:
                yield one[0], one[1], node.get("id")
                continue
            shared = next((g for c in others for g in [_graphic(c)] if g is not None), None)
            taken = False
            for fig in figs:
                own = _graphic(fig)
                if own is not None or shared is None:
                    yield fig, own, None
                elif not taken:
                    taken = True
                    yield fig, shared, node.get("id")
            stack.extend(reversed(others))
            continue
        stack.extend(reversed(node))


def _scopes(root: Element) -> list[Element]:
    """The article and each ``<sub-article>`` (eLife's author response, a translation): a figure's
    citing sentences are those of the text it belongs to, never a reviewer's about the paper's."""
    return [root] + [el for el in root.iter() if _local(el.tag) == "sub-article" and el is not root]


#: A figure without ``<label>`` whose caption opens with it (older OUP and Springer XML: "<bold>Figure 3</bold>
#: Means and ..."): the words up to the number are the label, the rest the caption.
_CAPTION_LABEL = re.compile(r"((?:Supplementa(?:ry|l)\s+)?(?:Fig(?:ure)?s?\.?|FIG(?:URE)?S?\.?|Scheme|Plate)"
                            r"\s?S?\d+[A-Za-z]?)(?:\s*[.:|\u2013\u2014-])?\s+(?=\S)")


#: A ``<fig>`` labelled "Table 2" is a table set as an image (older OUP XML: Clinical Infectious Diseases).
_TABLE_LABEL = re.compile(r"\s*(?:table|tab\.)\s*[A-Z]?[\dIVX]+\b", re.IGNORECASE)


def _label_from_caption(caption: str) -> tuple[str, str]:
    """(label, caption without it) when ``caption`` opens with a figure label; else ("", caption)."""
    m = _CAPTION_LABEL.match(caption)
    return (m.group(1), caption[m.end():]) if m else ("", caption)


def _figures(scope: Element, start: int = 0, lang: str = "") -> list[_Figure]:
    out: list[_Figure] = []
    for i, (fig, graphic, group_id) in enumerate(_fig_elements(scope, lang), start):
        label_el = next((c for c in fig if _local(c.tag) == "label"), None)
        cap_el = next((c for c in fig if _local(c.tag) == "caption"), None)
        caption = ""
        if cap_el is not None:
            blocks = []
            for c in cap_el:
                t = element_text(c)
                if not t or DOI_LINE.fullmatch(t):
                    continue
                # a title left open ("... phases (see", Scientific Reports: cut before "Fig. 3).") runs on
                if _local(c.tag) == "title" and not re.search(r"[.!?:]$", t) and t.count("(") <= t.count(")"):
                    t += "."
                blocks.append(t)
            caption = _norm(" ".join(blocks)) if blocks else element_text(cap_el)
        label = element_text(label_el) if label_el is not None else ""
        if not label:
            label, caption = _label_from_caption(caption)
        out.append(_Figure(
            fid=fig.get("id") or group_id or f"fig{i + 1}",
            label=label,
            caption=caption,
            href=graphic.get(XLINK_HREF).strip() if graphic is not None else None,
        ))
    return out


def _number_in_order(scope: Element, figs: list[_Figure]) -> None:
    """Label the figures of a text none of whose figures has a label as its PDF numbers them: in
    document order, an appendix's "A1", "A2" (the ``k``-th ``<app>``'s letter). Copernicus's XML
    (made from LaTeX) prints no ``<label>`` and cites by an empty ``<xref/>``."""
    if not figs or any(f.label for f in figs):
        return
    letter = {}
    for k, app in enumerate(el for el in scope.iter() if _local(el.tag) == "app"):
        letter.update({f.get("id"): chr(65 + k % 26) for f in app.iter() if _local(f.tag) == "fig"})
    counts: dict[str, int] = {}
    for f in figs:
        series = letter.get(f.fid, "")
        counts[series] = counts.get(series, 0) + 1
        f.label = f"Figure {series}{counts[series]}"


def _unlabelled_numbers(scope: Element) -> dict[str, str]:
    """The numbers a PDF prints for the tables, numbered equations and sections of a text that labels
    none of them (Copernicus: empty ``<xref/>`` to "Ch1.T2", "Ch1.E3", "Ch1.S3.SS2"), by id: "2", "3",
    "3.2"; in an appendix "A2" (the ``k``-th ``<app>``'s letter; its sections "A", "A1"). A kind of
    which any element has a ``<label>`` is left out: its numbers are not known."""
    def has_label(el: Element) -> bool:
        return any(_local(c.tag) == "label" for c in el)

    out: dict[str, str] = {}
    apps = [el for el in scope.iter() if _local(el.tag) == "app"]
    letter = {id(el): chr(65 + k % 26) for k, app in enumerate(apps) for el in app.iter()}
    for kind, counted in (("table-wrap", lambda el: True),
                          ("disp-formula", lambda el: el.get("content-type") in (None, "numbered"))):
        found = [el for el in scope.iter() if _local(el.tag) == kind and el.get("id")]
        if any(el.get("content-type") == "numbered" for el in found):  # unnumbered ones say so by omission
            found = [el for el in found if el.get("content-type") == "numbered"]
        if not found or any(has_label(el) for el in found):
            continue
        counts: dict[str, int] = {}
        for el in found:
            if counted(el):
                series = letter.get(id(el), "")
                counts[series] = counts.get(series, 0) + 1
                out[el.get("id")] = f"{series}{counts[series]}"
    secs = [el for el in scope.iter() if _local(el.tag) in ("sec", "app")]
    if secs and not any(has_label(el) for el in secs):
        # (parent, its number, separator before its sections' numbers); a stack, not recursion: a
        # hostile nesting depth costs memory, never a RecursionError
        stack = [(body, "", ".") for body in scope if _local(body.tag) == "body"]
        for app in apps:
            if app.get("id"):
                out[app.get("id")] = letter[id(app)]
            stack.append((app, letter[id(app)], ""))
        while stack:
            parent, prefix, sep = stack.pop()
            n = 0
            for child in parent:
                if _local(child.tag) == "sec":
                    n += 1
                    number = f"{prefix}{sep}{n}" if prefix else str(n)
                    if child.get("id"):
                        out[child.get("id")] = number
                    stack.append((child, number, "."))
    return out
