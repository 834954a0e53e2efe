"""Citation contexts: sentence splitting and the sentences citing each figure."""

import pytest

from s1mmalign.builder.sources.contexts import cap, find_citations, mark, printed_number, split_sentences, strip_marks

NUMBERS = {"f1": "1", "f2": "2", "f3": "3", "f4": "4", "s1": "S1"}


def test_split_sentences_keeps_abbreviations_initials_and_decimals():
    text = ("The gap is 3.5 meV at Fig. 2. J. Smith et al. measured it, e.g. in Ref. 4. "
            "Is it robust? Yes! The fit (Eq. 3) holds. (A bracketed sentence.) Done")
    assert split_sentences(text) == [
        "The gap is 3.5 meV at Fig. 2.",
        "J. Smith et al. measured it, e.g. in Ref. 4.",
        "Is it robust?",
        "Yes!",
        "The fit (Eq. 3) holds.",
        "(A bracketed sentence.)",
        "Done",
    ]


def test_split_after_unit_and_panel_letters():
    assert split_sentences("A ratio of 0.6 M/L. The colour in Fig. 2b. Next one.") == [
        "A ratio of 0.6 M/L.", "The colour in Fig. 2b.", "Next one."]


def test_marked_references_ranges_and_order():
    paras = [f"As {mark('f1')}Fig. 1 shows, the gap closes. Figs. {mark('f2')}2\u2013{mark('f4')}4 compare the fits.",
             f"Nothing cites here. Again {mark('f3')}Fig. 3 and {mark('f1')}Fig. 1."]
    c = find_citations(paras, NUMBERS)
    assert c["f1"].sentences == ["As Fig. 1 shows, the gap closes.", "Again Fig. 3 and Fig. 1."]
    assert c["f3"].sentences == ["Figs. 2\u20134 compare the fits.", "Again Fig. 3 and Fig. 1."]  # range expanded
    assert c["f2"].sentences == c["f4"].sentences == ["Figs. 2\u20134 compare the fits."]
    assert c["s1"].sentences == [] and c["s1"].count == 0
    assert all("\ue000" not in s for ctx in c.values() for s in ctx.sentences)


def test_printed_references_ranges_panels_and_lists():
    paras = ["Figures 2 to 3 show it. In Fig. 3b the peak moves. See Fig. 4(c). Figs. 1, 2 and 4 agree.",
             "Supplementary Fig. S1 has more. FIG. 1. Table 3 and Eq. 4 are not figures. Figure 12 does not exist."]
    c = find_citations(paras, NUMBERS)
    assert c["f1"].sentences == ["Figs. 1, 2 and 4 agree.", "FIG. 1."]
    assert c["f2"].sentences == ["Figures 2 to 3 show it.", "Figs. 1, 2 and 4 agree."]
    assert c["f3"].sentences == ["Figures 2 to 3 show it.", "In Fig. 3b the peak moves."]
    assert c["f4"].sentences == ["See Fig. 4(c).", "Figs. 1, 2 and 4 agree."]
    assert c["s1"].sentences == ["Supplementary Fig. S1 has more."]


def test_supplementary_and_extended_data_figures_are_their_own_series():
    # Nature's papers cite "Supplementary Fig. 3" in plain text: never the paper's Figure 3
    nums = {"f1": "1", "f2": "2", "f3": "3", "s2": "S2", "e1": "ED1"}
    paras = ["Supplementary Fig. 3 shows the controls. Supplementary Figure 2 has the fits.",
             "Extended Data Fig. 1 is the map. See Figs. 1\u20132 and Supplementary Figs. 1\u20132.",
             "As in figure 3, the peak moves. A Figura 1 mostra o mapa. See Appendix 1\u2014figure 2 for the fit."]
    c = find_citations(paras, nums)
    assert c["f3"].sentences == ["As in figure 3, the peak moves."]  # lower case "figure" cites too
    assert c["s2"].sentences == ["Supplementary Figure 2 has the fits.", "See Figs. 1\u20132 and Supplementary Figs. 1\u20132."]
    assert c["e1"].sentences == ["Extended Data Fig. 1 is the map."]
    assert c["f1"].sentences == ["See Figs. 1\u20132 and Supplementary Figs. 1\u20132.", "A Figura 1 mostra o mapa."]
    assert c["f2"].sentences == ["See Figs. 1\u20132 and Supplementary Figs. 1\u20132."]


@pytest.mark.parametrize("label,number", [
    ("Figure 1", "1"), ("FIGURE 2:", "2"), ("Fig. 5a.", "5"), ("Figure S3", "S3"), ("3", "3"), ("Figura 4", "4"),
    ("Supplementary Figure 2", "S2"), ("Supplementary Fig. S2", "S2"), ("Extended Data Fig. 4", "ED4"),
    # a part of another figure prints no number of its own: only its markup cites it (eLife, eNeuro)
    ("Figure 9\u2014figure supplement 2", ""), ("Appendix 1\u2014figure 2", ""), ("Author response image 1", ""),
    ("Figure 2\u2014video 1", ""), ("Figure 1-1", ""), ("Scheme 1", ""), ("", ""),
])
def test_printed_number_of_a_label(label, number):
    assert printed_number(label) == number


def test_a_number_printed_twice_cites_the_first_figure():
    # a translation's figures repeat the article's numbers: plain text cites the article's own
    c = find_citations(["Figure 1 shows it."], {"f1": "1", "f1-en": "1"})
    assert c["f1"].count == 1 and c["f1-en"].count == 0


def test_dedup_count_cap_and_limit():
    sentence = "The spectrum in Fig. 1 is flat."
    long = "Fig. 1 shows " + "a very long description " * 40 + "end."
    paras = [sentence, "  The spectrum in  Fig. 1 is flat. ", long] + [f"Fig. 1 case {i}." for i in range(20)]
    c = find_citations(paras, {"f1": "1"}, max_chars=120, max_sentences=5)["f1"]
    assert c.count == 23  # every citing sentence is counted
    assert c.sentences[0] == sentence and c.sentences.count(sentence) == 1
    assert len(c.sentences) == 5 and all(len(s) <= 120 for s in c.sentences)
    assert c.sentences[1].endswith("\u2026") and c.sentences[1].startswith("Fig. 1 shows a very long")


def test_figure_ids_restrict_and_marks_without_numbers():
    paras = [f"See {mark('fig:a')}Fig. 1 and {mark('tab:x')}Table 1."]
    c = find_citations(paras, figure_ids=["fig:a", "fig:b"])
    assert set(c) == {"fig:a", "fig:b"}
    assert c["fig:a"].sentences == ["See Fig. 1 and Table 1."] and c["fig:b"].count == 0


def test_cap_and_strip_marks():
    assert cap("short", 10) == "short"
    assert cap("one two three four five six", 15) == "one two three\u2026"
    assert strip_marks(f"a{mark('x')}b") == "ab"


def test_another_papers_figure_named_in_plain_text_cites_nothing():
    # the reader removes \cite, so "Figure 2 in \cite{x} which" reads "Figure 2 in which"
    others = ["Based on Fig. 1 of Ref. , we expect a dip.", "Comparison with Figure 2 in which suggests a bias.",
              "Our results are very similar to Figure 3 of R10 at late times.", "As in Figure 2 of Smith et al. (2019), it grows.",
              "See Fig. 1 in [4]."]
    ours = ["See Figure 1 in the main text.", "Figure 3 in Section 2 shows the fit.", "Shown in Figure 2 in blue."]
    c = find_citations(others + ours, {"f1": "1", "f2": "2", "f3": "3"})
    assert c["f1"].sentences == ["See Figure 1 in the main text."]
    assert c["f2"].sentences == ["Shown in Figure 2 in blue."] and c["f3"].sentences == ["Figure 3 in Section 2 shows the fit."]


def test_their_figure_and_a_figure_of_paper_i_are_another_papers():
    # svenbuder/golden_thread_II (mnras): "In Fig. 3 of Paper I we studied ...", "(see their Fig. 3)", "his Figure 14";
    # each was a citing sentence of this paper's Figure 3 (or 14)
    others = ["In Fig. 3 of Paper I we studied the birth positions.", "The plane (Fig. 3b of Paper II) shows a path.",
              "This matches the simulation of a circular galaxy (see their Fig. 3).", "Follow the path (see his Figure 1).",
              "As in Figure 2 of Jones & Lee (2020), it grows."]
    ours = ["Their ages are in Fig. 3.", "Our Figure 1 shows the path; their data lie in Figure 2."]
    c = find_citations(others + ours, {"f1": "1", "f2": "2", "f3": "3"})
    assert c["f3"].sentences == ["Their ages are in Fig. 3."]
    assert c["f1"].sentences == c["f2"].sentences == ["Our Figure 1 shows the path; their data lie in Figure 2."]


def test_a_marked_number_that_another_figure_also_prints_cites_only_the_marked_one():
    # Nature's Extended Data figures restart at 1 under a renamed \figurename: "(Figure~\ref{fig:sed})"
    # prints "Figure 1" for Extended Data Fig. 1; the paper's own Figure 1 is not cited by it
    paras = [f"Light curves (Figure {mark('a')}1) matter. Cooler dust (Figure {mark('ed1')}1) too. "
             f"Extended Data Figure {mark('ed1')}1 and Figure 1 both. Figs. {mark('a')}1--3 show."]
    cites = find_citations(paras, {"a": "1", "b": "2", "c": "3", "ed1": "1"})
    assert cites["a"].sentences == ["Light curves (Figure 1) matter.", "Extended Data Figure 1 and Figure 1 both.",
                                    "Figs. 1--3 show."]
    assert cites["ed1"].sentences == ["Cooler dust (Figure 1) too.", "Extended Data Figure 1 and Figure 1 both."]
    assert cites["c"].sentences == ["Figs. 1--3 show."]
    # JATS: <xref rid="fig13">Appendix Figure 2</xref> is not the paper's Figure 2 (its label prints no plain number)
    cites = find_citations([f"Transcripts fell (Appendix Figure {mark('app2')}2)."], {"f1": "1", "f2": "2"},
                           figure_ids=["f1", "f2", "app2"])
    assert cites["f2"].sentences == [] and cites["app2"].sentences == ["Transcripts fell (Appendix Figure 2)."]
