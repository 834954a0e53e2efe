"""The JATS reader on layouts found by a fourth sweep over real articles never seen before
(2026-12-08: eLife, bioRxiv, PLOS, SciELO, Springer via PMC): translated fig-groups whose graphic
sits in one of the translations, figure words after an appendix, MathML fractions and labelled
display equations, figure legends printed as body paragraphs."""

from __future__ import annotations

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.jats import read_jats_article
from tests.test_jats import article, fig, png


def test_a_translated_fig_group_with_its_graphic_in_one_language_is_one_figure_cited_by_the_group(tmp_path):
    # SciELO: <fig-group id="f1"> of a fig per language, the graphic inside the English one, no ids
    # on the figs; the Portuguese text cites the group's id
    paper = tmp_path / "p"
    png(paper / "gf01.tif")
    figs = ('<fig-group id="f1"><fig xml:lang="pt"><label>Figura 1</label><caption><title>Mapa da area.</title></caption></fig>'
            '<fig xml:lang="en"><label>Figure 1</label><caption><title>Map of the area.</title></caption>'
            '<graphic xlink:href="gf01.tif"/></fig></fig-group>')
    body = '<p>O parque fica no litoral (<xref ref-type="fig" rid="f1">figura 1</xref>).</p>'
    xml = article(figs, body).replace("<article ", '<article xml:lang="pt" ')
    (paper / "a.xml").write_text(xml, encoding="utf-8")
    rejects = Rejects()
    recs = list(read_jats_article(paper / "a.xml", rejects))
    assert [(r["figure_label"], r["caption"], r["image"]["path"]) for r in recs] == [("Figura 1", "Mapa da area.", "gf01.tif")]
    assert recs[0]["citation_contexts"] == ["O parque fica no litoral (figura 1)."]
    assert recs[0]["key"].split("_")[-2] == "f1" and len(rejects) == 0
    # an English article takes the English caption; a group of two figures (two graphics) stays two
    (paper / "a.xml").write_text(article(figs, body), encoding="utf-8")
    assert [r["caption"] for r in read_jats_article(paper / "a.xml", Rejects())] == ["Mapa da area."]
    (paper / "a.xml").write_text(xml.replace("<article ", '<article xml:lang="en" ', 1).replace(' xml:lang="pt" ', " ", 1),
                                 encoding="utf-8")
    assert [r["caption"] for r in read_jats_article(paper / "a.xml", Rejects())] == ["Map of the area."]
    png(paper / "gf02.png", seed=3)
    two = figs.replace('<caption><title>Mapa da area.</title></caption>', '<caption><title>Mapa da area.</title></caption>'
                       '<graphic xlink:href="gf02.png"/>')
    (paper / "a.xml").write_text(article(two, body), encoding="utf-8")
    assert [r["figure_label"] for r in read_jats_article(paper / "a.xml", Rejects())] == ["Figura 1", "Figure 1"]


def test_a_translated_fig_group_sharing_the_groups_graphic_is_cited_by_the_groups_id(tmp_path):
    paper = tmp_path / "p"
    png(paper / "g.png")
    figs = ('<fig-group id="f2"><fig xml:lang="pt"><label>Figura 2:</label><caption><title>Esquema.</title></caption></fig>'
            '<fig xml:lang="en"><label>Figure 2:</label><caption><title>Scheme.</title></caption></fig>'
            '<alternatives><graphic xlink:href="g.png"/><graphic xlink:href="g-small.jpg"/></alternatives></fig-group>')
    body = '<p>O aparato (<xref ref-type="fig" rid="f2">Figura 2</xref>) aquece a caixa.</p>'
    (paper / "a.xml").write_text(article(figs, body), encoding="utf-8")
    recs = list(read_jats_article(paper / "a.xml", Rejects()))
    assert [(r["figure_label"], r["citation_contexts"]) for r in recs] == [("Figura 2:", ["O aparato (Figura 2) aquece a caixa."])]


def test_an_appendix_figure_named_without_a_dash_cites_no_figure_of_the_paper(tmp_path):
    # "Appendix 1 Figure 1" (eLife's older tagging; other journals' "Appendix Figure 2") is the
    # appendix's figure, marked or not; only the paper's own "Figure 1" cites Figure 1
    paper = tmp_path / "p"
    png(paper / "f1.png")
    png(paper / "a1.png", seed=1)
    figs = ('<fig id="f1"><label>Figure 1</label><caption><p>Map.</p></caption><graphic xlink:href="f1.png"/></fig>'
            '<app><fig id="a1"><label>Appendix 1 Figure 1</label><caption><p>Ramp.</p></caption><graphic xlink:href="a1.png"/></fig></app>')
    body = ('<p>Target motion was a step ramp (<xref ref-type="fig" rid="a1">Appendix 1 Figure 1</xref>). '
            'The fits are in Appendix Figure 1 and Box 2 Figure 1. Figure 1 shows the site. '
            'SI Appendix, Fig. S1 has the rest.</p>')
    (paper / "a.xml").write_text(article(figs, body), encoding="utf-8")
    recs = {r["figure_label"]: r["citation_contexts"] for r in read_jats_article(paper / "a.xml", Rejects())}
    assert recs == {"Figure 1": ["Figure 1 shows the site."],
                    "Appendix 1 Figure 1": ["Target motion was a step ramp (Appendix 1 Figure 1)."]}


def test_mathml_fractions_roots_and_scripts_read_as_written_and_a_display_formulas_label_is_no_part_of_it(tmp_path):
    # eLife's MathML: <mfrac> read "12" for a half, an unconvertible script ran into its base
    # ("\u0393D", "\u0393s/3") and a display formula's <label>(14)</label> was glued before it
    paper = tmp_path / "p"
    png(paper / "f1.png")
    mml = 'xmlns:mml="http://www.w3.org/1998/Math/MathML"'

    def m(x: str) -> str:
        return f"<inline-formula><mml:math {mml}>{x}</mml:math></inline-formula>"

    half = m("<mml:mfrac><mml:mn>1</mml:mn><mml:mn>2</mml:mn></mml:mfrac>")
    gamma_d = m("<mml:msub><mml:mi>\u0393</mml:mi><mml:mi>D</mml:mi></mml:msub>")
    power = m("<mml:msup><mml:mi>\u0393</mml:mi><mml:mrow><mml:mi>s</mml:mi><mml:mo>/</mml:mo><mml:mn>3</mml:mn></mml:mrow></mml:msup>")
    prime = m("<mml:msup><mml:mi>\u0393</mml:mi><mml:mo>\u2032</mml:mo></mml:msup>")
    root = m("<mml:msqrt><mml:mi>x</mml:mi><mml:mo>+</mml:mo><mml:mn>1</mml:mn></mml:msqrt>")
    frac = m("<mml:mfrac><mml:mrow><mml:mi>a</mml:mi><mml:mo>+</mml:mo><mml:mi>b</mml:mi></mml:mrow><mml:msup><mml:mi>c</mml:mi>"
             "<mml:mn>2</mml:mn></mml:msup></mml:mfrac>")
    caption = f"A {half} dose; {gamma_d} against {power}, {prime} and {root}, ratio {frac}; 10<sup>th</sup> day, k<sub>cat</sub>."
    display = (f'<disp-formula id="e14"><label>(14)</label><mml:math {mml}><mml:msub><mml:mi>\u0393</mml:mi><mml:mi>D</mml:mi>'
               '</mml:msub><mml:mo>=</mml:mo><mml:mn>2</mml:mn></mml:math></disp-formula>')
    figs = f'<fig id="f1"><label>Figure 1</label><caption><p>{caption}</p></caption><graphic xlink:href="f1.png"/></fig>'
    body = f"<p>Figure 1 fits it by using{display}as before.</p>"
    (paper / "a.xml").write_text(article(figs, body), encoding="utf-8")
    rec = next(read_jats_article(paper / "a.xml", Rejects()))
    assert rec["caption"] == ("A 1/2 dose; \u0393_D against \u0393^(s/3), \u0393\u2032 and \u221a(x+1), ratio (a+b)/c\u00b2; "
                              "10th day, kcat.")
    assert rec["citation_contexts"] == ["Figure 1 fits it by using \u0393_D=2 as before."]


def test_a_figure_legend_printed_as_a_paragraph_is_no_citing_sentence(tmp_path):
    # bioRxiv (from Word): the supplementary figures' legends are body paragraphs opening with the
    # label in bold; they gave the figure "Fig. S1." as a citing sentence
    paper = tmp_path / "p"
    png(paper / "s1.png")
    figs = '<fig id="s1"><label>Figure S1.</label><caption><p>Dot plot.</p></caption><graphic xlink:href="s1.png"/></fig>'
    body = ('<p>Cells were sorted (<xref ref-type="fig" rid="s1">Fig. S1A</xref>).</p>'
            '<p><bold>Fig. S1.</bold> Dot plot of the sorting. Cells from each patient.</p>'
            '<p><bold>Note</bold> that Fig. S1 shows one patient.</p><p><bold>Figure S1</bold> shows a second.</p>')
    (paper / "a.xml").write_text(article(figs, body), encoding="utf-8")
    rec = next(read_jats_article(paper / "a.xml", Rejects()))
    assert rec["citation_contexts"] == ["Cells were sorted (Fig. S1A).", "Note that Fig. S1 shows one patient.",
                                        "Figure S1 shows a second."]


def test_a_figure_word_inside_a_web_address_or_file_name_cites_nothing(tmp_path):
    # PLOS ONE 2010: "... available from http://.../images/fig1data.txt" cited Figure 1
    body = ('<p>The data are at http://example.org/prostate/images/fig1data.txt and www.example.org/Fig1.png, '
            'the code in plot_fig1.py. Figure 1 shows the entropy.</p>')
    assert _figure_1_contexts(tmp_path, body) == ["Figure 1 shows the entropy."]


def _figure_1_contexts(tmp_path, body: str) -> list[str]:
    """The citing sentences ``body`` gives the one figure, "Figure 1", of an article."""
    paper = tmp_path / "p"
    png(paper / "f1.png")
    figs = '<fig id="f1"><label>Figure 1</label><caption><p>A plot.</p></caption><graphic xlink:href="f1.png"/></fig>'
    (paper / "a.xml").write_text(article(figs, body), encoding="utf-8")
    return next(read_jats_article(paper / "a.xml", Rejects()))["citation_contexts"]


def test_a_structured_abstracts_headings_are_set_off_from_their_text(tmp_path):
    # PLOS: <abstract><sec><title>Background</title><p>Treatment of ...</p></sec>...; it read
    # "Background Treatment of ... Methods and Findings Three recent ..."
    paper = tmp_path / "p"
    png(paper / "f1.png")
    xml = article('<fig id="f1"><label>Figure 1</label><caption><p>Map.</p></caption><graphic xlink:href="f1.png"/></fig>')
    structured = ('<abstract abstract-type="toc"><p>Teaser.</p></abstract><abstract><sec><title>Background</title><p>Treatment '
                  'is long.</p></sec><sec><title>Methods and Findings</title><p>We pooled data.</p></sec><sec><title>Objective:</title>'
                  '<p>to see.</p></sec></abstract>')
    (paper / "a.xml").write_text(xml.replace("<abstract><p>A.</p></abstract>", structured), encoding="utf-8")
    rec = next(read_jats_article(paper / "a.xml", Rejects()))
    assert rec["abstract"] == "Background: Treatment is long. Methods and Findings: We pooled data. Objective: to see."


def test_a_translated_fig_group_takes_a_caption_that_is_there(tmp_path):
    paper = tmp_path / "p"
    png(paper / "g.png")
    figs = ('<fig-group id="f1"><fig xml:lang="pt"><label>Figura 1</label></fig><fig xml:lang="en"><label>Figure 1</label>'
            '<caption><title>Map.</title></caption><graphic xlink:href="g.png"/></fig></fig-group>')
    xml = article(figs).replace("<article ", '<article xml:lang="pt" ')
    (paper / "a.xml").write_text(xml, encoding="utf-8")
    rejects = Rejects()
    assert [r["caption"] for r in read_jats_article(paper / "a.xml", rejects)] == ["Map."] and len(rejects) == 0


def test_the_doi_paragraph_closing_a_caption_or_abstract_is_left_out(tmp_path):
    # eLife 2012-2016: every caption and the abstract end in "<p><bold>DOI:</bold> <ext-link ...>http://dx.doi.org/...</ext-link></p>"
    paper = tmp_path / "p"
    png(paper / "f1.png")
    doi = '<p><bold>DOI:</bold> <ext-link ext-link-type="doi" xlink:href="10.7554/eLife.1.{n}">http://dx.doi.org/10.7554/eLife.1.{n}</ext-link></p>'
    figs = (f'<fig id="f1"><label>Figure 1.</label><caption><title>Heights.</title><p>See the DOI of the data.</p>{doi.format(n="003")}'
            '</caption><graphic xlink:href="f1.png"/></fig>')
    xml = article(figs).replace("<abstract><p>A.</p></abstract>", f"<abstract><p>People grew.</p>{doi.format(n='001')}</abstract>")
    (paper / "a.xml").write_text(xml, encoding="utf-8")
    rec = next(read_jats_article(paper / "a.xml", Rejects()))
    assert (rec["caption"], rec["abstract"]) == ("Heights. See the DOI of the data.", "People grew.")


def test_a_bracketed_reference_after_a_full_stop_belongs_to_the_sentence_before(tmp_path):
    # eLife 36409: "... absence of ADPR. (<xref>Figure 2—figure supplement 1</xref> and ...)." read as
    # a citing sentence of its own, "(Figure 2—figure supplement 1 and Figure 2—figure supplement 2)."
    paper = tmp_path / "p"
    png(paper / "f1.png")
    figs = '<fig id="f1"><label>Figure 1</label><caption><p>Map.</p></caption><graphic xlink:href="f1.png"/></fig>'
    body = '<p>We imaged the protein without ligand. (<xref ref-type="fig" rid="f1">Figure 1</xref>). The classes were clear.</p>'
    (paper / "a.xml").write_text(article(figs, body), encoding="utf-8")
    rec = next(read_jats_article(paper / "a.xml", Rejects()))
    assert rec["citation_contexts"] == ["We imaged the protein without ligand. (Figure 1)."]


def test_a_captions_panel_list_keeps_its_letters(tmp_path):
    # bioRxiv: <list list-type="alpha-upper"> of panels, no <label>s; the letters the PDF prints were lost
    paper = tmp_path / "p"
    png(paper / "f1.png")
    panels = ('<p><list list-type="alpha-upper"><list-item><p>Networks.</p></list-item><list-item><p>Degrees.</p></list-item>'
              '</list></p><p><list list-type="order"><list-item><label>i</label><p>Kept.</p></list-item></list></p>')
    figs = f'<fig id="f1"><label>Figure 1.</label><caption><title>Clusters.</title>{panels}</caption><graphic xlink:href="f1.png"/></fig>'
    body = '<p>See <xref ref-type="fig" rid="f1"/> and <list list-type="roman-lower"><list-item><p>one,</p></list-item>' \
           '<list-item><p>two</p></list-item></list> as in <xref ref-type="fig" rid="f1"/>.</p>'
    (paper / "a.xml").write_text(article(figs, body), encoding="utf-8")
    rec = next(read_jats_article(paper / "a.xml", Rejects()))
    assert rec["caption"] == "Clusters. (A) Networks. (B) Degrees. i Kept."
    assert rec["citation_contexts"] == ["See 1 and (i) one, (ii) two as in 1."]


def test_a_panel_of_another_papers_figure_cites_nothing(tmp_path):
    # eLife's kitchen-sink article: "... is shown in Figure 1A of another article (not linked here)"
    body = ('<p>A model is shown in Figure 1A of another article (not linked here). Figure 1B in Smith et al. 2010 differs. '
            'Figure 1 is an example.</p>')
    assert _figure_1_contexts(tmp_path, body) == ["Figure 1 is an example."]


def test_author_keywords_decide_when_neither_subjects_nor_journal_name_a_field(tmp_path):
    # SciELO: subject "Artigo" (an article type), keywords of phytochemistry. Read with the title and
    # abstract when the journal names no field either; a journal that names one (the botany journal
    # Hoehnea; Environmental Health Perspectives in test_jats_real) still comes first, and subjects that
    # name a field decide alone.
    paper = tmp_path / "p"
    png(paper / "f1.png")
    kwd = ("<kwd-group xml:lang=\"pt\"><kwd>fitoquímica</kwd><kwd>produtos naturais</kwd><kwd>radicais livres</kwd>"
           "</kwd-group></article-meta>")
    xml = article(fig("f1", "f1.png")).replace("</article-meta>", kwd)
    typed = xml.replace("<subject>Physics</subject>", "<subject>Artigo</subject>")

    def discipline(text: str) -> set[str]:
        (paper / "a.xml").write_text(text, encoding="utf-8")
        return {r["discipline"] for r in read_jats_article(paper / "a.xml", Rejects())}

    assert discipline(typed) == {"chemistry"}
    assert discipline(typed.replace(kwd, "</article-meta>")) == {"other"}  # (before: "other" with keywords too)
    journal = "<front><journal-meta><journal-title-group><journal-title>Hoehnea</journal-title></journal-title-group></journal-meta>"
    assert discipline(typed.replace("<front>", journal)) == {"biology"}
    assert discipline(xml) == {"physics"}
