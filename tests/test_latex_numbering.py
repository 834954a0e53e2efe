"""Figure, table, section and equation numbers as the PDF prints them: within chapters (theses),
``\\numberwithin``/``\\counterwithin``, a supplement's ``S1`` from ``\\renewcommand{\\thefigure}``,
appendix letters; and plain-text citations of such numbers find their figure."""

from __future__ import annotations

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.arxiv import paper_records
from s1mmalign.builder.sources.contexts import find_citations, strip_marks
from s1mmalign.builder.sources.latex import PaperFiles, parse_paper
from s1mmalign.builder.sources.latex.numbering import Counters, numbered_labels, styled
from tests.test_latex_sources import fig, png


def paper(preamble: str, body: str, cls: str = "article", n_images: int = 0):
    files = {"main.tex": f"\\documentclass{{{cls}}}{preamble}\\begin{{document}}{body}\\end{{document}}".encode()}
    files.update({f"f{k}.png": png(k) for k in range(n_images)})
    return files, parse_paper(PaperFiles(files))


def test_a_thesis_numbers_figures_tables_sections_and_equations_within_the_chapter():
    body = ("\\chapter{Intro}" + fig("f0", "fig:a", "First.") + fig("f1", "fig:b", "Second.")
            + "\\chapter{Method}\\section{Setup}\\label{sec:setup}"
            + "\\begin{equation}x\\label{eq:x}\\end{equation}" + fig("f2", "fig:c", "Third.")
            + "\\begin{table}\\caption{T.}\\label{tab:t}\\end{table}"
            + "As Fig.~\\ref{fig:c}, Table~\\ref{tab:t}, Section~\\ref{sec:setup} and Eq.~\\eqref{eq:x} show.\n\n"
            + "Figure 2.1 repeats Figures 1.1--1.2.")
    files, p = paper("", body, "report", 3)
    assert [f.number for f in p.figures] == ["1.1", "1.2", "2.1", "2.1"]  # the last is the table
    assert [f.display_label for f in p.figures[:3]] == ["fig:a", "fig:b", "fig:c"]
    assert "As Fig. 2.1, Table 2.1, Section 2.1 and Eq. (2.1) show." in strip_marks(" ".join(p.paragraphs))
    cites = find_citations(p.paragraphs, p.numbers())
    assert [len(cites[i].sentences) for i in ("fig:a", "fig:b", "fig:c")] == [1, 1, 2]
    recs = list(paper_records("2101.00001", PaperFiles(files), Rejects()))
    assert [r["citation_contexts"] for r in recs][0] == ["Figure 2.1 repeats Figures 1.1\u20131.2."]


def test_frontmatter_chapters_take_no_number_and_the_appendix_chapters_letters():
    body = ("\\frontmatter\\chapter{Preface}" + fig("f0", "a", "P.") + "\\mainmatter\\chapter{One}" + fig("f1", "b", "B.")
            + "\\appendix\\chapter{Extra}" + fig("f2", "c", "C.") + "\\section{More}\\label{sec:more}Appendix~\\ref{sec:more}.")
    _, p = paper("", body, "book", 3)
    assert [f.number for f in p.figures] == ["1", "1.1", "A.1"]
    assert "Appendix A.1." in p.paragraphs[-1]


def test_numberwithin_section_and_an_article_appendix():
    body = ("\\section{A}" + fig("f0", "a", "A.") + "\\section{B}" + fig("f1", "b", "B.") + fig("f2", "c", "C.")
            + "\\appendix\\section{Proofs}" + fig("f3", "d", "D."))
    _, p = paper("\\usepackage{amsmath}\\numberwithin{figure}{section}", body, n_images=4)
    assert [f.number for f in p.figures] == ["1.1", "2.1", "2.2", "A.1"]
    _, p = paper("\\counterwithin*{figure}{section}", body, n_images=4)  # starred: reset, printed plain
    assert [f.number for f in p.figures] == ["1", "1", "2", "1"]


def test_a_supplement_restarts_its_figures_as_S1():
    body = (fig("f0", "a", "Main one.") + fig("f1", "b", "Main two.") + "\\clearpage\\setcounter{figure}{0}"
            "\\renewcommand{\\thefigure}{S\\arabic{figure}}" + fig("f2", "s1", "Supplementary one.")
            + "Fig. S1 extends Fig. 1, and Figs. S1--S1 are all.\n\n Figure 2 is alone.")
    files, p = paper("", body, n_images=3)
    assert [f.number for f in p.figures] == ["1", "2", "S1"]
    assert [f.id for f in p.figures] == ["a", "b", "s1"]
    cites = find_citations(p.paragraphs, p.numbers())
    assert cites["s1"].sentences == cites["a"].sentences == ["Fig. S1 extends Fig. 1, and Figs. S1\u2013S1 are all."]
    assert cites["b"].sentences == ["Figure 2 is alone."]
    # unlabelled figures keep their keys (the running index): the supplement's first is figure3, not a second figure1
    files["main.tex"] = files["main.tex"].replace(b"\\label{a}", b"").replace(b"\\label{s1}", b"")
    keys = [r["key"] for r in paper_records("2101.00002", PaperFiles(files), Rejects())]
    assert [k.split("_")[3] for k in keys] == ["1", "b", "3"]
    assert [f.display_label for f in parse_paper(PaperFiles(files)).figures] == ["Figure 1", "b", "Figure S1"]


def test_templates_name_other_counters_and_unknown_ones_fall_back():
    c = Counters(chapters=False)
    c.scan("\\renewcommand\\thefigure{\\thesection\\arabic{figure}}\\appendix\\section{x}", config_only=False)
    assert c.step("figure") == "A1"  # MNRAS/AAS appendices
    c.scan("\\renewcommand{\\thefigure}{\\roman{figure}}")
    assert c.step("figure") == "ii"
    c.scan("\\renewcommand{\\thefigure}{\\ifnum\\value{figure}>1 X\\fi}")  # TeX programming: not read
    assert c.step("figure") == "3"
    assert [styled(4, s) for s in ("arabic", "Alph", "alph", "Roman", "roman")] == ["4", "D", "d", "IV", "iv"]


def test_a_captionof_figure_outside_a_float_takes_a_number():
    body = ("\\begin{minipage}{5cm}\\includegraphics{f0}\\captionof{figure}{Inline.}\\end{minipage}"
            + fig("f1", "b", "After it.") + "\\captionof*{figure}{No number.}" + fig("f2", "c", "Last."))
    _, p = paper("", body, n_images=3)
    assert [f.number for f in p.figures] == ["2", "3"]


def test_numbered_labels_counts_sections_and_equations_as_before():
    text = ("\\section{One}\\label{s1}\\subsection{Sub}\\label{s11}\\section*{Star}\\label{after-star}"
            "\\begin{align}a\\label{e1}\\\\b\\nonumber\\\\c\\label{e2}\\end{align}\\appendix\\section{App}\\label{app}")
    got = numbered_labels(text, Counters())
    assert got == {"s1": ("", "1", "section"), "s11": ("", "1.1", "section"), "after-star": ("", "1.1", "section"),
                   "e1": ("", "1", "equation"), "e2": ("", "2", "equation"), "app": ("", "A", "appendix")}


def test_the_class_appendix_sets_the_numbers_where_the_document_says_appendix():
    # elsarticle.cls (abridged): its \appendix letters the figures by section, without resetting them;
    # a class's environment definition (A&A's appendix) acts only where it is used
    cls = (b"\\LoadClass{article}\\renewcommand\\appendix{\\par\\setcounter{section}{0}"
           b"\\gdef\\thefigure{\\@Alph\\c@section.\\arabic{figure}}}"
           b"\\renewenvironment{appendices}{\\@addtoreset{figure}{section}}{}")
    body = ("\\section{A}" + fig("f0", "a", "A.") + "\\section{B}" + fig("f1", "b", "B.")
            + "\\appendix\\section{Proofs}" + fig("f2", "c", "C.") + "See Fig. A.3.")
    files = {"main.tex": f"\\documentclass{{myels}}\\begin{{document}}{body}\\end{{document}}".encode(), "myels.cls": cls}
    files.update({f"f{k}.png": png(k) for k in range(3)})
    p = parse_paper(PaperFiles(files))
    assert [f.number for f in p.figures] == ["1", "2", "A.3"]
    assert find_citations(p.paragraphs, p.numbers())["c"].sentences == ["See Fig. A.3."]


def test_a_known_class_without_its_file_letters_its_appendix_figures():
    # A&A: \begin{appendix} restarts the figures per appendix section (aa.cls 9.x); the class file is not in the source
    body = (fig("f0", "a", "A.") + "\\begin{appendix}\\section{Data}" + fig("f1", "b", "B.") + fig("f2", "c", "C.")
            + "\\section{More}" + fig("f3", "d", "D.") + "\\end{appendix}")
    _, p = paper("", body, "aa", 4)
    assert [f.number for f in p.figures] == ["1", "A.1", "A.2", "B.1"]
    _, p = paper("", body.replace("\\begin{appendix}", "\\appendix").replace("\\end{appendix}", ""), "elsarticle", 4)
    assert [f.number for f in p.figures] == ["1", "A.2", "A.3", "B.4"]


def test_a_sectioning_command_being_defined_is_no_section():
    c = Counters(appendix_hook="\\setcounter{section}{0}\\def\\section{\\@startsection{section}{1}}\\let\\subsection\\relax")
    c.scan("\\section{Intro}\\appendix\\section{Data}")
    assert c.printed("section") == "A"


def test_side_by_side_minipages_with_their_own_captions_are_figures_of_their_own():
    # as in a real arXiv paper: two minipages in one float, each with \caption, image and \label
    mp = "\\begin{{minipage}}[t]{{0.4\\textwidth}}\\caption{{{cap}}}\\centering\\includegraphics{{{img}}}\\label{{{lab}}}\\end{{minipage}}"
    body = (fig("f0", "a", "First.") + "\\begin{figure}[H]\\centering" + mp.format(cap="Distances.", img="f1", lab="c1")
            + "\\hfill" + mp.format(cap="Ratios.", img="f2", lab="c2") + "\\end{figure}" + fig("f3", "d", "Last.")
            + "See figures \\ref{c1} and \\ref{c2}; Figure 4 follows.")
    files, p = paper("", body, n_images=4)
    assert [(f.id, f.number, f.caption, f.files) for f in p.figures] == [
        ("a", "1", "First.", ["f0.png"]), ("c1", "2", "Distances.", ["f1.png"]), ("c2", "3", "Ratios.", ["f2.png"]),
        ("d", "4", "Last.", ["f3.png"])]
    assert strip_marks(p.paragraphs[-1]) == "See figures 2 and 3; Figure 4 follows."
    recs = list(paper_records("2101.00003", PaperFiles(files), Rejects()))
    assert [r["figure_label"] for r in recs] == ["a", "c1", "c2", "d"] and not any(r["multi_panel"] for r in recs)
    # a side caption (the image in one minipage, the caption in the other) stays one figure
    side = ("\\begin{figure}\\begin{minipage}{.6\\linewidth}\\includegraphics{f0}\\end{minipage}"
            "\\begin{minipage}{.35\\linewidth}\\caption{Beside.}\\label{s}\\end{minipage}\\end{figure}")
    _, p = paper("", side, n_images=1)
    assert [(f.number, f.caption, f.files) for f in p.figures] == [("1", "Beside.", ["f0.png"])]


def test_side_by_side_minipages_split_also_with_subfigures_or_a_drawing_in_one_of_them():
    # real paper (srds-2022): minipage 1 holds two subfigures and its own \caption (Figure 2, panels 2a, 2b),
    # minipage 2 an image and its \caption (Figure 3); another float a TikZ drawing and an image, each
    # captioned. Both were read as one figure each, so every later figure printed one number too few.
    sub = "\\begin{{subfigure}}{{.5\\textwidth}}\\includegraphics{{{img}}}\\caption{{{cap}}}\\label{{{lab}}}\\end{{subfigure}}"
    body = (fig("f0", "a", "First.") + "\\begin{figure*}\\begin{minipage}{.63\\textwidth}" + sub.format(img="f1", cap="Left.", lab="b1")
            + sub.format(img="f2", cap="Right.", lab="b2") + "\\caption{Pair.}\\label{b}\\end{minipage}\\hfill"
            + "\\begin{minipage}{.35\\textwidth}\\includegraphics{f3}\\caption{Single.}\\label{c}\\end{minipage}\\end{figure*}"
            + "\\begin{figure*}\\begin{minipage}{.5\\textwidth}\\begin{tikzpicture}\\draw (0,0) -- (1,1);\\end{tikzpicture}"
            + "\\caption{Drawn.}\\label{d}\\end{minipage}\\begin{minipage}{.5\\textwidth}\\includegraphics{f4}"
            + "\\captionof{figure}{Plotted.}\\label{e}\\end{minipage}\\end{figure*}" + fig("f5", "g", "Last.")
            + "See Figure \\ref{b2}, \\ref{c} and \\ref{e}.")
    _, p = paper("\\usepackage{subcaption}", body, n_images=6)
    assert [(f.id, f.number, f.caption, f.files) for f in p.figures] == [
        ("a", "1", "First.", ["f0.png"]), ("b", "2", "Pair.", ["f1.png", "f2.png"]), ("c", "3", "Single.", ["f3.png"]),
        ("d", "4", "Drawn.", []), ("e", "5", "Plotted.", ["f4.png"]), ("g", "6", "Last.", ["f5.png"])]
    assert strip_marks(p.paragraphs[-1]) == "See Figure 2b, 3 and 5."


def test_a_starred_caption_takes_no_number():
    body = (fig("f0", "a", "One.") + "\\begin{figure}\\includegraphics{f1}\\caption*{A photo, unnumbered.}\\end{figure}"
            + fig("f2", "b", "Two.") + "Fig. 2 is the last.")
    files, p = paper("", body, n_images=3)
    assert [(f.number, f.caption) for f in p.figures] == [("1", "One."), ("", "A photo, unnumbered."), ("2", "Two.")]
    assert [r["figure_label"] for r in paper_records("2101.00004", PaperFiles(files), Rejects())] == ["a", "unnumbered figure 1", "b"]
    assert find_citations(p.paragraphs, p.numbers())["b"].sentences == ["Fig. 2 is the last."]


def test_hostile_counters_end_quickly():
    c = Counters()
    c.scan("\\counterwithin{figure}{section}\\counterwithin{section}{figure}"  # a cycle
           "\\renewcommand{\\thefigure}{\\roman{figure}}\\setcounter{figure}{999999}\\setcounter{table}{" + "9" * 5000 + "}")
    assert c.step("figure").endswith("1000000")  # no million-letter roman numeral; the cycle cut
    assert c.step("table") == "1"  # a number past six digits is not read


def test_a_sectioning_command_named_as_an_argument_is_no_section():
    # titlesec in the body of a real thesis (report class): \titleformat{\chapter}... before chapter 1
    body = ("\\titleformat{\\chapter}[display]{\\bfseries}{\\chaptertitlename\\ \\thechapter}{0pt}{#1}"
            "\\titlespacing*{\\chapter}{0pt}{0pt}{30pt}\\chapter{One}\\chapter{Two}" + fig("f0", "a", "A."))
    _, p = paper("\\usepackage{titlesec}", body, "report", 1)
    assert [f.number for f in p.figures] == ["2.1"]


def test_revtex_appendix_equations_and_aastex_boxed_templates():
    body = ("\\section{Model}\\begin{equation}x\\label{e1}\\end{equation}\\appendix\\section{Proof}"
            "\\begin{equation}y\\label{ea}\\end{equation}\\section{More}\\begin{equation}z\\label{eb}\\end{equation}"
            "By Eqs.~(\\ref{e1}), (\\ref{ea}) and (\\ref{eb}).")
    _, p = paper("", body, "revtex4-1")
    assert "By Eqs. (1), (A1) and (B1)." in strip_marks(p.paragraphs[-1])
    c = Counters()
    c.scan("\\def\\theequation{\\hbox{\\Alph{section}\\arabic{equation}}}\\appendix\\section{A}")
    assert c.step("equation") == "A1"


def test_a_broken_caption_in_a_minipage_is_that_figures_reject_not_the_papers():
    body = ("\\begin{figure}\\begin{minipage}{3cm}\\includegraphics{f0}\\caption{Broken \\end{minipage}\\end{figure}"
            + fig("f1", "b", "Fine."))
    _, p = paper("", body, n_images=2)
    assert [(f.caption, f.problem and f.problem[0]) for f in p.figures] == [("", "unbalanced_braces"), ("Fine.", None)]


def assert_class_keeps_plain_numbers(cls: bytes, options: str = "", body: str = "") -> None:
    """A paper in class ``cls`` (its file in the paper) with figures in sections 2 and 3 numbers them 1, 2."""
    body = (body or "\\section{A}\\section{B}" + fig("f0", "a", "A.") + "\\section{C}" + fig("f1", "b", "B.")) + "See Figure 2."
    files = {"main.tex": f"\\documentclass[{options}]{{mycls}}\\begin{{document}}{body}\\end{{document}}".encode(), "mycls.cls": cls}
    files.update({f"f{k}.png": png(k) for k in range(2)})
    p = parse_paper(PaperFiles(files))
    assert [f.number for f in p.figures] == ["1", "2"]
    assert find_citations(p.paragraphs, p.numbers())["b"].sentences == ["See Figure 2."]


def test_a_class_brace_trick_in_iffalse_keeps_macro_bodies_grouped():
    # aastex631.cls (abridged): array.sty's \iffalse{\fi ... `}\fi balances braces for TeX; dropping the
    # \iffalse{\fi as dead text unbalanced the class, so a \thefigure redefinition inside a macro body
    # (\apptablenumbers, run only when used) looked global and every figure printed "21", "22", ...
    cls = (b"\\LoadClass{article}\\def\\@arraycr{\\relax\\iffalse{\\fi\\ifnum 0=`}\\fi\\@xarraycr}\n"
           b"\\def\\apptablenumbers{\\setcounter{figure}{0}\\def\\thefigure{\\thesection\\the\\c@figure}}\n")
    assert_class_keeps_plain_numbers(cls)
    # dead text in \iffalse ... \fi still goes
    body = "\\iffalse" + fig("f0", "a", "Dead.") + "\\fi" + fig("f1", "b", "B.")
    _, p = paper("", body, "article", 2)
    assert [f.caption for f in p.figures] == ["B."]


def test_iffalse_ends_at_its_own_fi_and_keeps_its_else_branch():
    # copernicus.cls (abridged): \iffalse \def\appendixfigures{\ifx..\fi ...} \else \def\appendixfigures{...} \fi.
    # Cutting at the first \fi (the nested \ifx's) unbalanced the class, so the \thefigure inside the
    # \else branch's macro body looked global and every figure printed its section's letter ("B1", "C2").
    cls = (b"\\LoadClass{article}\n\\iffalse\n\\def\\appendixfigures{\\ifx\\a\\@undefined\\let\\a\\relax\\fi\n"
           b"  \\setcounter{figure}{0}\\def\\thefigure{A\\@arabic\\c@figure}}\n"
           b"\\else\n\\def\\appendixfigures{\\ifx\\a\\@undefined\\def\\thesection{\\Alph{section}}\\fi\n"
           b"  \\def\\thefigure{\\thesection\\@arabic\\c@figure}}\n\\fi\n")
    assert_class_keeps_plain_numbers(cls)
    # in a paper: the dead branch goes, the \else branch is text, a nested conditional stays inside its branch
    body = ("\\iffalse" + fig("f0", "a", "Dead \\ifdim1pt>0pt one\\else two\\fi.") + "\\else"
            + fig("f1", "b", "Live.") + "\\fi" + fig("f2", "c", "C."))
    _, p = paper("", body, "article", 3)
    assert [f.caption for f in p.figures] == ["Live.", "C."]


def test_strip_comments_matches_iffalse_to_its_fi():
    from s1mmalign.builder.sources.latex import strip_comments
    assert strip_comments("a \\iffalse dead \\ifx\\x\\y x\\fi dead \\fi b") == "a  b"
    assert strip_comments("a \\iffalse dead \\newif\\ifdraft \\else live \\fi b") == "a  live  b"
    assert strip_comments("a \\iffalse dead \\ifthenelse{x}{y}{z} \\fi b") == "a  b"
    assert strip_comments("\\newif\\ifdraft a \\iffalse dead \\ifdraft x\\fi dead \\fi b") == "\\newif\\ifdraft a  b"
    assert strip_comments("\\iffalse{\\fi x \\iffalse}\\fi") == "\\iffalse{\\fi x \\iffalse}\\fi"
    assert strip_comments("a \\iffalse never closed") == "a \\iffalse never closed"


def test_a_class_appendix_letters_figures_only_in_the_branch_its_options_take():
    # copernicus.cls (abridged): \appendix letters figures "A1" in the typeset paper, not in a
    # manuscript (\documentclass[gmd,manuscript]{copernicus}), whose figures go after the appendix and
    # the references; both branches were applied, so all of a manuscript's figures printed "B1", "B2", ...
    cls = (b"\\LoadClass{article}\n\\newif\\if@final \\@finaltrue\n\\newif\\if@manuscript\n"
           b"\\DeclareOption{manuscript}{\\@manuscripttrue}\n\\InputIfFileExists{mycls.cfg}{}{}\n\\ProcessOptions\n"
           b"\\def\\appendix{\\par\\setcounter{section}{0}\\def\\thesection{\\@Alph\\c@section}\n"
           b"  \\if@final\\if@manuscript\\else\\setcounter{figure}{0}\\def\\thefigure{\\thesection\\@arabic\\c@figure}\\fi\\fi}\n")
    body = "\\section{Intro}\\appendix\\section{More}" + fig("f0", "a", "A.") + fig("f1", "b", "B.")
    assert_class_keeps_plain_numbers(cls, "manuscript", body)
    files = {"main.tex": f"\\documentclass{{mycls}}\\begin{{document}}{body}\\end{{document}}".encode(), "mycls.cls": cls}
    files.update({f"f{k}.png": png(k) for k in range(2)})
    assert [f.number for f in parse_paper(PaperFiles(files)).figures] == ["A1", "A2"]
    # a discussion paper's option, declared in the class's .cfg, says it is not the typeset paper
    files.update({"mycls.cfg": b"\\DeclareOption{gmdd}{\\@finalfalse}\n",
                  "main.tex": f"\\documentclass[gmdd]{{mycls}}\\begin{{document}}{body}\\end{{document}}".encode()})
    assert [f.number for f in parse_paper(PaperFiles(files)).figures] == ["1", "2"]


def test_equations_opened_by_a_shorthand_macro_are_numbered():
    # sbird/hybrid-neutrino: \newcommand{\barr}{\begin{eqnarray}} ... \earr (physics papers' \be/\ee, \beq/\eeq);
    # labels in them were read as the section's, so a caption's "Eqs. \eqref{a}, \eqref{b}" printed "Eqs. 2.1, 2.1"
    pre = "\\newcommand{\\barr}{\\begin{eqnarray}}\\newcommand{\\earr}{\\end{eqnarray}}\\newcommand{\\be}{\\begin{equation}}\\def\\ee{\\end{equation}}"
    body = ("\\section{A}\\section{B}\\subsection{C}\\barr x &=& y \\nonumber\\\\ y &=& z\\label{eq:a}\\earr"
            "\\be w\\label{eq:b}\\ee" + fig("f0", "f", "Defined in Eqs.~\\eqref{eq:a}, \\eqref{eq:b}.") + "See Eq.~(\\ref{eq:b}).")
    _, p = paper(pre, body, n_images=1)
    assert p.figures[0].caption == "Defined in Eqs. (1), (2)."
    assert strip_marks(p.paragraphs[-1]).endswith("See Eq. (2).")


def test_subequations_share_one_number_with_letters():
    # forgi86/dynonet: \begin{subequations}\label{eq:r}\begin{align} a \\ b \end{align}\end{subequations}; the label
    # outside the align names the group, "(5)", its lines are (5a), (5b); it printed the section's "4.2"
    body = ("\\section{A}\\section{B}\\begin{equation}x\\label{eq:x}\\end{equation}\\begin{subequations}\\label{eq:r}"
            "\\begin{align}a &= 1 \\label{eq:ra}\\\\ b &= 2\\end{align}\\end{subequations}\\begin{equation}y\\label{eq:y}\\end{equation}"
            + fig("f0", "f", "Through \\eqref{eq:r}.") + "See \\eqref{eq:x}, \\eqref{eq:ra} and \\eqref{eq:y}.")
    _, p = paper("", body, n_images=1)
    assert p.figures[0].caption == "Through (2)."
    assert strip_marks(p.paragraphs[-1]).endswith("See (1), (2a) and (3).")
