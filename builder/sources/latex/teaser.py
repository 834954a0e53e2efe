r"""A teaser figure given in the preamble: ``\teaser{<graphics> \caption{...} \label{...}}``.

IEEE VIS / TVCG (``vgtc.cls``) and Eurographics (``egpubl.cls``) papers give their first figure,
printed above the abstract, as ``\teaser{...}`` before ``\begin{document}``; the classes set its
body as a figure (``\@captype`` figure), numbered 1. Without this the reader, which looks for
floats in the document body only, lost that figure and numbered the next one 1.
"""

from __future__ import annotations

import re

from s1mmalign.builder.sources.latex.syntax import Unbalanced, read_group

_TEASER = re.compile(r"\\teaser\s*(?=\{)")


def teaser_figure(preamble: str) -> str:
    r"""The preamble's ``\teaser{...}`` as a ``figure`` environment to put first in the body, or ""."""
    for m in _TEASER.finditer(preamble):
        try:
            inner, _ = read_group(preamble, m.end())
        except Unbalanced:
            return ""
        if "\\caption" in inner:
            return "\\begin{figure}" + inner + "\\end{figure}\n"
    return ""
