"""LaTeX parsing: main file, inputs, figure environments, graphics, captions, references."""

import pytest

from s1mmalign.builder.sources.contexts import find_citations, mark
from s1mmalign.builder.sources.latex import PaperFiles, Unbalanced, find_main_tex, parse_paper, read_group

PNG = b"\x89PNG\r\n\x1a\n"  # names are all the parser needs


def paper(tex: str, **files) -> "Paper":  # noqa: F821
    return parse_paper(PaperFiles({"main.tex": tex.encode(), **{k.replace("__", "/").replace("_DOT_", "."): v for k, v in files.items()}}))


def doc(body: str, preamble: str = "") -> str:
    return f"\\documentclass{{article}}\n{preamble}\n\\begin{{document}}\n{body}\n\\end{{document}}\n"


def test_main_file_is_the_one_with_documentclass():
    files = PaperFiles({
        "a_sections.tex": b"\\section{x} text",
        "old.tex": b"% \\documentclass{article}\n just a comment",
        "paper.tex": b"\\documentclass{article}\\begin{document}hi\\end{document}",
        "supp/appendix.tex": b"\\documentclass{article} no body",
    })
    assert find_main_tex(files) == "paper.tex"
    assert find_main_tex(PaperFiles({"x.tex": b"no class here"})) is None
    assert parse_paper(PaperFiles({"x.tex": b"plain"})).problems[0][0] == "no_main_tex"


def test_inputs_followed_with_recursion_guard_and_missing_files():
    files = PaperFiles({
        "main.tex": doc("\\input{sec/a}\n\\include{b}\n\\input{missing}\n\\input c.tex\n").encode(),
        "sec/a.tex": b"\\begin{figure}\\includegraphics{f1}\\caption{From a.}\\label{fig:a}\\end{figure}\\input{sec/a}",
        "b.tex": b"\\input{sec/b2}",
        "sec/b2.tex": b"\\input{b}\\begin{figure}\\includegraphics{f2}\\caption{From b2.}\\end{figure}",
        "c.tex": b"See Fig.~\\ref{fig:a}.",
        "f1.png": PNG, "f2.png": PNG,
    })
    p = parse_paper(files)
    assert [f.caption for f in p.figures] == ["From a.", "From b2."]
    reasons = [r for r, _ in p.problems]
    assert reasons.count("recursive_input") == 2 and "missing_input" in reasons
    assert any("main.tex -> sec/a.tex -> sec/a.tex" in d for _, d in p.problems)
    assert find_citations(p.paragraphs, p.numbers())["fig:a"].sentences == ["See Fig. 1."]


def test_figure_environments_and_subfigures():
    body = r"""
\begin{figure}\includegraphics[width=3cm]{one}\caption{One.}\label{fig:one}\end{figure}
\begin{figure*}[t]\centering\includegraphics{two.pdf}\caption{Two.}\label{fig:two}\end{figure*}
\begin{wrapfigure}{r}{0.4\textwidth}\includegraphics{three}\caption{Three.}\label{fig:three}\end{wrapfigure}
\begin{figure}
 \begin{subfigure}{0.4\linewidth}\includegraphics{4a}\caption{Left}\label{fig:4a}\end{subfigure}
 \begin{subfigure}{0.4\linewidth}\includegraphics{4b}\caption{Right}\label{fig:4b}\end{subfigure}
 \caption{Four, with panels.}\label{fig:four}
\end{figure}
\begin{figure}\subfloat[Top]{\includegraphics{5a}}\subfloat[Bottom]{\includegraphics{5b}\label{fig:5b}}
 \caption{Five.}\label{fig:five}\end{figure}
\begin{figure}\subcaptionbox{Only panel\label{fig:6a}}{\includegraphics{6a}}\end{figure}
\begin{table}\caption{A table.}\label{tab:t}\begin{tabular}{c}1\end{tabular}\end{table}
Panels \ref{fig:4b} and \ref{fig:5b}; \subref{fig:4a}; \cref{fig:6a}; table \ref{tab:t}.
"""
    names = ["one.png", "two.pdf", "three.jpg", "4a.png", "4b.eps", "5a.png", "5b.png", "6a.png"]
    p = parse_paper(PaperFiles({"main.tex": doc(body).encode(), **{n: PNG for n in names}}))
    figs = [f for f in p.figures if not f.is_table]
    assert [(f.index, f.label, f.caption) for f in figs] == [
        (1, "fig:one", "One."), (2, "fig:two", "Two."), (3, "fig:three", "Three."),
        (4, "fig:four", "Four, with panels."), (5, "fig:five", "Five."), (6, None, "Only panel"),
    ]
    assert [f.files for f in figs] == [["one.png"], ["two.pdf"], ["three.jpg"], ["4a.png", "4b.eps"], ["5a.png", "5b.png"], ["6a.png"]]
    assert figs[3].subcaptions == ["Left", "Right"] and figs[3].sublabels == ["fig:4a", "fig:4b"]
    assert figs[5].sublabels == ["fig:6a"]
    assert p.figures[-1].is_table and p.figures[-1].caption == "A table."
    c = find_citations(p.paragraphs, p.numbers())
    sentence = ["Panels 4b and 5b; (a); Fig. 6a; table 1."]
    assert c["fig:four"].sentences == c["fig:five"].sentences == c["figure6"].sentences == sentence
    assert c["fig:one"].sentences == []


def test_graphics_resolution_extensions_graphicspath_and_case():
    body = r"""
\begin{figure}\includegraphics{plot}\caption{a}\end{figure}
\begin{figure}\includegraphics{./img/Photo.JPG}\caption{b}\end{figure}
\begin{figure}\includegraphics{old.eps}\caption{c}\end{figure}
\begin{figure}\includegraphics{"with space"}\caption{d}\end{figure}
\begin{figure}\includegraphics{../../etc/passwd}\caption{e}\end{figure}
\begin{figure}\epsfig{file=legacy,width=3cm}\caption{f}\end{figure}
\begin{figure}\includegraphics{nowhere}\caption{g}\end{figure}
"""
    files = {"main.tex": doc(body, "\\graphicspath{{figs/}{img/}}").encode(), "figs/plot.pdf": PNG, "img/photo.jpg": PNG,
             "old.pdf": PNG, "with space.png": PNG, "figs/legacy.eps": PNG}
    p = parse_paper(PaperFiles(files))
    assert [f.files for f in p.figures] == [["figs/plot.pdf"], ["img/photo.jpg"], ["old.pdf"], ["with space.png"], [None],
                                            ["figs/legacy.eps"], [None]]


def test_import_inlines_a_file_whose_graphics_are_named_from_its_own_folder():
    # the import package (\import{dir/}{file}, \subimport, \inputfrom): how Inkscape's and xfig's exports
    # (drawing.pdf_tex, .pspdftex) go in, their \includegraphics naming a file beside them. It was no input:
    # the figure was a no_graphics reject. A \graphicspath in the text is a setting, never words.
    body = (r"\begin{figure}\scalebox{.6}{\import{figures/}{octagon.pspdftex}}\caption{Octagon.}\end{figure}"
            r"\begin{figure}\subimport*{figs/}{drawing.pdf_tex}\caption{Drawing.}\end{figure}"
            r"Text \graphicspath{{more/}} goes on.")
    files = {"main.tex": doc(body).encode(), "figures/octagon.pspdftex": rb"\begin{picture}(0,0)\includegraphics{octagon_pspdftex}\end{picture}",
             "figures/octagon_pspdftex.pdf": PNG, "figs/drawing.pdf_tex": rb"\put(0,0){\includegraphics[width=\unitlength,page=1]{drawing.pdf}}",
             "figs/drawing.pdf": PNG}
    p = parse_paper(PaperFiles(files))
    assert [(f.caption, f.files) for f in p.figures] == [("Octagon.", ["figures/octagon_pspdftex.pdf"]), ("Drawing.", ["figs/drawing.pdf"])]
    assert p.paragraphs == ["Text goes on."]


def test_graphics_macro_defined_by_the_paper():
    tex = doc(r"\begin{figure}\myfig{0.5}{data}\caption{Macro figure.}\end{figure}",
              r"\newcommand{\myfig}[2]{\includegraphics[width=#1\linewidth]{#2}}")
    p = parse_paper(PaperFiles({"main.tex": tex.encode(), "data.png": PNG}))
    assert p.figures[0].files == ["data.png"]


def test_caption_with_short_form_macros_and_label_inside():
    tex = doc(r"\begin{figure}\includegraphics{a}\caption[Short]{Long $\Jp$ with \method{} and \ref{fig:x}.\label{fig:x}}\end{figure}",
              r"\newcommand{\Jp}{J^{\prime}}\def\method{SpaMix}")
    f = parse_paper(PaperFiles({"main.tex": tex.encode(), "a.png": PNG})).figures[0]
    assert f.caption == "Long J′ with SpaMix and 1." and f.label == "fig:x"


def test_problems_unbalanced_braces_no_caption_empty_caption():
    body = r"""
\begin{figure}\includegraphics{a}\caption{Broken {caption}\label{fig:bad}\end{figure}
\begin{figure}\includegraphics{b}\label{fig:nocap}\end{figure}
\begin{figure}\includegraphics{c}\caption{\label{fig:empty}}\end{figure}
\begin{figure}\includegraphics{d}\caption{Fine.}\end{figure}
"""
    p = parse_paper(PaperFiles({"main.tex": doc(body).encode(), **{f"{c}.png": PNG for c in "abcd"}}))
    assert [f.problem[0] if f.problem else None for f in p.figures] == ["unbalanced_braces", "no_caption", "empty_caption", None]
    assert ("unbalanced_braces" in [r for r, _ in p.problems])
    # LaTeX steps the figure counter in \caption: the float without one takes no number
    assert p.figures[3].caption == "Fine." and p.figures[3].index == 3
    assert p.figures[1].unnumbered == 1 and p.numbers() == {"fig:bad": "1", "fig:empty": "2", "figure3": "3"}


def test_comments_verbatim_and_iffalse_are_ignored():
    body = r"""
% \begin{figure}\includegraphics{x}\caption{Commented.}\end{figure}
\iffalse \begin{figure}\includegraphics{y}\caption{Dead.}\end{figure} \fi
\begin{verbatim} \begin{figure}\caption{Verbatim.}\end{figure} \end{verbatim}
\begin{figure}\includegraphics{z}\caption{Real 100\% figure.}\end{figure}
"""
    p = parse_paper(PaperFiles({"main.tex": doc(body).encode(), "z.png": PNG}))
    assert [f.caption for f in p.figures] == ["Real 100% figure."]


def test_every_reference_kind_marks_its_figure():
    body = r"""
\begin{figure}\includegraphics{a}\caption{A.}\label{fig:a}\end{figure}
\begin{figure}\includegraphics{b}\caption{B.}\label{fig:b}\end{figure}
\begin{figure}\includegraphics{c}\caption{C.}\label{fig:c}\end{figure}
First Fig.~\ref{fig:a}. Then \cref{fig:b}. Then \Cref{fig:c}. Then \autoref{fig:a}.
Ranges \crefrange{fig:a}{fig:c} agree. Figs.~\ref{fig:a}--\ref{fig:c} too. Hard-coded Fig. 2b as well.
"""
    p = parse_paper(PaperFiles({"main.tex": doc(body).encode(), **{f"{c}.png": PNG for c in "abc"}}))
    c = find_citations(p.paragraphs, p.numbers())
    assert c["fig:a"].sentences == ["First Fig. 1.", "Then Figure 1.", "Ranges Figs. 1–3 agree.", "Figs. 1–3 too."]
    assert c["fig:b"].sentences == ["Then Fig. 2.", "Ranges Figs. 1–3 agree.", "Figs. 1–3 too.", "Hard-coded Fig. 2b as well."]
    assert c["fig:c"].sentences == ["Then Figure 3.", "Ranges Figs. 1–3 agree.", "Figs. 1–3 too."]


def test_title_and_abstract():
    tex = doc(r"\title[Short]{A \emph{Title} with $\alpha$}\begin{abstract} We \textbf{study} things. \end{abstract}")
    p = parse_paper(PaperFiles({"main.tex": tex.encode()}))
    assert p.title == "A Title with α" and p.abstract == "We study things."


def test_the_title_is_the_last_one_given_before_maketitle():
    # CarstenRobens/Quantum-Speed-Limit: a draft title list, then the title; \title defines, \maketitle prints the
    # last one (a supplement's \title after \maketitle is not the paper's)
    tex = doc(r"\title{Draft one\\ Draft two}\title{The Real Title}\maketitle Text.\title{Supplement}\maketitle")
    assert parse_paper(PaperFiles({"main.tex": tex.encode()})).title == "The Real Title"
    tex = doc(r"\title{Only}\title{Then this}")  # no \maketitle (a class that prints it itself)
    assert parse_paper(PaperFiles({"main.tex": tex.encode()})).title == "Then this"


def test_read_group_escapes_and_unbalanced():
    assert read_group(r"{a \{ b \} {c}} rest", 0) == (r"a \{ b \} {c}", 15)
    with pytest.raises(Unbalanced):
        read_group("{never closed", 0)


def test_brace_check_counts_line_breaks_before_a_brace_as_braces():
    """``\\\\}`` is a line break then a closing brace, not an escaped brace: no false reject."""
    tex = doc(r"\begin{figure}\includegraphics{a}\caption{Set $\{x\}$.}\end{figure}", r"\newcommand{\NL}{\mbox{}\\}")
    p = paper(tex, a_DOT_png=PNG)
    assert p.problems == [] and p.figures[0].caption == "Set {x}."
    broken = paper(doc(r"\newcommand{\NL}{\mbox{}\\}} \{"))
    assert broken.problems == [("unbalanced_braces", "6 '{' vs 7 '}' in main.tex and its inputs")]


def test_macros_with_arguments_and_the_papers_own_packages():
    """Reference macros from the preamble (\\def with #1) and from a .sty in the paper's folder
    (loaded by \\usepackage, also through \\RequirePackage) print "Figure 1", not the label key."""
    thesis_sty = rb"""\RequirePackage{thesis}\RequirePackage{more}
\newcommand{\figref}[1]{\hyperref[#1]{Figure \ref*{#1}}}
\newcommand{\Pes}{\emph{Physarum} elements\@\xspace}
\renewcommand{\P}{\textit{P.~polycephalum}\@\xspace}"""
    more_sty = rb"\DeclareSIUnit\magab{mag}\newcommand\degr{\ifmmode^\circ\else$^\circ$\fi}"
    preamble = r"\usepackage[utf8]{inputenc}\usepackage{amsmath, thesis}\def\eq#1{{Eq.~(\ref{#1})}}"
    body = r"""
\begin{figure}\includegraphics{a}\caption{Diamond of \Pes in \P, \SI{3}{\magab} at 5\degr.}\label{fig:graph}\end{figure}
\begin{equation}x\label{eq:x}\end{equation}

The network is drawn in \figref{fig:graph}. It follows \eq{eq:x}. Again \Fref{fig:graph} and \fref{fig:graph}.
An undefined \myfigref{fig:graph} prints its number.
"""
    p = paper(doc(body, preamble), a_DOT_png=PNG, thesis_DOT_sty=thesis_sty, more_DOT_sty=more_sty)
    assert p.figures[0].caption == "Diamond of Physarum elements in P. polycephalum, 3 mag at 5°."
    assert find_citations(p.paragraphs, p.numbers())["fig:graph"].sentences == [
        "The network is drawn in Figure 1.", "Again Figure 1 and figure 1.", "An undefined 1 prints its number."]
    assert "It follows Eq. (1)." in " ".join(p.paragraphs)


def test_an_algorithm_in_a_figure_takes_no_figure_number():
    body = r"""
\begin{figure}\begin{minipage}{.7\linewidth}\begin{algorithm}[H]\caption{Search}\label{alg:s}
  \begin{algorithmic}\State x\end{algorithmic}\end{algorithm}\end{minipage}\end{figure}
\begin{algorithm}\caption{Second}\label{alg:t}\end{algorithm}
\begin{figure}\includegraphics{a}\caption{Real.}\label{fig:a}\end{figure}
Algorithms \ref{alg:s} and \ref{alg:t}; \cref{alg:t}; Figure \ref{fig:a}.
"""
    p = paper(doc(body), a_DOT_png=PNG)
    assert [(f.index, f.caption) for f in p.figures] == [(1, "Real.")]
    assert p.paragraphs[-1] == f"Algorithms 1 and 2; Algorithm 2; Figure {mark('fig:a')}1."


def test_continued_float_is_the_same_figure():
    body = r"""
\begin{figure}\subfloat[\label{fig:1a}]{\includegraphics{a}}\subfloat[B]{\includegraphics{b}}\caption{First.}\label{fig:one}\end{figure}
\begin{figure}\ContinuedFloat\subfloat[\label{fig:1c}]{\includegraphics{c}}\subfloat[]{\includegraphics{d}}\caption{\textit{continued}}\end{figure}
\begin{figure}\includegraphics{e}\caption{Second.}\label{fig:two}\end{figure}
Panels \ref{fig:1a} and \ref{fig:1c}; then Figure~\ref{fig:two}.
"""
    p = paper(doc(body), **{f"{c}_DOT_png": PNG for c in "abcde"})
    assert [(f.index, f.caption, f.files) for f in p.figures] == [
        (1, "First.", ["a.png", "b.png", "c.png", "d.png"]), (2, "Second.", ["e.png"])]
    assert p.figures[0].sublabels == ["fig:1a", "fig:1c"] and p.figures[0].subcaptions == ["B"]
    c = find_citations(p.paragraphs, p.numbers())
    assert c["fig:one"].sentences == ["Panels 1a and 1c; then Figure 2."] and c["fig:two"].sentences == c["fig:one"].sentences


def test_sub_captions_that_hold_only_a_label_give_no_caption():
    body = r"""
\begin{figure}\subfloat[\label{fig:x}]{\includegraphics{a}}\subfloat[Right]{\includegraphics{b}}\end{figure}
\begin{figure}\subfloat[\label{fig:y}]{\includegraphics{a}}\subfloat[]{\includegraphics{b}}\end{figure}
"""
    p = paper(doc(body), a_DOT_png=PNG, b_DOT_png=PNG)
    assert [(f.caption, f.problem[0] if f.problem else None) for f in p.figures] == [("Right", None), ("", "no_caption")]
