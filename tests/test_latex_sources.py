"""The LaTeX reader on layouts seen in real papers and theses: where the main file is, grouped
file names, a label defined twice (found by a sweep over 30 real sources, 2026-12-07)."""

from __future__ import annotations

import io

from PIL import Image

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.arxiv import paper_records
from s1mmalign.builder.sources.latex import PaperFiles, find_main_tex, parse_paper


def png(seed: int, size=(160, 120)) -> bytes:
    img = Image.new("RGB", size, (255, 255, 255))
    for x in range(size[0]):
        img.putpixel((x, (x * (seed + 1)) % size[1]), (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def fig(name: str, label: str, caption: str) -> str:
    return f"\\begin{{figure}}\\includegraphics{{{name}}}\\caption{{{caption}}}\\label{{{label}}}\\end{{figure}}\n"


def test_the_main_file_is_the_one_that_inputs_the_rest():
    doc = "\\documentclass{book}\\begin{document}\\include{chapters/one}\\end{document}"
    files = {
        "alice.tex": doc.encode(),
        "chapters/one.tex": fig("a", "fig:a", "A plot of the data.").encode(),
        # a larger stand-alone talk beside the thesis, and a larger latexdiff output of the thesis
        "defense-notes.tex": ("\\documentclass{beamer}\\begin{document}" + "Notes. " * 2000 + "\\end{document}").encode(),
        "alice_diff.tex": ("%DIF PREAMBLE EXTENSION\n\\documentclass{book}\\begin{document}\\DIFaddbegin x\\DIFaddend"
                           "\\include{chapters/one}" + " y" * 3000 + "\\end{document}").encode(),
        "a.png": png(1),
    }
    assert find_main_tex(PaperFiles(files)) == "alice.tex"


def test_the_class_or_the_document_may_sit_in_an_input():
    files = {"main.tex": b"\\include{preamble}\\begin{document}" + fig("a", "fig:a", "A plot.").encode() + b"\\end{document}",
             "preamble.tex": b"\\documentclass{report}\\usepackage{graphicx}", "a.png": png(2),
             "figure-test.tex": b"\\documentclass{article}\\begin{document}\\includegraphics{a}\\end{document}"}
    assert find_main_tex(PaperFiles(files)) == "main.tex"
    files = {"thesis.tex": b"\\documentclass{report}\\input{main}", "main.tex": b"\\begin{document}x\\end{document}",
             "test.tex": b"\\documentclass{article}\\begin{document}y\\end{document}"}
    assert find_main_tex(PaperFiles(files)) == "thesis.tex"
    files["00README.json"] = b'{"sources": [{"filename": "test.tex", "usage": "toplevel"}]}'  # arXiv's own choice
    assert find_main_tex(PaperFiles(files)) == "test.tex"


def test_a_makefile_that_inputs_the_paper_is_not_its_main_file():
    # akshayknarayan/bundler-paper: the Makefile's arxiv target runs pdflatex "\\def\\forArxiv{1} \\input{bundler-main.tex}"
    # three times; as a file without extension it could be a TeX file, none inputs it, and it inputs the paper,
    # so it was the main file: the paper three times over (20 figures -> 60, 40 of them without their labels)
    make = b'arxiv:\n\tpdflatex "\\\\def\\\\forArxiv{1} \\\\input{paper.tex}"\n\tpdflatex "\\\\input{paper.tex}"\n'
    files = {"Makefile": make, "paper.tex": f"\\documentclass{{article}}\\begin{{document}}{fig('a', 'fig:a', 'A.')}\\end{{document}}".encode(),
             "a.png": png(1)}
    assert find_main_tex(PaperFiles(files)) == "paper.tex"
    assert [f.label for f in parse_paper(PaperFiles(files)).figures] == ["fig:a"]
    # an arXiv paper that is one file without extension is still read
    assert find_main_tex(PaperFiles({"paper": files["paper.tex"], "a.png": png(1)})) == "paper"


def test_braces_group_a_file_name_with_dots():
    body = fig("{{amr.self-heat}}", "fig:a", "A map.") + fig("{plot.v2}.pdf", "fig:b", "A plot.")
    files = {"main.tex": f"\\documentclass{{article}}\\begin{{document}}{body}\\end{{document}}".encode(),
             "amr.self-heat.png": png(3), "plot.v2.pdf": b"%PDF-1.4"}
    p = parse_paper(PaperFiles(files))
    assert [f.files for f in p.figures] == [["amr.self-heat.png"], ["plot.v2.pdf"]]


def test_a_label_defined_twice_gives_two_figures_their_own_keys_and_images():
    body = (fig("coils_a", "fig:coils", "Coil positions.") + "As Figure~\\ref{fig:coils} shows.\n"
            + fig("coils_b", "fig:coils", "Coil configuration in the appendix."))
    files = PaperFiles({"main.tex": f"\\documentclass{{article}}\\begin{{document}}{body}\\end{{document}}".encode(),
                        "coils_a.png": png(4), "coils_b.png": png(5, (200, 150))})
    rejects = Rejects()
    recs = list(paper_records("2401.00001", files, rejects))
    assert len({r["key"] for r in recs}) == 2 and len(rejects) == 0
    first, second = recs
    assert (first["width"], first["height"]) == (160, 120) and (second["width"], second["height"]) == (200, 150)
    # LaTeX's \ref names the last \label of a key: the earlier figure is known by its number
    assert first["figure_label"] == "Figure 1" and first["citation_contexts"] == []
    assert second["citation_contexts"] == ["As Figure 2 shows."]


def test_a_panel_of_the_earlier_figure_of_a_label_defined_twice_is_that_figures_panel():
    # the figure's \label is reused later, its sub-figure labels are its own: \ref{fig:za} prints "1a"
    sub = "\\begin{subfigure}{.5\\textwidth}\\includegraphics{%s}\\caption{}\\label{%s}\\end{subfigure}"
    body = ("\\begin{figure}" + sub % ("za", "fig:za") + sub % ("zb", "fig:zb") + "\\caption{Landscapes.}\\label{fig:m}"
            + "\\end{figure}\nMultimodal problems are hard (Figure~\\ref{fig:za}).\n" + fig("zc", "fig:m", "Models."))
    files = PaperFiles({"main.tex": f"\\documentclass{{article}}\\usepackage{{subcaption}}\\begin{{document}}{body}"
                        "\\end{document}".encode(), "za.png": png(1), "zb.png": png(2), "zc.png": png(3)})
    recs = list(paper_records("2401.00002", files, Rejects()))
    assert [r["citation_contexts"] for r in recs] == [["Multimodal problems are hard (Figure 1a)."], []]


def test_a_multi_panel_figure_is_at_most_3072_px_on_its_long_side():
    panels = "".join(f"\\includegraphics{{p{i}}}" for i in range(6))
    body = f"\\begin{{figure}}{panels}\\caption{{Six wide panels.}}\\label{{fig:six}}\\end{{figure}}"
    files = {"main.tex": f"\\documentclass{{article}}\\begin{{document}}{body}\\end{{document}}".encode(),
             **{f"p{i}.png": png(i, (1800, 1200)) for i in range(6)}}
    (rec,) = paper_records("2401.00002", PaperFiles(files), Rejects())
    assert rec["multi_panel"] and max(rec["width"], rec["height"]) <= 3072 and rec["width"] > 3000  # 3 per row, scaled down


def test_a_float_without_a_caption_takes_no_number():
    # LaTeX steps the figure counter in \caption: later figures keep the numbers the PDF prints
    body = (fig("a", "fig:a", "First.") + "\\begin{figure}\\includegraphics{logo}\\end{figure}\n"
            + "\\begin{figure}\\includegraphics{b}\\caption{Second.}\\end{figure}\n" + "As Figure 2 shows, it rises.")
    files = PaperFiles({"main.tex": f"\\documentclass{{article}}\\begin{{document}}{body}\\end{{document}}".encode(),
                        "a.png": png(6), "logo.png": png(7), "b.png": png(8)})
    rejects = Rejects()
    recs = list(paper_records("2401.00003", files, rejects))
    assert [(r["figure_label"], r["citation_contexts"]) for r in recs] == [
        ("fig:a", []), ("Figure 2", ["As Figure 2 shows, it rises."])]
    (reject,) = list(rejects)
    assert reject.reason == "no_caption" and "unnumbered figure 1" in reject.detail
    assert reject.key not in {r["key"] for r in recs}


def test_an_input_inside_a_macro_definition_is_no_missing_file():
    # \newcommand{\plotfig}[1]{\input{figs/#1}}: the path is the macro's parameter, not a file of the paper
    doc = ("\\documentclass{article}\\newcommand{\\plotfig}[1]{\\input{figs/#1}}\\begin{document}"
           + fig("a", "fig:a", "A plot.") + "\\input{absent}\\end{document}")
    p = parse_paper(PaperFiles({"main.tex": doc.encode(), "a.png": png(4)}))
    assert [r for r, _ in p.problems] == ["missing_input"]  # only the real one
    assert "absent" in p.problems[0][1]


def test_an_svg_figure_is_named_as_such_and_a_pdf_copy_is_preferred():
    svg = b'<?xml version="1.0"?>\n<!-- Inkscape -->\n<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"></svg>'
    doc = "\\documentclass{article}\\begin{document}" + fig("drawing", "fig:a", "A drawing.") + "\\end{document}"
    rejects = Rejects()
    assert list(paper_records("2401.00006", PaperFiles({"main.tex": doc.encode(), "drawing.svg": svg}), rejects)) == []
    assert [r.reason for r in rejects] == ["svg_not_rendered"]
    files = {"main.tex": doc.encode(), "drawing.svg": svg, "drawing.png": png(5)}  # a raster copy beside it is used
    assert [r["image_path"] for r in paper_records("2401.00006", PaperFiles(files), Rejects())] == ["2401.00006/drawing.png"]


def test_a_git_lfs_pointer_is_named_as_such_whatever_its_file_name():
    # repositories keep figures in Git LFS: a clone without `git lfs pull` holds 130-byte pointers
    pointer = (b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32 + b"\nsize 123456\n")
    for name in ("plot.png", "plot.pdf"):
        doc = "\\documentclass{article}\\begin{document}" + fig("plot", "fig:a", "A plot.") + "\\end{document}"
        rejects = Rejects()
        assert list(paper_records("2401.00007", PaperFiles({"main.tex": doc.encode(), name: pointer}), rejects)) == []
        assert [r.reason for r in rejects] == ["git_lfs_pointer"], name
        assert "git lfs pull" in list(rejects)[0].detail


def test_includegraphics_page_renders_that_page_of_a_multi_page_pdf():
    # one PDF holds every diagram: \includegraphics[page=N] shows page N (it was always page 1)
    pages = [Image.new("RGB", (200 + 40 * k, 100), (255, 255, 255)) for k in range(3)]
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    body = "".join(f"\\begin{{figure}}\\includegraphics[{opt}]{{{name}}}\\caption{{Step {k}.}}\\label{{fig:{k}}}\\end{{figure}}\n"
                   for k, (opt, name) in enumerate([("page=3,width=.9\\linewidth", "diagram.pdf"), ("width=3cm", "diagram"),
                                                    ("page = 2", "diagram")]))
    files = PaperFiles({"main.tex": f"\\documentclass{{article}}\\begin{{document}}{body}\\end{{document}}".encode(),
                        "diagram.pdf": buf.getvalue()})
    assert parse_paper(files).figures[0].pages == [3]
    recs = list(paper_records("2401.00003", files, Rejects()))
    assert [round(r["width"] / r["height"], 1) for r in recs] == [2.8, 2.0, 2.4]
