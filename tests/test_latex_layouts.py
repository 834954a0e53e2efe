"""The LaTeX reader on layouts found by a second sweep over 20 real papers and theses
(2026-12-07): graphics named from the root of a \\graphicspath folder."""

from __future__ import annotations

from s1mmalign.builder.sources.latex import PaperFiles, parse_paper
from tests.test_latex_sources import png


def doc(preamble: str, body: str) -> bytes:
    return f"\\documentclass{{report}}{preamble}\\begin{{document}}{body}\\end{{document}}".encode()


def test_a_graphics_name_with_a_leading_slash_is_read_under_the_graphicspath():
    # a thesis (ABMalhotra/PhD-Thesis) writes \includegraphics{/ch2/Fig1.jpg} with \graphicspath{{figures/}}:
    # TeX joins the two as strings (figures//ch2/Fig1.jpg); without a \graphicspath the name stays unread
    body = "\\begin{figure}\\includegraphics{/ch2/Fig1.png}\\caption{A schematic.}\\end{figure}"
    files = {"thesis.tex": doc("\\graphicspath{{figures/}}", body), "figures/ch2/Fig1.png": png(1)}
    assert [f.files for f in parse_paper(PaperFiles(files)).figures] == [["figures/ch2/Fig1.png"]]
    files = {"thesis.tex": doc("", body), "ch2/Fig1.png": png(1)}
    assert [f.files for f in parse_paper(PaperFiles(files)).figures] == [[None]]
