"""Sentence splitting, one rule for every side: citation contexts, caption fitting, scoring, fusion.

Text may carry invisible figure markers (:func:`mark`) put there by the paper readers; they
never end a sentence and are ignored when deciding one.
"""

from __future__ import annotations

import re

MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
MARK_RE = re.compile(f"{MARK_OPEN}([^{MARK_CLOSE}]*){MARK_CLOSE}")


def mark(figure_id: str) -> str:
    """An invisible marker naming ``figure_id``; put it just before the printed reference."""
    return f"{MARK_OPEN}{figure_id}{MARK_CLOSE}"


def strip_marks(text: str) -> str:
    return MARK_RE.sub("", text)


_ABBREVIATIONS = {
    "fig", "figs", "eq", "eqs", "eqn", "eqns", "ref", "refs", "sec", "secs", "tab", "tabs", "no", "nos",
    "vs", "cf", "al", "etc", "e.g", "i.e", "approx", "resp", "ch", "chap", "app", "dr", "prof", "mr", "mrs",
    "ms", "st", "vol", "pp", "p", "ed", "eds", "suppl", "supp", "sect", "thm", "lem", "prop", "def", "viz",
    "ca", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "inc", "ltd",
}
# A candidate boundary: end punctuation (+ closing quotes/brackets, + a citation set right after
# it: ".[12]", ".[ \u2078\u2079 ]", ".\u00b9\u00b2"), then space, then what can start a sentence (capital,
# digit, opening bracket/quote, a marker, or a word such as "miRNAs", "pH", "iPSCs").
_BOUNDARY = re.compile(r"([.!?][\"')\]\u201d\u2019]*(?:\[[^\[\]]{0,40}\]|[\u00b9\u00b2\u00b3\u2070-\u2079,\u2013-]+)?)\s+"
                       r"(?=[A-Z0-9(\[\"\u201c\u2018" + MARK_OPEN + r"]|[a-z]{1,3}[A-Z])")
_WORD_BEFORE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z.]*)$")


def split_sentences(text: str) -> list[str]:
    """Split plain text into sentences (abbreviations such as "Fig.", "et al.", "e.g." kept inside)."""
    text = " ".join(text.split())
    out, start = [], 0
    for m in _BOUNDARY.finditer(text):
        if m.group(1)[0] == ".":
            before = strip_marks(text[start:m.start()])
            w = _WORD_BEFORE.search(before)
            word = w.group(1).rstrip(".") if w else ""
            initial = len(word) == 1 and word.isupper() and (w.start() == 0 or before[w.start() - 1] in " (")
            if word.lower() in _ABBREVIATIONS or initial:
                continue  # "Fig. 2", "et al. Smith", "J. Smith", "e.g. X"
        out.append(text[start:m.end(1)].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]
