"""The LaTeX reader on layouts found by a second sweep over 25 real papers and theses
(2026-12-07): graphics named from the root of a \\graphicspath folder, labels and hidden
figures in user macros, class markup (jss.cls, \\@startsection headings), line breaks,
subfiles and path macros, conditionals (\\ifthenelse, \\newif), comment lines, code chunks,
renewed reference commands."""

from __future__ import annotations

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.arxiv import paper_records
from s1mmalign.builder.sources.contexts import find_citations, strip_marks
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


def test_a_label_in_a_user_macro_names_its_figure_and_a_macro_that_prints_nothing_hides_one():
    # dfm/celerite: \figurelabel{sho} is \label{fig:sho}, cited as \Figure{sho}; no figure had its label or a
    # citing sentence. MAYHEM-Lab/STOIC_SOCC_Paper: two draft figures inside \ignore{...} are not in the PDF.
    preamble = ("\\newcommand{\\figurelabel}[1]{\\label{fig:#1}}\\newcommand{\\Figure}[1]{Figure~\\ref{fig:#1}}"
                "\\newcommand{\\ignore}[1]{}")
    body = ("\\begin{figure}\\includegraphics{a}\\caption{The power spectrum.\\figurelabel{sho}}\\end{figure}\n"
            "\\ignore{\\begin{figure}\\includegraphics{b}\\caption{A draft.\\label{fig:draft}}\\end{figure}}\n"
            "\\begin{figure}\\includegraphics{c}\\caption{The error.\\figurelabel{error}}\\end{figure}\n"
            "\\Figure{sho} shows the spectrum. \\Figure{error} shows the error.")
    files = {"ms.tex": doc(preamble, body), "a.png": png(1), "b.png": png(2), "c.png": png(3)}
    p = parse_paper(PaperFiles(files))
    assert [(f.index, f.label, f.caption) for f in p.figures] == [(1, "fig:sho", "The power spectrum."),
                                                                  (2, "fig:error", "The error.")]
    recs = list(paper_records("2401.00004", PaperFiles(files), Rejects()))
    assert [r["citation_contexts"] for r in recs] == [["Figure 1 shows the spectrum."], ["Figure 2 shows the error."]]


def test_the_journal_of_statistical_software_markup_reads_as_its_words():
    # eggplantbren/DNest4 (jss.cls): \code sets catcodes then reads its argument, \pkg selects a bold
    # series; captions read "`_@makeother$RJObject'" and "b Daft"
    cls = ("\\newcommand\\code{\\bgroup\\@makeother\\_\\@makeother\\~\\@makeother\\$\\@codex}"
           "\\def\\@codex#1{{\\normalfont\\ttfamily\\hyphenchar\\font=-1 #1}\\egroup}"
           "\\newcommand{\\pkg}[1]{{\\fontseries{b}\\selectfont #1}}")
    body = ("\\begin{figure}\\includegraphics{a}\\caption{The prior the `\\code{RJObject}' class expresses. "
            "Figure created using \\pkg{Daft}.}\\end{figure}")
    files = {"ms.tex": "\\documentclass{jss}\\begin{document}" + body + "\\end{document}", "jss.cls": cls}
    files = {k: v.encode() for k, v in files.items()} | {"a.png": png(1)}
    (f,) = parse_paper(PaperFiles(files)).figures
    assert f.caption == "The prior the `RJObject' class expresses. Figure created using Daft."


def test_a_heading_with_markup_in_its_title_is_no_part_of_the_text():
    # eggplantbren/DNest4 (jss.cls: \section is \secdef\jsssec\jsssecnn): "\section[Finite mixture models with the
    # `RJObject' class]{... `\code{RJObject}' class}" ran into the paragraph as "defaultSection..default section.
    # [Finite ...]Finite ..."; elsarticle.cls and llncs.cls (\@startsection) gave "section1 18 6 3 12.2 The X model"
    cls = ("\\def\\section{\\@startsection{section}{1}{\\z@}{18pt}{6pt}{\\bfseries}}"
           "\\newcommand{\\jsssec}[2][default]{\\pdfbookmark[1]{#1}{Section.\\thesection.#1}\\textbf{#2}}"
           "\\renewcommand{\\subsection}{\\secdef \\jsssec \\jsssec}")
    body = ("\\section{The \\emph{X} model}\\label{s}The model rises. "
            "\\subsection[Using the class]{Using the `\\code{RJObject}' class} It has parts.")
    files = {"ms.tex": ("\\documentclass{jss}\\begin{document}" + body + "\\end{document}").encode(), "jss.cls": cls.encode()}
    assert parse_paper(PaperFiles(files)).paragraphs == ["The model rises.", "It has parts."]


def test_a_macro_that_repeats_its_argument_cannot_blow_up_the_text():
    from s1mmalign.builder.sources.latex.structure import expand_structural_macros
    from s1mmalign.builder.sources.latex.text import Macro
    from s1mmalign.core.limits import limits

    big = "x" * (limits().tex_chars // 8)
    out = expand_structural_macros("\\m{" + big + "}", {"m": Macro(1, None, "\\label{a}" + "#1" * 100)})
    assert len(out) <= limits().tex_chars


def test_a_subfiles_paper_with_its_paths_in_macros():
    # econ-ark/BufferStockTheory: the main file \subfile's its parts, each a whole document of class subfiles
    # (one not included, Tables-All.tex, was taken for the main file: 0 figures), and names files through
    # path macros set in an input: \input{\FigDir/cFuncBounds}, \includegraphics{\FigDir/cFuncBounds}
    main = ("\\input{./.econtexRoot}\\documentclass{econark}\\input{@local/dir-paths}\\begin{document}"
            "\\subfile{Introduction}\\subfile{Body}\\end{document}")
    part = "\\documentclass[BufferStockTheory]{subfiles}\\begin{document}@\\end{document}"
    files = {"BufferStockTheory.tex": main, ".econtexRoot.tex": "\\providecommand{\\econtexRoot}{}\\renewcommand{\\econtexRoot}{.}",
             "@local/dir-paths.tex": "\\providecommand{\\FigDir}{}\\renewcommand{\\FigDir}{\\econtexRoot/Figures}",
             "Introduction.tex": part.replace("@", "We study saving. \\autoref{fig:bounds} shows the bounds."),
             "Body.tex": part.replace("@", "\\renewcommand{\\figFile}{cFuncBounds}\\input{\\FigDir/\\figFile}"),
             "Figures/cFuncBounds.tex": "\\begin{figure}\\includegraphics{\\FigDir/cFuncBounds}\\caption{Upper and lower bounds.}"
                                        "\\label{fig:bounds}\\end{figure}",
             "Tables-All.tex": "\\documentclass[BufferStockTheory]{subfiles}\\begin{document}\\input{Tables/a}\\input{Tables/b}"
                               "\\input{Tables/c}\\input{Tables/d}\\input{Tables/e}\\end{document}",
             **{f"Tables/{t}.tex": "\\begin{table}\\caption{Parameters.}\\end{table}" for t in "abcde"}}
    files = {k: v.encode() for k, v in files.items()} | {"Figures/cFuncBounds.png": png(1)}
    p = parse_paper(PaperFiles(files))
    assert p.main == "BufferStockTheory.tex" and not p.problems
    assert [(f.label, f.files) for f in p.figures] == [("fig:bounds", ["Figures/cFuncBounds.png"])]
    (rec,) = paper_records("2401.00005", PaperFiles(files), Rejects())
    assert rec["citation_contexts"] == ["Figure 1 shows the bounds."]


def test_a_line_that_is_only_a_comment_does_not_end_the_paragraph():
    # hkujy/BusBunchingCaspt: "... deviate from the undisturbed trajectories\n% (exceeding the 1 s threshold)\n
    # as shown in Fig.~\ref{fig:range}." gave the citing sentence "as shown in Fig. 1."; 467 false paragraph
    # breaks over both sweeps (thesis-153957: 88)
    body = ("\\begin{figure}\\includegraphics{a}\\caption{Delayed buses.}\\label{fig:range}\\end{figure}\n"
            "A delay reaches 56 bus arrivals\n  % (exceeding the 1 s threshold value we set).\nas shown in Fig.~\\ref{fig:range}.\n"
            "% a note\n\nNext paragraph.")
    files = PaperFiles({"main.tex": doc("", body), "a.png": png(1)})
    (rec,) = paper_records("2401.00006", files, Rejects())
    assert rec["citation_contexts"] == ["A delay reaches 56 bus arrivals as shown in Fig. 1."]
    assert parse_paper(files).paragraphs[-1] == "Next paragraph."


def test_ifthenelse_on_a_boolean_keeps_the_branch_latex_takes():
    # econ-ark/BufferStockTheory: each figure file holds \ifthenelse{\boolean{Web}}{<png float>}{<pdf float>} with
    # \setboolean{Web}{false}; both were read, the second with the label an exact duplicate of the first
    preamble = "\\usepackage{ifthen}\\provideboolean{Web}\\setboolean{Web}{false}\\newboolean{draft}"
    flt = "\\begin{{figure}}\\includegraphics{{{0}}}\\caption{{{1}}}{2}\\end{{figure}}"
    body = ("\\ifthenelse{\\boolean{Web}}{" + flt.format("a", "Web version.", "") + "}{"
            + flt.format("b", "Print version.", "\\label{fig:target}") + "}\n"
            "\\ifthenelse{\\not\\boolean{draft}}{" + flt.format("c", "Final.", "") + "}{}\n"
            "\\ifthenelse{\\equal{\\x}{y}}{" + flt.format("a", "Kept: not a boolean.", "") + "}{}")
    files = {"ms.tex": doc(preamble, body), "a.png": png(1), "b.png": png(2), "c.png": png(3)}
    figures = parse_paper(PaperFiles(files)).figures
    assert [(f.label, f.caption) for f in figures] == [("fig:target", "Print version."), (None, "Final."),
                                                       (None, "Kept: not a boolean.")]


def test_a_newif_flag_keeps_the_branch_latex_takes_and_a_cut_line_leaves_no_blank():
    # asvc (sweep 1): \newif\ifCameraReady, \ifCameraReady\NotCameraReadyfalse\else\NotCameraReadytrue\fi, then
    # \cref{a\ifNotCameraReady,b\fi} read "see ?, 2, ?" and both versions of each passage were text
    preamble = ("\\newif\\ifCameraReady\n\\newif\\ifNotCameraReady\n"
                "\\ifCameraReady\\NotCameraReadyfalse\\else\\NotCameraReadytrue\\fi\n")
    body = ("\\begin{figure}\\includegraphics{a}\\caption{Sizes.}\\label{fig:a}\\end{figure}\n"
            "We compare sizes ($a \\iff b$)\n\\ifCameraReady\nin short.\n\\else\n"
            "in full\\ifNotCameraReady{} (see Figure~\\ref{fig:a})\\fi.\n\\fi\nThen we conclude.")
    files = PaperFiles({"main.tex": doc(preamble, body), "a.png": png(1)})
    (rec,) = paper_records("2401.00007", files, Rejects())
    assert rec["citation_contexts"] == ["We compare sizes (a ⟺ b) in full (see Figure 1)."]
    assert parse_paper(files).paragraphs[-1].endswith("Then we conclude.")  # one paragraph: no line left blank


def test_a_code_chunk_of_the_journal_of_statistical_software_is_no_text():
    # eggplantbren/DNest4: C++ in \begin{CodeChunk}\begin{CodeInput} ... \end{CodeInput} was read as text, its
    # unmatched braces reported the paper as 'unbalanced_braces' (828 '{' vs 826 '}')
    body = ("We define the model class.\n\\begin{CodeChunk}\n\\begin{CodeInput}\nclass MyModel {\n  void from_prior(RNG& rng)"
            " { if (x) {\n\\end{CodeInput}\n\\end{CodeChunk}\nIt has two methods.\n\n\\begin{Sinput}\n> f <- function(x) {\n"
            "\\end{Sinput}\nDone.")
    p = parse_paper(PaperFiles({"ms.tex": doc("", body)}))
    assert p.problems == [] and p.paragraphs == ["We define the model class. It has two methods.", "Done."]


def test_a_paper_that_renews_a_reference_command_is_read_with_its_own():
    # dfm/celerite: \renewcommand{\eqref}[1]{\ref{eq:#1}} with \Eq{x} = Equation~(\eqref{x}): the Converter's own
    # \eqref looked up "x" and printed "Equation ((?))" 66 times; a \newcommand of it stays the Converter's
    preamble = ("\\renewcommand{\\eqref}[1]{\\ref{eq:#1}}\\newcommand{\\Eq}[1]{Equation~(\\eqref{#1})}"
                "\\newcommand{\\eqlabel}[1]{\\label{eq:#1}}")
    body = ("\\begin{equation}\\eqlabel{psd} S(\\omega) = S_0\\end{equation}\n"
            "\\begin{figure}\\includegraphics{a}\\caption{The spectrum of \\Eq{psd}.}\\end{figure}")
    (f,) = parse_paper(PaperFiles({"ms.tex": doc(preamble, body), "a.png": png(1)})).figures
    assert f.caption == "The spectrum of Equation (1)."


def test_a_textual_citation_reads_as_the_bbl_labels_it():
    # lgbouma/WASP-4b_anomaly (aastex, natbib): "A separate study by \citet{baluev} reported ..." read "A separate
    # study by reported ..."; \citetalias{b19} (\defcitealias{b19}{B19}) printed its key "bouma_wasp4b_2019"
    bbl = ("\\begin{thebibliography}{2}\n\\bibitem[{Baluev {et~al.}(2019)Baluev, Sokov, \\& Jones}]{baluev}\nBaluev, R.\n"
           "\\bibitem[{{Bouma} {et~al.}(2019{\\natexlab{a}})}]{b19}\nBouma, L.\n\\end{thebibliography}")
    body = ("\\defcitealias{b19}{B19}\\begin{figure}\\includegraphics{a}\\caption{Transit times from \\citet{baluev} and"
            " \\citetalias{b19}.}\\label{fig:t}\\end{figure}\nA study by \\citet[p.~3]{baluev} shows Figure~\\ref{fig:t} "
            "\\citep{b19}; \\citeauthor{baluev} agree, as did \\citet{nokey}.")
    files = PaperFiles({"ms.tex": doc("\\usepackage{natbib}", body), "ms.bbl": bbl.encode(), "a.png": png(1)})
    (rec,) = paper_records("2401.00008", files, Rejects())
    assert rec["caption"] == "Transit times from Baluev et al. (2019) and B19."
    assert rec["citation_contexts"] == ["A study by Baluev et al. (2019, p. 3) shows Figure 1; Baluev et al. agree, as did."]


def test_unclosed_groups_after_these_commands_take_linear_time():
    import time

    from s1mmalign.builder.sources.latex.citations import expand_textual_citations
    from s1mmalign.builder.sources.latex.structure import choose_ifthenelse, cut_headings, expand_structural_macros
    from s1mmalign.builder.sources.latex.text import Macro
    start = time.monotonic()  # each rescanned the rest of the text per unclosed group: 20000 took minutes
    expand_structural_macros("\\ignore{ x " * 20000, {"ignore": Macro(1, None, "")})
    cut_headings("\\section{ x " * 20000)
    expand_textual_citations("\\citet{ x " * 20000, {"x": ("A", "1990")})
    choose_ifthenelse("\\ifthenelse{ x " * 20000, "\\newboolean{x}")
    assert time.monotonic() - start < 5


def test_a_vgtc_teaser_in_the_preamble_is_figure_one():
    # IEEE VIS / TVCG (vgtc.cls) and Eurographics (egpubl.cls): \teaser{...} before \begin{document}
    # is the first figure; a \newcommand defining \teaser is none
    tex = (r"\documentclass[journal]{vgtc}\newcommand{\teaser}[1]{#1}"
           r"\teaser{\centering\includegraphics[width=\linewidth]{t.png}"
           r"\caption{Examples of \textbf{(A)} slabs.}\label{fig:teaser}}"
           r"\begin{document}\maketitle\section{Intro}As \autoref{fig:teaser} and Figure~\ref{fig:b} show, it works."
           r"\begin{figure}\includegraphics{b.png}\caption{Second.}\label{fig:b}\end{figure}\end{document}")
    p = parse_paper(PaperFiles({"main.tex": tex.encode(), "t.png": png(0), "b.png": png(1)}))
    assert [(f.label, f.number, f.caption) for f in p.figures] == [
        ("fig:teaser", "1", "Examples of (A) slabs."), ("fig:b", "2", "Second.")]
    assert p.figures[0].graphics == ["t.png"]
    assert find_citations(p.paragraphs, p.numbers())["fig:teaser"].sentences == ["As Figure 1 and Figure 2 show, it works."]


def test_each_list_item_is_text_of_its_own():
    # ndaniels/compressive-paper, a thesis's contributions list: items have no full stop, so the sentences of
    # a list ran together ("... approach is fast The second is shown in Fig. 1 Third") and a citing sentence
    # took every item with it; an itemized abstract read "in a database Search complexity is bounded"
    body = ("\\begin{abstract}\\begin{itemize}\\item We search a database \\item Search is bounded\\end{itemize}\\end{abstract}"
            "Intro text.\n\\begin{itemize}\n\\item The first method is fast\n\\item The second is shown in Fig.~\\ref{f}\n"
            "\\item[(c)] Third\n\\end{itemize}\n\\begin{description}\\item[Alpha] case one\\end{description}"
            "\\begin{figure}\\includegraphics{a}\\caption{C.}\\label{f}\\end{figure}")
    files = PaperFiles({"main.tex": doc("", body), "a.png": png(1)})
    p = parse_paper(files)
    assert [strip_marks(t) for t in p.paragraphs] == ["Intro text.", "The first method is fast", "The second is shown in Fig. 1",
                                                      "(c) Third", "Alpha case one"]
    assert p.abstract == "• We search a database • Search is bounded"
    (rec,) = paper_records("2401.00007", files, Rejects())
    assert rec["citation_contexts"] == ["The second is shown in Fig. 1"]


def test_a_thesis_abstract_is_its_unnumbered_abstract_chapter():
    # ArthurTolley/PhD_Thesis: \chapter*{Abstract}\addcontentsline{toc}{chapter}{Abstract}\input{abstract}; no abstract
    # environment, so the thesis had no abstract; a contents line is no text
    body = ("\\chapter*{Declaration}I declare.\\chapter*{Abstract}\\addcontentsline{toc}{chapter}{Abstract}\n"
            "This thesis presents \\emph{new} searches.\n\nA second paragraph.\n\\chapter*{Acknowledgements}Thanks.\\tableofcontents"
            "\\chapter{Intro}Text.")
    p = parse_paper(PaperFiles({"main.tex": doc("", body)}))
    assert p.abstract == "This thesis presents new searches. A second paragraph."
    assert "toc" not in " ".join(p.paragraphs)
