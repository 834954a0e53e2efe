"""Textual citations as the PDF prints them. natbib's ``\\citet{key}`` is "Jones et al. (1990)",
``\\citealt`` "Jones et al. 1990", ``\\citeauthor`` "Jones et al.", ``\\citeyear`` "1990": read from
the paper's ``.bbl``, where the bibliography style wrote each entry's label
(``\\bibitem[{Jones et~al.}(1990)Jones, Baker, \\& Smith]{key}``). They are words of their sentence
("as shown by \\citet{x}"); a parenthetical ``\\cite``/``\\citep`` is left to be dropped."""

from __future__ import annotations

import posixpath
import re
from typing import Optional

from s1mmalign.builder.sources.latex.files import PaperFiles
from s1mmalign.builder.sources.latex.syntax import Unbalanced, read_args, read_group, skip_space
from s1mmalign.core.limits import limits

_BIBITEM = re.compile(r"\\bibitem\s*(?=\[)")
_TEXTUAL = re.compile(r"\\(citet|citealt|citeauthor|citeyear|Citet|Citealt|Citeauthor|citetalias|citepalias)(?![A-Za-z@])\*?")
_ALIAS = re.compile(r"\\defcitealias\s*\{([^{}]*)\}\s*\{([^{}]*)\}")


def natbib_labels(files: PaperFiles, main: str) -> dict[str, tuple[str, str]]:
    """key -> (authors, year), as LaTeX text, from the ``.bbl`` of ``main`` (else the paper's largest
    ``.bbl``); entries without a natbib author-year label are left out."""
    bbl: Optional[str] = files.lookup(posixpath.splitext(main)[0] + ".bbl")
    if bbl is None:
        candidates = [n for n in files.names() if n.lower().endswith(".bbl")]
        bbl = max(candidates, key=lambda n: len(files.read(n)), default=None)
    if bbl is None:
        return {}
    text, out = files.text(bbl), {}
    for m in _BIBITEM.finditer(text):
        try:
            label, end = read_group(text, m.end(), "[", "]")
            key, _ = read_group(text, skip_space(text, end))
        except Unbalanced:
            break  # a group left open runs to the end of the text: no later one closes (and no quadratic rescans)
        label = label.strip()
        if label.startswith("{") and label.endswith("}"):
            label = label[1:-1]
        found = re.match(r"(.+?)\(([^()]{1,20})\)", label, re.S)  # "Jones et al.(1990)Jones, Baker, and Smith"
        if found:
            out[key.strip()] = (found.group(1).strip(), found.group(2).strip())
    return out


def expand_textual_citations(tex: str, labels: dict[str, tuple[str, str]], defs: str = "") -> str:
    """``tex`` with each textual citation whose keys all have a label printed as natbib prints it (a
    note, ``\\citet[p.~3]{x}``, goes after the year), and ``\\citetalias{x}`` as the
    ``\\defcitealias{x}{B19}`` in ``defs`` (the paper) (``\\citepalias``: "(B19)"); at most
    ``Limits.tex_chars`` characters added."""
    aliases = {k.strip(): v for k, v in _ALIAS.findall(defs)}
    if not labels and not aliases:
        return tex
    tex = _ALIAS.sub("", tex)  # a definition prints nothing
    out, pos, budget = [], 0, limits().tex_chars
    for m in _TEXTUAL.finditer(tex):
        if m.start() < pos:
            continue
        try:
            opts, (keys,), end = read_args(tex, m.end(), 1, 2)
        except Unbalanced:
            break  # a group left open runs to the end of the text: no later one closes (and no quadratic rescans)
        cmd, note = m.group(1).lower(), f", {opts[-1]}" if opts and opts[-1].strip() else ""
        if cmd.endswith("alias"):
            found = [aliases.get(k.strip()) for k in keys.split(",") if k.strip()]
        else:
            found = [labels.get(k.strip()) for k in keys.split(",") if k.strip()]
        if not found or None in found:
            continue
        printed = _printed(cmd, found, note)
        budget -= len(printed)
        if budget < 0:
            break
        out += [tex[pos:m.start()], "{", printed, "}"]
        pos = end
    out.append(tex[pos:])
    return "".join(out)


def _printed(cmd: str, found: list, note: str) -> str:
    """What natbib prints for ``cmd`` with these (authors, year) labels or alias texts."""
    if cmd == "citetalias":
        return "; ".join(found)
    if cmd == "citepalias":
        return "(" + "; ".join(found) + ")"
    if cmd == "citet":
        return "; ".join(f"{a} ({y}{note})" for a, y in found)
    if cmd == "citealt":
        return "; ".join(f"{a} {y}{note}" for a, y in found)
    return ", ".join(a if cmd == "citeauthor" else y for a, y in found)
