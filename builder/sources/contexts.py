"""Citation contexts: the sentences of a paper that cite each figure (shared by every reader).

A reader turns its body text into paragraphs of plain text and, where the markup names the
cited figure (LaTeX ``\\ref{fig:x}``, JATS ``<xref ref-type="fig" rid="f1">``), puts
:func:`mark` ``(figure_id)`` just before the printed reference. Then::

    from s1mmalign.builder.sources.contexts import mark, find_citations

    paras = [f"As {mark('f1')}Fig. 1 and Figs. {mark('f2')}2{mark('f4')}\u20134 show, ..."]
    cites = find_citations(paras, numbers={"f1": "1", "f2": "2", "f3": "3", "f4": "4"})
    cites["f3"].sentences  # ['As Fig. 1 and Figs. 2\u20134 show, ...'] (the range is expanded)
    cites["f3"].count      # citing sentences before de-duplication and capping

Rules: a sentence cites a figure when it holds its marker, when a range between two marked or
printed numbers covers it ("Figs. 2\u20134", "Figures 2 to 4", "Fig. 2-4"), or when it names its
printed number in plain text ("Fig. 3", "Fig. 3b", "Figure S2", "Figs. 1 and 3") — the last
needs ``numbers`` (figure id -> printed number). Panels ("3b", "3(b)") cite their figure.
Sentences are returned per figure de-duplicated (after whitespace normalisation), in
document order, each cut to ``max_chars`` at a word boundary; at most ``max_sentences``.
Markers never show in the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from s1mmalign.core.sentences import MARK_RE, mark, split_sentences, strip_marks  # noqa: F401 (readers import them from here)

DEFAULT_MAX_CHARS = 600
DEFAULT_MAX_SENTENCES = 10


@dataclass
class Contexts:
    """The citing sentences of one figure: ``sentences`` (unique, in order, capped) and ``count``."""

    sentences: list[str] = field(default_factory=list)
    count: int = 0


# -- finding citations ------------------------------------------------------------------------

#: A printed number: "3", "S2", "3.2" (a thesis chapter's), "A1" / "A.1" (an appendix's), "S3.1".
NUMBER = r"(?:[A-Z]\.?)?\d+(?:\.\d+){0,2}"
_NUM = r"(" + NUMBER + r")(?:\s?\(?([a-z])\)?(?![a-z]))?"  # "3", "S2", "3b", "3(b)"
#: What a figure's printed number is counted among: "Supplementary Fig. 2" is S2 and "Extended Data
#: Fig. 1" ED1, never the paper's Figure 2 or 1 (Nature's papers cite both in plain text).
_SERIES = r"(?:(?P<supp>Supplementa(?:ry|l)|Suppl\.?|Supporting(?:\s+Information)?|Additional(?:\s+file)?)|(?P<ext>Extended\s+Data))\s+"
# not after a dash: "Appendix 1\u2014figure 2" and "Box 1\u2014figure 1" are figures of their own
_FIG_WORD = r"(?<![\u2013\u2014-])(?<![\u2013\u2014-] )\b(?:" + _SERIES + r")?(?:[Ff]ig(?:ure|ura)?s?\.?|FIGS?\.|FIGURES?)"
_SEP = r"\s*(?:,|;|and|&|or)\s*"
_RANGE = r"\s*(?:\u2013|\u2014|-{1,3}|to|through)\s*"
_TEXT_REF = re.compile(
    _FIG_WORD + r"[\s~\u00a0]*" + r"(?P<items>" + _NUM + r"(?:(?:" + _SEP + "|" + _RANGE + r")" + _NUM + r")*)",
)
#: Just before a figure word: an appendix's or a box's figure ("Appendix 1 Figure 2", "Appendix Figure 3",
#: "Box 2 Figure 1"), whose plain number is not the paper's Figure 2 ("SI Appendix, Fig. S2" names S2).
_IN_APPENDIX = re.compile(r"\b(?:Appendix|Box)(?:\s+(?:[A-Z]?\d+|[A-Z]))?\s*$")
#: Before a figure word, in the same run of non-space characters: a web address or a file's name.
_IN_URL = re.compile(r"://|\bwww\.|_")
_PART_OF = re.compile(r"\s*[\u2013\u2014-]{1,3}\s*(?:figure\s+supplement|source\s+(?:data|code)|video|animation|movie)", re.IGNORECASE)
#: After a printed number: another paper's figure ("Fig. 1 of Ref. 12", "Figure 3 in [7]", "Figure 1A of another
#: article", "Figure 2 of Smith et al.", "Fig. 4 from R10", "Fig. 3 of Paper I"), or a citation left empty where
#: the reader removed a \\cite.
_OTHER_PAPER = re.compile(r"(?:[A-Z](?![A-Za-z]))?\s*(?:of|in|from)\s+(?:Refs?\b\.?|refs?\.|references?\b|\[|[Pp]apers?\s+(?:[IVX]+|\d)\b"
                          r"|\(?[A-Z][A-Za-z'\u2019-]+(?:\s+(?:and|&)\s+[A-Z][A-Za-z'\u2019-]+)?(?:\s+et\s+al\b|,?\s+\(?(?:19|20)\d\d)"
                          r"|[A-Z]{1,3}\d+\b|\s*[,.;)]|(?:which|that|where)\b"
                          r"|(?:another|an?\s+(?:earlier|previous|prior|companion|separate|different))\s+(?:article|paper|study|publication|report)\b)")
#: Before the figure word: another author's figure ("see their Fig. 3", "his Figure 14")
_THEIR = re.compile(r"\b(?:their|his|her)\s+$")
_ITEM = re.compile(r"(" + NUMBER + r")(?:\s?\(?[a-z]\)?(?![a-z]))?|(\u2013|\u2014|-{1,3}|\bto\b|\bthrough\b)")
#: A label that prints a figure's own number: "Figure 3", "Fig. S2", "Supplementary Figure 1",
#: "Extended Data Fig. 4", "3". A part of another figure ("Figure 9\u2014figure supplement 2",
#: "Appendix 1\u2014figure 2", "Author response image 1", "Figure 2\u2014video 1") has no number of
#: its own: only markup cites it, never "Figure 9" in plain text.
_LABEL = re.compile(r"\s*(?:" + _SERIES + r")?(?:(?:fig(?:ure|ura)?|abb(?:ildung)?)\.?\s*)?"
                    r"(?P<num>S?\d+)[a-z]?\s*[.:)\u2013\u2014-]?\s*", re.IGNORECASE)


def printed_number(label: str) -> str:
    """The number a figure's label prints, in the series plain text cites it by ("3", "S2" for a
    supplementary figure, "ED4" for Extended Data); "" when the label prints none of its own."""
    m = _LABEL.fullmatch(label or "")
    if not m:
        return ""
    series, number = _series(m), m.group("num").upper()
    return series + number.lstrip("S") if series else number


def _series(m: re.Match) -> str:
    return "S" if m.group("supp") else "ED" if m.group("ext") else ""


def _sort_key(number: str) -> tuple[str, tuple[int, ...]]:
    """("S", (2,)) for "S2", ("", (3, 2)) for "3.2", ("A", (1,)) for "A.1": a range compares within a series."""
    m = re.fullmatch(r"([A-Z]*)\.?(\d+(?:\.\d+)*)", number)
    if not m:
        return (number, (1 << 30,))
    return (m.group(1), tuple(int(p) for p in m.group(2).split(".")))


def _printed_refs(sentence: str, by_number: Mapping[str, str]) -> set[str]:
    """Figure ids named by printed numbers in ``sentence`` (markers already removed)."""
    found: set[str] = set()
    for m in _TEXT_REF.finditer(sentence):
        if _OTHER_PAPER.match(sentence, m.end()) or _THEIR.search(sentence, max(0, m.start() - 8), m.start()):
            continue  # "Fig. 1 of Ref. [4]", "their Fig. 3": another paper's figure
        if _IN_URL.search(sentence, sentence.rfind(" ", 0, m.start()) + 1, m.start()):  # ".../fig1data.txt"
            continue
        items = _ITEM.findall(m.group("items"))
        if _PART_OF.match(sentence, m.end()):  # "Figure 1\u2014figure supplement 2" names the supplement only
            items = items[:-1]
        series = _series(m)
        if not series and _IN_APPENDIX.search(sentence, max(0, m.start() - 20), m.start()):
            items = [(num, dash) for num, dash in items if dash or not num.isdigit()]
        prev, pending_range = None, False
        for num, dash in items:
            if dash:
                pending_range = prev is not None
                continue
            num = series + num.lstrip("S") if series else num
            if pending_range and prev is not None:
                lo, hi = _sort_key(prev), _sort_key(num)
                for n, fid in by_number.items():
                    if lo <= _sort_key(n) <= hi:
                        found.add(fid)
            if num in by_number:
                found.add(by_number[num])
            prev, pending_range = num, False
    return found


def _marked_refs(sentence: str, order: Mapping[str, int], ids: list[str]) -> set[str]:
    """Figure ids whose marker is in ``sentence``, with ranges between two markers expanded."""
    marks = list(MARK_RE.finditer(sentence))
    found = {m.group(1) for m in marks}
    for a, b in zip(marks, marks[1:]):
        between = strip_marks(sentence[a.end():b.start()])
        # "2--4": the printed number of a, then a dash, then b's marker
        if re.fullmatch(r"\s*" + NUMBER + r"[a-z]?\)?\s*(?:\u2013|\u2014|-{1,3}|to|through)\s*", between):
            i, j = order.get(a.group(1)), order.get(b.group(1))
            if i is not None and j is not None and i < j:
                found.update(ids[i:j + 1])
    return found


_MARKED_NUMBER = re.compile(MARK_RE.pattern + r"((?:[A-Za-z]+\.?[\s\u00a0~]+){0,3})(" + NUMBER + r")")


def _unshadowed(sentence: str, by_number: Mapping[str, str]) -> tuple[str, Mapping[str, str]]:
    """The sentence's plain text for :func:`_printed_refs`, with each marked number that prints
    another figure's number ("Figure 1" marked for Extended Data Fig. 1, when the paper's own
    Figure 1 is also "1") replaced by a token of the marked figure: markup says which one it is."""
    extra: dict[str, str] = {}

    def swap(m: re.Match) -> str:
        fid, number = m.group(1), m.group(3)
        if by_number.get(number, fid) == fid:
            return m.group(2) + number
        token = f"Z{90000 + len(extra)}"
        extra[token] = fid
        return m.group(2) + token

    text = " ".join(MARK_RE.sub("", _MARKED_NUMBER.sub(swap, sentence)).split())
    return text, ({**by_number, **extra} if extra else by_number)


#: A sentence that is only a bracketed reference ("(Figure 2\u2014figure supplement 1 and 2)."), the full
#: stop typed before it ("... absence of ADPR. (Figure 2...)."): it belongs to the sentence before.
_ONLY_BRACKETED = re.compile(r"\((?:[^()]|\([^()]*\))*\)[.;,]?")


def _citing_units(para: str) -> list[str]:
    """The sentences of ``para``, a bracketed reference standing alone joined to the sentence before it."""
    out: list[str] = []
    for sentence in split_sentences(para):
        if out and _ONLY_BRACKETED.fullmatch(strip_marks(sentence)):
            out[-1] += " " + sentence
        else:
            out.append(sentence)
    return out


def cap(sentence: str, max_chars: int) -> str:
    """``sentence`` cut to at most ``max_chars`` characters at a word boundary (with an ellipsis)."""
    if len(sentence) <= max_chars:
        return sentence
    cut = sentence[: max_chars - 1]
    if " " in cut[max_chars // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "\u2026"


def find_citations(
    paragraphs: Iterable[str],
    numbers: Optional[Mapping[str, str]] = None,
    *,
    figure_ids: Optional[Iterable[str]] = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_sentences: int = DEFAULT_MAX_SENTENCES,
) -> dict[str, Contexts]:
    """The citing sentences of every figure (see the module docstring).

    ``numbers`` maps figure id -> printed number ("3", "S2"), in figure order; it enables plain
    text references and range expansion. ``figure_ids`` restricts the result to those ids
    (default: the ids of ``numbers`` plus every marked id). Every id asked for has an entry.
    """
    numbers = dict(numbers or {})
    ids = list(numbers) if numbers else []
    order = {fid: i for i, fid in enumerate(ids)}
    by_number: dict[str, str] = {}
    for fid, n in numbers.items():  # a number printed twice (a translation's figures): the first figure
        if n:
            by_number.setdefault(str(n), fid)
    wanted = set(figure_ids) if figure_ids is not None else None
    out: dict[str, Contexts] = {fid: Contexts() for fid in (wanted if wanted is not None else ids)}
    seen: dict[str, set[str]] = {}
    for para in paragraphs:
        for sentence in _citing_units(para):
            cited = _marked_refs(sentence, order, ids)
            plain = " ".join(strip_marks(sentence).split())
            if by_number:
                cited |= _printed_refs(*_unshadowed(sentence, by_number))
            if not plain:
                continue
            for fid in sorted(cited, key=lambda f: order.get(f, len(order))):
                if wanted is not None and fid not in wanted:
                    continue
                ctx = out.setdefault(fid, Contexts())
                ctx.count += 1
                norm = plain.casefold()
                if norm in seen.setdefault(fid, set()) or len(ctx.sentences) >= max_sentences:
                    continue
                seen[fid].add(norm)
                ctx.sentences.append(cap(plain, max_chars))
    return out
