"""LaTeX to plain text (the Converter): math, symbols, siunitx and physics, user macros, references."""

import pytest

from s1mmalign.builder.sources.latex import latex_to_text
from s1mmalign.builder.sources.latex.text import Converter, Macro, clean_text


@pytest.mark.parametrize("src, text", [
    # text, accents, math; citations and labels dropped
    (r"The \textbf{bold} and \emph{it} {nested {braces}} at $T_{\mathrm{c}} = 3\,\mathrm{K}$.",
     "The bold and it nested braces at T_c = 3 K."),
    (r"$\alpha^{2} \pm \beta_i \times 10^{-3}$, $\frac{a+b}{2}$, $\sqrt{x}$", "α^2 ± β_i × 10^-3, (a+b)/2, √x"),
    # order relations and big operators print, not vanish ("A B" for a dominance relation)
    (r"$A \preceq B$, $a \succ b$, $\bigcup_i S_i$, $\Gamma \vdash \phi$", "A ⪯ B, a ≻ b, ⋃_i S_i, Γ ⊢ φ"),
    (r"Schr\"odinger, na\"{\i}ve, Erd\H{o}s, \c{c}a --- and -- ``quoted''", "Schrödinger, naïve, Erdős, ça — and – “quoted”"),
    (r"50\% of \$5 \& more\footnote{dropped} \cite{x}\label{y}.", "50% of $5 & more."),
    (r"\SI{3.5}{\kelvin} and \url{https://x.org/a_b} and \href{https://y.org}{link}", "3.5 K and https://x.org/a_b and link"),
    (r"\textcolor{red}{red} text\\ next~line", "red text next line"),
    # a line break's star and length (thesis-brueffer's title page, thesis-alice's tables: "[4mm]", "[75mm]")
    (r"Lund University, Sweden.\\[4mm] Supervisor \\*[1ex] A. Name \\ [.5\baselineskip] end", "Lund University, Sweden. Supervisor A. Name end"),
    # symbols
    (r"$\nicefrac{\pi}{2}$, \sfrac{1}{2} and $\nicefrac[\mathrm]{a+b}{2}$", "π/2, 1/2 and (a+b)/2"),
    (r"$A \subseteq B \supseteq C$, $f \mapsto g$, $\emptyset = \varnothing$, $a \lesssim b \gtrsim c$", "A ⊆ B ⊇ C, f ↦ g, ∅ = ∅, a ≲ b ≳ c"),
    (r"$A \nsubseteq B$, $p \implies q \iff r$, $x \Leftrightarrow y$, $\forall x \exists y \neg z$, $a \notin S$",
     "A ⊈ B, p ⟹ q ⟺ r, x ⇔ y, ∀ x ∃ y ¬ z, a ∉ S"),
    (r"$a \cong b$, $\lfloor x \rfloor \lceil y \rceil$, $p \wedge q \vee r$, $\bullet$ $\angle A$ $\uparrow\downarrow$", "a ≅ b, ⌊ x ⌋ ⌈ y ⌉, p ∧ q ∨ r, • ∠ A ↑↓"),
    (r"Hawai\textquotesingle i and \textquotesingle\={a}kepa", "Hawai'i and 'ākepa"),
    # math accents mark their letter (an antiquark, a mean, an estimate): they were dropped, "s/s" for s/s̄
    (r"ratio $s/\bar{s}$, $c\bar c$, $\bar\nu_e$, $\overline{\mathbf{f}}$, $\mathbf{\hat{f}}$, $\tilde{x}$, $\vec{v}$, $\dot{x}$",
     "ratio s/s\u0304, cc\u0304, \u03bd\u0304_e, f\u0305, f\u0302, x\u0303, v\u20d7, \u1e8b"),
    (r"$\overline{AB}$ and $\widehat{xyz}$", "A\u0305B\u0305 and xy\u1e91"),
    # siunitx: units print
    (r"\qty{96}{\mebi\byte} of RAM", "96 MiB of RAM"),
    (r"\ang{90} and \ang{1;2;3}", "90° and 1°2′3″"),
    (r"\SI{6.6}{\arcsec} and \SI{20}{\celsius}", "6.6″ and 20 °C"),
    (r"\SI{3}{\kilo\metre\per\second\squared}, \si{\GHz}, \qty[mode=text]{5}{\percent}", "3 km/s^2, GHz, 5 %"),
    (r"\SIrange{1}{2}{\milli\metre}, \qtyrange{3}{4}{\kelvin}, \numrange{5}{6}, \num{7}", "1 – 2 mm, 3 – 4 K, 5 – 6, 7"),
    (r"\SI{2}{\square\metre} and \SI{1}{\metre\tothe{3}}", "2 m^2 and 1 m^3"),
    # scripts: a longer one keeps its group
    (r"$10^{-7.376+0.622 \log x}$", "10^(-7.376+0.622 log x)"),
    (r"$q_{j+1}$ and $E_{X \text{near}}$", "q_(j+1) and E_(X near)"),
    (r"$10^{-3}$, $x^{2}$, Ca$^{2+}$, $T_{\rm eff}$, $f^{(1)}$, $x^{\prime\prime}$, $90^{\circ}$", "10^-3, x^2, Ca^2+, T_eff, f^(1), x′′, 90°"),
])
def test_latex_to_text(src, text):
    assert latex_to_text(src) == text


def test_units_the_paper_declares():
    macros = {"magab": Macro(0, None, r"\si{mag}")}  # how parse_paper reads \DeclareSIUnit\magab{mag}
    assert latex_to_text(r"\SI{1}{\magab} and \si{\magab\per\arcsec\squared}", macros) == "1 mag and mag/″^2"


def test_physics_qty_is_a_bracket_not_siunitx():
    """physics' \\qty takes one delimited group (an auto-sized bracket); siunitx's takes two brace groups."""
    src = r"The observables $m_{12}\qty[C]$ and $C\qty[\rho]$, $\qty(a+b) c$, $\qty|x|$ and \qty{96}{\mebi\byte}."
    assert latex_to_text(src) == "The observables m_12[C] and C[ρ], (a+b) c, |x| and 96 MiB."


def test_macros_with_arguments_expand():
    macros = {"eq": Macro(1, None, r"{Eq.~(\ref{#1})}"), "pair": Macro(2, "x", r"(#1, #2)"), "n": Macro(0, None, "N")}
    refs = {"eq:a": ("", "3", "equation")}
    conv = Converter(refs, macros)
    assert clean_text(conv.convert(r"See \eq{eq:a}, \pair{y} and \pair[z]{w} for \n.")) == "See Eq. (3), (x, y) and (z, w) for N."
    assert clean_text(conv.convert(r"\texorpdfstring{$\alpha$}{alpha} once")) == "α once"


def test_macro_expansion_is_bounded():
    """An argument doubled at each level grows 2**depth; the size is counted before the body is built."""
    bomb = {"a": Macro(1, None, r"\a{#1#1#1#1#1#1#1#1}")}
    conv = Converter(None, bomb)
    conv.max_chars = 10_000
    conv.convert(r"\a{" + "x" * 1000 + "}")
    assert conv.over_limit


def test_fancyref_and_unknown_reference_macros():
    refs = {"fig:graph": ("fig:graph", "3", "figure"), "sec:a": ("", "2", "section"), "eq:e": ("", "4", "equation")}
    conv = Converter(refs, {})
    text = r"\Fref{fig:graph} and \fref{fig:graph}, \Fref{sec:a}, \fref{eq:e}; lost \figsref{fig:graph}, \textbf{kept} \ref{nope}"
    assert clean_text(conv.convert(text)) == "Figure 3 and figure 3, Section 2, equation (4); lost 3, kept?"


def test_an_environments_setting_is_no_text_but_a_theorems_name_stays():
    assert latex_to_text(r"\begin{savequote}[75mm] Nature is simple.\end{savequote}") == "Nature is simple."
    assert latex_to_text(r"\begin{itemize}[label=-] \item one\end{itemize}") == "• one"  # an item prints its bullet
    assert latex_to_text(r"\begin{theorem}[Stokes] Let x.\end{theorem}") == "[Stokes] Let x."


def test_a_font_command_around_a_word_that_is_also_a_label_prints_the_word():
    # \label{nuance} on a section; the title's \texttt{nuance} is the package name, not a lost reference macro
    conv = Converter({"nuance": ("", "2", "section"), "data": ("", "3", "section")})
    text = r"\texttt{nuance}: fast; \emph{data} and \textbf{data} in $\mathrm{data}$; lost \secref{nuance}"
    assert clean_text(conv.convert(text)) == "nuance: fast; data and data in data; lost 2"


def test_a_citation_note_that_refers_to_a_figure_keeps_the_reference():
    # natbib prints "(Figure 10, also see Spinelli 2024)": the sentence cites Figure 10; other notes go with the \cite
    conv = Converter({"fig:c": ("fig:c", "10", "figure")})
    text = r"early on~\citep[Figure~\ref{fig:c}, also see][]{Spin}, as known \citep[e.g.][p.~3]{a,b}."
    assert clean_text(conv.convert(text)) == "early on (Figure 10, also see), as known."
