"""JATS reader: bad input becomes a reasoned reject and the run goes on; safe parsing and paths."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s1mmalign.builder.records.prepare import prepare_record
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.jats import is_jats_source, iter_oa_package, read_jats_article, resolve_media

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def article(figs: str, body: str = "") -> str:
    return HEAD + f"""<article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta>
<article-id pub-id-type="doi">10.5555/t.1</article-id>
<article-categories><subj-group><subject>Physics</subject></subj-group></article-categories>
<title-group><article-title>T</article-title></title-group><abstract><p>A.</p></abstract>
</article-meta></front><body>{body}{figs}</body></article>"""


def fig(fid: str, href: str | None, caption: str | None = "A plot of x.") -> str:
    cap = f"<caption><p>{caption}</p></caption>" if caption is not None else ""
    g = f'<graphic xlink:href="{href}"/>' if href is not None else ""
    return f'<fig id="{fid}"><label>Figure {fid[-1]}</label>{cap}{g}</fig>'


def png(path: Path, size=(80, 64), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype("uint8"))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def reasons(rejects: Rejects) -> list[str]:
    return [r.reason for r in rejects]


def test_bad_figures_are_rejects_and_good_ones_come_out(tmp_path):
    paper = tmp_path / "paper"
    png(paper / "ok.png")
    png(tmp_path / "secret.png", seed=9)  # outside the paper: must never be read
    figs = "".join([
        fig("f1", "ok"),  # no extension in the href: resolved to ok.png
        fig("f2", "../secret.png"),
        fig("f3", str(tmp_path / "secret.png")),
        fig("f4", "missing"),
        fig("f5", "ok.png", caption=None),
        fig("f6", "ok.png", caption="   "),
        fig("f7", None),
        fig("f8", "http://example.org/x.png"),
    ])
    (paper / "paper.nxml").write_text(article(figs), encoding="utf-8")
    rejects = Rejects()
    recs = list(read_jats_article(paper, rejects))
    assert [r["figure_label"] for r in recs] == ["Figure 1"]
    assert recs[0]["image"]["path"] == "ok.png"
    assert reasons(rejects) == ["unsafe_href", "unsafe_href", "missing_media", "no_caption", "no_caption",
                                "no_graphic", "unsafe_href"]
    assert all(r.stage == "jats" and r.key for r in rejects)
    assert "not followed" in list(rejects)[0].detail
    # the one record passes the contract
    rec, _ = prepare_record(recs[0])
    assert rec["discipline"] == "physics" and rec["modality"] == "other"


def test_malformed_xml_is_a_reject_and_next_article_is_read(tmp_path):
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    (bad / "bad.nxml").write_text(article(fig("f1", "a.png"))[:-40], encoding="utf-8")  # truncated
    png(good / "a.png")
    (good / "good.nxml").write_text(article(fig("f1", "a.png")), encoding="utf-8")
    rejects = Rejects()
    recs = [r for folder in (bad, good) for r in read_jats_article(folder, rejects)]
    assert len(recs) == 1 and reasons(rejects) == ["malformed_xml"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert list(read_jats_article(empty, rejects)) == [] and reasons(rejects)[-1] == "no_article_xml"


@pytest.mark.parametrize("doctype", [
    # billion laughs
    '<!DOCTYPE article [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    # external entity naming a local file
    '<!DOCTYPE article [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
])
def test_entities_are_refused(tmp_path, doctype):
    paper = tmp_path / "p"
    png(paper / "a.png")
    xml = article(fig("f1", "a.png", caption="&b; &x;")).replace(HEAD, HEAD + doctype + "\n")
    (paper / "p.nxml").write_text(xml, encoding="utf-8")
    rejects = Rejects()
    assert list(read_jats_article(paper, rejects)) == []
    assert reasons(rejects) == ["malformed_xml"]
    assert "root:" not in list(rejects)[0].detail


def test_best_media_and_tiff_to_png(tmp_path):
    paper = tmp_path / "p"
    paper.mkdir()
    rng = np.random.default_rng(0)
    big = Image.fromarray((rng.random((300, 400)) * 255).astype("uint8"), "L")
    big.save(paper / "g1.tif", "TIFF")
    big.resize((200, 150)).convert("RGB").save(paper / "g1.jpg", "JPEG")
    big.resize((100, 75)).save(paper / "g1.gif", "GIF")
    same = big.resize((200, 150)).convert("RGB")
    same.save(paper / "g2.jpg", "JPEG")
    same.save(paper / "g2.png", "PNG")  # same size: lossless wins
    assert [p.name for p in resolve_media(paper, "g1.tif")] == ["g1.tif", "g1.jpg", "g1.gif"]
    assert [p.name for p in resolve_media(paper, "g1.gif")][0] == "g1.tif"  # href names a thumbnail
    assert resolve_media(paper, "../p/g1") == []
    (paper / "a.nxml").write_text(article(fig("f1", "g1") + fig("f2", "g2.jpg")), encoding="utf-8")
    rejects = Rejects()
    recs = list(read_jats_article(paper, rejects))
    assert [r["image"]["path"] for r in recs] == ["g1.tif", "g2.png"]
    assert recs[0]["image"]["bytes"][:8] == b"\x89PNG\r\n\x1a\n" and (recs[0]["width"], recs[0]["height"]) == (400, 300)


def test_symlinked_media_leaving_the_paper_is_not_followed(tmp_path):
    paper = tmp_path / "p"
    paper.mkdir()
    png(tmp_path / "outside.png")
    (paper / "link.png").symlink_to(tmp_path / "outside.png")
    (paper / "a.nxml").write_text(article(fig("f1", "link.png")), encoding="utf-8")
    rejects = Rejects()
    assert list(read_jats_article(paper, rejects)) == [] and reasons(rejects) == ["missing_media"]


def _tar_gz(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)


def test_oa_package_good_corrupt_and_hostile(tmp_path):
    img = png(tmp_path / "x.png")
    xml = article(fig("f1", "g1")).encode()
    good = tmp_path / "PMC1.tar.gz"
    _tar_gz(good, {"PMC1/a.nxml": xml, "PMC1/g1.png": img})
    truncated = tmp_path / "PMC2.tar.gz"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    not_gzip = tmp_path / "PMC3.tar.gz"
    not_gzip.write_bytes(b"this is not an archive at all" * 10)
    hostile = tmp_path / "PMC4.tar.gz"
    _tar_gz(hostile, {"PMC4/a.nxml": xml, "PMC4/g1.png": img, "../escaped.txt": b"x", "/abs.txt": b"y"},
            links={"PMC4/evil.png": "/etc/passwd"})
    tmp_root = tmp_path / "tmp"
    tmp_root.mkdir()
    rejects = Rejects()
    recs = [r for p in (good, truncated, not_gzip, hostile) for r in iter_oa_package(p, rejects, tmp_dir=tmp_root)]
    assert len(recs) == 2
    assert reasons(rejects) == ["corrupt_archive", "corrupt_archive", "unsafe_member", "unsafe_member", "unsafe_member"]
    assert not (tmp_path / "escaped.txt").exists() and not Path("/abs.txt").exists()
    assert list(tmp_root.iterdir()) == []  # the temporary folders are gone
    assert is_jats_source(good) and not is_jats_source(not_gzip)


def test_is_jats_source(tmp_path):
    paper = tmp_path / "p"
    paper.mkdir()
    (paper / "a.xml").write_text(article(""), encoding="utf-8")
    (tmp_path / "notes.xml").write_text(HEAD + "<notes><n/></notes>", encoding="utf-8")
    plain = tmp_path / "latex.tar.gz"
    _tar_gz(plain, {"main.tex": b"\\documentclass{article}"})
    assert is_jats_source(paper) and is_jats_source(paper / "a.xml")
    assert not is_jats_source(tmp_path / "notes.xml") and not is_jats_source(plain)


def test_fig_inside_paragraph_formulas_and_marks(tmp_path):
    paper = tmp_path / "p"
    png(paper / "a.png")
    png(paper / "b.png", seed=1)
    body = ('<p>We fit <inline-formula><tex-math>y = ax^2</tex-math></inline-formula> (<xref ref-type="fig" rid="f1">Fig. 1</xref>).'
            + fig("f1", "a.png", caption="Fit of <italic>y</italic> vs <italic>x</italic><sup>2</sup>.")
            + ' Panel 2a is not cited by marker (see Fig. 2a).</p>')
    (paper / "a.nxml").write_text(article(fig("f2", "b.png"), body), encoding="utf-8")
    recs = {r["figure_label"]: r for r in read_jats_article(paper, Rejects())}
    assert recs["Figure 1"]["caption"] == "Fit of y vs x\u00b2."
    assert recs["Figure 1"]["citation_contexts"] == ["We fit $y = ax^2$ (Fig. 1)."]
    assert recs["Figure 2"]["citation_contexts"] == ["Panel 2a is not cited by marker (see Fig. 2a)."]
    assert recs["Figure 1"]["citation_count"] == 1


def test_html_named_entities_fig_group_alternatives_and_namespaces(tmp_path):
    paper = tmp_path / "p"
    png(paper / "a.png")
    png(paper / "b.png", seed=1)
    png(paper / "c.png", seed=2)
    figs = ('<fig-group id="g1"><caption><p>Group caption.</p></caption>'
            '<fig id="f1"><label>Figure 1</label><caption><p>Left&nbsp;side &mdash; a plot.</p></caption>'
            '<alternatives><graphic xlink:href="a"/><graphic xlink:href="a-thumb"/></alternatives></fig>'
            '<fig id="f2"><label>Figure 2</label><caption><p>Right side.</p></caption><graphic xlink:href="b"/></fig></fig-group>'
            '<fig id="f3"><label>Figure 3</label><caption><p>Third.</p></caption><inline-graphic xlink:href="x"/>'
            '<graphic xlink:href="c.png"/></fig>')
    xml = article(figs).replace("<article ", '<article xmlns="http://jats.nlm.nih.gov/ns/archiving/1.3/" ')
    (paper / "a.nxml").write_text(xml, encoding="utf-8")
    rejects = Rejects()
    recs = list(read_jats_article(paper, rejects))
    assert [(r["figure_label"], r["image"]["path"]) for r in recs] == [
        ("Figure 1", "a.png"), ("Figure 2", "b.png"), ("Figure 3", "c.png")]
    assert recs[0]["caption"] == "Left side \u2014 a plot." and len(rejects) == 0  # nbsp is whitespace
    assert recs[0]["title"] == "T" and recs[0]["categories"] == ["Physics"]
    # an entity no DTD names is still malformed
    (paper / "a.nxml").write_text(article(fig("f1", "a.png", caption="&madeup;")), encoding="utf-8")
    assert list(read_jats_article(paper, rejects)) == [] and reasons(rejects) == ["malformed_xml"]


def test_a_bilingual_fig_group_is_one_figure_with_the_groups_graphic(tmp_path):
    # SciELO: one <fig> per language (label and caption only) beside the group's one graphic
    paper = tmp_path / "p"
    png(paper / "g1.jpg")
    figs = ('<fig-group id="g1"><fig id="f1-pt" xml:lang="pt"><label>Figura 1</label><caption><p>Mapa da area.</p></caption></fig>'
            '<fig id="f1-en" xml:lang="en"><label>Figure 1</label><caption><p>Map of the area.</p></caption></fig>'
            '<alternatives><graphic xlink:href="g1.jpg"/><graphic xlink:href="g1.png"/></alternatives></fig-group>')
    (paper / "a.nxml").write_text(article(figs, "<p>A Figura 1 mostra o mapa.</p>"), encoding="utf-8")
    rejects = Rejects()
    recs = list(read_jats_article(paper, rejects))
    assert [(r["figure_label"], r["caption"], r["image"]["path"]) for r in recs] == [("Figura 1", "Mapa da area.", "g1.jpg")]
    assert recs[0]["citation_contexts"] == ["A Figura 1 mostra o mapa."] and len(rejects) == 0


def test_supplements_and_sub_articles_keep_their_own_citing_sentences(tmp_path):
    # eLife: "Figure 1—figure supplement 1" prints no number of its own; an author response's
    # image is cited by the response, and the response's sentences cite no figure of the paper
    paper = tmp_path / "p"
    for name in ("f1", "f1s1", "resp1"):
        png(paper / f"{name}.png", seed=len(name))
    figs = (fig("f1", "f1.png")
            + '<fig id="f1s1"><label>Figure 1\u2014figure supplement 1</label><caption><p>Controls.</p></caption>'
              '<graphic xlink:href="f1s1.png"/></fig>')
    body = ('<p>Figure 1 shows the fit. Controls are in <xref ref-type="fig" rid="f1s1">Figure 1\u2014figure supplement 1</xref>.</p>')
    response = ('<sub-article article-type="reply" id="sa2"><front-stub><title-group><article-title>Author response</article-title>'
                '</title-group></front-stub><body><p>We redrew Figure 1 as asked (<xref ref-type="fig" rid="resp1">Author response '
                'image 1</xref>).</p><fig id="resp1"><label>Author response image 1</label><caption><p>The redrawn fit.</p></caption>'
                '<graphic xlink:href="resp1.png"/></fig></body></sub-article>')
    xml = article(figs, body).replace("</body></article>", "</body>" + response + "</article>")
    (paper / "a.nxml").write_text(xml, encoding="utf-8")
    recs = {r["figure_label"]: r for r in read_jats_article(paper, Rejects())}
    assert recs["Figure 1"]["citation_contexts"] == ["Figure 1 shows the fit."]
    assert recs["Figure 1\u2014figure supplement 1"]["citation_contexts"] == ["Controls are in Figure 1\u2014figure supplement 1."]
    assert recs["Author response image 1"]["citation_contexts"] == ["We redrew Figure 1 as asked (Author response image 1)."]


def test_plos_doi_hrefs_jats_1_1_dates_and_scripts(tmp_path):
    paper = tmp_path / "p"
    png(paper / "journal.pone.0000217.g001.png")
    figs = ('<fig id="pone-0000217-g001"><label>Figure 1</label><caption><p>P&lt;5\u00d710<sup>\u22128</sup> for CO<sub>2</sub>; '
            '<inline-formula><mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mi>\u03b4</mml:mi><mml:mo>\u2062</mml:mo>'
            '<mml:msup><mml:mi>\u03b8</mml:mi><mml:mn>2</mml:mn></mml:msup></mml:math></inline-formula>.</p></caption>'
            '<graphic xlink:href="info:doi/10.1371/journal.pone.0000217.g001"/></fig>')
    dates = ('<pub-date publication-format="print" date-type="pub"><season>Summer</season><year>2019</year></pub-date>'
             '<pub-date publication-format="electronic" date-type="pub"><day>2</day><month>3</month><year>2020</year></pub-date>')
    xml = article(figs).replace("<title-group>", dates + "<title-group>")
    (paper / "a.nxml").write_text(xml, encoding="utf-8")
    rejects = Rejects()
    (rec,) = read_jats_article(paper, rejects)
    assert rec["image"]["path"] == "journal.pone.0000217.g001.png" and len(rejects) == 0
    assert rec["caption"] == "P<5\u00d710\u207b\u2078 for CO\u2082; \u03b4\u03b8\u00b2."  # no invisible times, exponents kept
    assert rec["year"] == 2020  # the electronic publication, not the print issue
    # any other scheme is still a URL, never followed
    (paper / "a.nxml").write_text(article(fig("f1", "info:ark/x/journal.pone.0000217.g001")), encoding="utf-8")
    assert list(read_jats_article(paper, rejects)) == [] and reasons(rejects)[-1] == "unsafe_href"


def test_a_label_printed_in_the_caption_is_the_label_when_there_is_no_label_element(tmp_path):
    # older OUP XML (Chemical Senses 2004): no <label>, the caption opens with "<bold>Figure 1</bold>";
    # the text cites it in plain text only
    paper = tmp_path / "paper"
    png(paper / "a.png")
    png(paper / "b.png", seed=1)
    png(paper / "c.png", seed=2)
    figs = ('<fig id="BJH047F1"><caption><p><bold>Figure 1</bold> Means of the indices.</p></caption>'
            '<graphic xlink:href="a"/></fig>'
            '<fig id="X2"><caption><title>Fig. 2.</title><p>Hits and misses.</p></caption><graphic xlink:href="b"/></fig>'
            '<fig id="X3"><caption><p>Figures of merit per site.</p></caption><graphic xlink:href="c"/></fig>')
    body = "<p>The indices were high (Figure 1). Misses were rare, see Fig. 2 and Figure 3.</p>"
    (paper / "paper.nxml").write_text(article(figs, body), encoding="utf-8")
    recs = list(read_jats_article(paper, Rejects()))
    assert [(r["figure_label"], r["caption"]) for r in recs] == [
        ("Figure 1", "Means of the indices."), ("Fig. 2", "Hits and misses."),
        ("X3", "Figures of merit per site.")]  # no number: the id, and the caption unchanged
    assert recs[0]["citation_contexts"] == ["The indices were high (Figure 1)."]
    assert recs[1]["citation_contexts"] == ["Misses were rare, see Fig. 2 and Figure 3."]


def test_a_figure_given_as_pdf_is_rendered_and_a_broken_one_is_a_reject(tmp_path):
    # Copernicus's XML names each figure's PDF ("asr-12-23-2015-f01.pdf")
    pytest.importorskip("pypdfium2")
    paper = tmp_path / "paper"
    paper.mkdir()
    Image.new("RGB", (300, 200), "white").save(paper / "f01.pdf")
    (paper / "f02.pdf").write_bytes(b"%PDF-1.4\n not a pdf at all")
    figs = fig("f1", "f01.pdf") + fig("f2", "f02.pdf")
    (paper / "paper.nxml").write_text(article(figs), encoding="utf-8")
    rejects = Rejects()
    recs = list(read_jats_article(paper, rejects))
    assert [r["figure_label"] for r in recs] == ["Figure 1"]
    assert recs[0]["image"]["bytes"][:4] == b"\x89PNG" and recs[0]["image_path"] == "f01.pdf"
    assert reasons(rejects) == ["pdf_render_failed"]


def test_a_license_stated_only_in_an_open_access_note_of_the_back_matter(tmp_path):
    # Springer Open Choice in PMC (Abdominal Imaging 2008): no <license>, a copyright line, and
    # <back><ack><title>Open Access</title><p>... Creative Commons Attribution Noncommercial License ...</p></ack>
    paper = tmp_path / "paper"
    png(paper / "a.png")
    note = ("<ack><title>Open Access</title><p>This article is distributed under the terms of the Creative Commons "
            "Attribution Noncommercial License which permits any noncommercial use.</p></ack>")
    xml = article(fig("f1", "a")).replace("</body>", f"</body><back>{note}</back>")
    xml = xml.replace("</abstract>", "</abstract><permissions><copyright-statement>© Springer 2008"
                                     "</copyright-statement></permissions>")
    (paper / "paper.nxml").write_text(xml, encoding="utf-8")
    assert [r["license"] for r in read_jats_article(paper, Rejects())] == ["CC-BY-NC"]
    # an acknowledgement that only thanks someone names no license
    (paper / "paper.nxml").write_text(xml.replace("Open Access", "Acknowledgements"), encoding="utf-8")
    assert [r["license"] for r in read_jats_article(paper, Rejects())] == [""]


def test_unlabelled_figures_cited_by_empty_xrefs_are_numbered_in_order(tmp_path):
    # Copernicus (XML made from LaTeX by xmltex): no <label>, citations are empty <xref/>, appendix figures A1, ...
    paper = tmp_path / "paper"
    for i, name in enumerate(["f01", "f02", "a01"]):
        png(paper / f"{name}.png", seed=i)

    def cfig(fid: str, href: str) -> str:
        return f'<fig id="{fid}"><caption><p>Soil temperature {href}.</p></caption><graphic xlink:href="{href}.png"/></fig>'

    body = ('<sec><p>The peak is damped with depth (see Fig. <xref ref-type="fig" rid="Ch1.F1"/>).</p>'
            + cfig("Ch1.F1", "f01") + cfig("Ch1.F2", "f02")
            + '<p>Both are shown in Figs. <xref ref-type="fig" rid="Ch1.F1"/> and <xref ref-type="fig" rid="Ch1.F2"/>.</p></sec>')
    app = '<back><app-group><app id="App1"><title>Extra</title>' + cfig("App1.Ch1.F1", "a01") + '</app></app-group></back>'
    xml = article("", body).replace("</body>", "</body>" + app)
    (paper / "paper.nxml").write_text(xml, encoding="utf-8")
    recs = {r["figure_label"]: r for r in read_jats_article(paper, Rejects())}
    assert list(recs) == ["Figure 1", "Figure 2", "Figure A1"]
    assert recs["Figure 1"]["citation_contexts"] == ["The peak is damped with depth (see Fig. 1).",
                                                     "Both are shown in Figs. 1 and 2."]
    assert recs["Figure 2"]["citation_contexts"] == ["Both are shown in Figs. 1 and 2."]
    # one labelled figure: no numbering is invented, the others keep their ids
    (paper / "paper.nxml").write_text(xml.replace('<caption><p>Soil temperature f02', '<label>Figure 2</label>'
                                                  '<caption><p>Soil temperature f02'), encoding="utf-8")
    assert [r["figure_label"] for r in read_jats_article(paper, Rejects())] == ["Ch1.F1", "Figure 2", "App1.Ch1.F1"]


def test_empty_xrefs_to_unlabelled_tables_equations_and_sections_print_their_numbers(tmp_path):
    # Copernicus again: tables, numbered equations and sections carry no <label> either; a sentence
    # citing a figure read "Table ." and "Eq. ()" before
    paper = tmp_path / "paper"
    png(paper / "f01.png", seed=1)
    tab = '<table-wrap id="Ch1.T{n}"><caption><p>Stations {n}.</p></caption><table><tr><td>x</td></tr></table></table-wrap>'
    eq = '<disp-formula id="Ch1.E{n}" content-type="numbered"><tex-math>a={n}</tex-math></disp-formula>'
    body = ('<sec id="Ch1.S1"><title>Intro</title><p>Data.</p>' + tab.format(n=1) + eq.format(n=1)
            + '<disp-formula id="Ch1.Ex1"><tex-math>b=0</tex-math></disp-formula></sec>'
            '<sec id="Ch1.S2"><title>Method</title><sec id="Ch1.S2.SS1"><title>QC</title><p>'
            + eq.format(n=2) + tab.format(n=2) + '</p><p>With the stations of Table <xref ref-type="table" rid="Ch1.T2"/> '
            'and Eq. (<xref ref-type="disp-formula" rid="Ch1.E2"/>), the envelope of Sect. <xref ref-type="sec" '
            'rid="Ch1.S2.SS1"/> is drawn in Fig. <xref ref-type="fig" rid="Ch1.F1"/>.</p>'
            '<fig id="Ch1.F1"><caption><p>Envelope.</p></caption><graphic xlink:href="f01.png"/></fig></sec></sec>')
    app = ('<back><app-group><app id="App1"><title>Extra</title><p>See Table <xref ref-type="table" rid="App1.Ch1.T1"/> '
           'and Fig. <xref ref-type="fig" rid="Ch1.F1"/>.</p>'
           '<table-wrap id="App1.Ch1.T1"><caption><p>More.</p></caption><table><tr><td>y</td></tr></table></table-wrap>'
           '</app></app-group></back>')
    (paper / "paper.nxml").write_text(article("", body).replace("</body>", "</body>" + app), encoding="utf-8")
    [rec] = read_jats_article(paper, Rejects())
    assert rec["citation_contexts"] == [
        "With the stations of Table 2 and Eq. (2), the envelope of Sect. 2.1 is drawn in Fig. 1.",
        "See Table A1 and Fig. 1."]
    # a kind the text labels anywhere is left alone: its numbers are not known
    xml = (paper / "paper.nxml").read_text().replace('<caption><p>Stations 1.', '<label>Table 7</label><caption><p>Stations 1.')
    (paper / "paper.nxml").write_text(xml, encoding="utf-8")
    [rec] = read_jats_article(paper, Rejects())
    assert rec["citation_contexts"][0] == "With the stations of Table and Eq. (2), the envelope of Sect. 2.1 is drawn in Fig. 1."
    # sections nested 20,000 deep (hostile) are numbered without recursion
    deep = '<sec id="s">' * 20000 + "<p>x</p>" + "</sec>" * 20000
    (paper / "paper.nxml").write_text(article("", deep + body), encoding="utf-8")
    assert len(list(read_jats_article(paper, Rejects()))) == 1


def test_a_placeholder_doi_is_no_paper_id(tmp_path):
    # every JOSS draft (openjournals/inara) says <article-id pub-id-type="doi">N/A</article-id>: two drafts
    # must not share a paper id, nor their figures one key
    keys = []
    for name in ("dctmd", "pedon"):
        paper = tmp_path / name
        png(paper / "a.png", seed=len(keys))
        xml = article(fig("f1", "a")).replace("10.5555/t.1", "N/A")
        (paper / f"{name}.nxml").write_text(xml, encoding="utf-8")
        (rec,) = read_jats_article(paper, Rejects())
        assert rec["paper_id"] == name
        keys.append(rec["key"])
    assert keys[0] != keys[1]


def test_a_caption_title_cut_inside_brackets_runs_on_into_its_paragraph(tmp_path):
    # Scientific Reports (PMC5000010): <title>... phases (see</title><p><xref>Fig. 3</xref>). For ...</p>
    paper = tmp_path / "paper"
    png(paper / "a.png")
    png(paper / "b.png", seed=1)
    figs = ('<fig id="f6"><label>Figure 6</label><caption><title>Patterns after decompression (see</title>'
            '<p><xref ref-type="fig" rid="f3">Fig. 3</xref>). For comparison, HDA.</p></caption><graphic xlink:href="a"/></fig>'
            '<fig id="f7"><label>Figure 7</label><caption><title>Patterns of ice (VII) at 4 GPa</title>'
            '<p>Sharp peaks are lead.</p></caption><graphic xlink:href="b"/></fig>')
    (paper / "paper.nxml").write_text(article(figs), encoding="utf-8")
    assert [r["caption"] for r in read_jats_article(paper, Rejects())] == [
        "Patterns after decompression (see Fig. 3). For comparison, HDA.",
        "Patterns of ice (VII) at 4 GPa. Sharp peaks are lead."]


def test_a_fig_labelled_table_is_a_table_image_reject(tmp_path):
    # Clinical Infectious Diseases 2003 (OUP): its tables are images in <fig> elements labelled "Table 1" ...
    paper = tmp_path / "paper"
    png(paper / "a.png")
    png(paper / "b.png", seed=1)
    figs = ('<fig id="fig1"><label>Figure 1</label><caption><p>Survival by CD4 count.</p></caption><graphic xlink:href="a"/></fig>'
            '<fig id="tab1"><label>Table 1</label><caption><p>Characteristics of 118 patients.</p></caption>'
            '<graphic xlink:href="b"/></fig>')
    (paper / "paper.nxml").write_text(article(figs), encoding="utf-8")
    rejects = Rejects()
    assert [r["figure_label"] for r in read_jats_article(paper, rejects)] == ["Figure 1"]
    assert reasons(rejects) == ["table_image"]


def test_a_taxpub_nomenclature_line_cites_the_figures_it_names(tmp_path):
    # ZooKeys 466 (Pensoft, TaxPub): the habitus plates are cited only in each treatment's nomenclature line
    paper = tmp_path / "paper"
    png(paper / "a.png")
    treatment = ('<sec><tp:taxon-treatment xmlns:tp="http://www.plazi.org/taxpub"><tp:nomenclature><tp:taxon-name>'
                 '<tp:taxon-name-part taxon-name-part-type="genus">Bruchus</tp:taxon-name-part> '
                 '<tp:taxon-name-part taxon-name-part-type="species">loti</tp:taxon-name-part></tp:taxon-name> '
                 '<tp:taxon-authority>Paykull, 1800</tp:taxon-authority> '
                 '<xref ref-type="fig" rid="F1">Figs 21\u201322</xref></tp:nomenclature></tp:taxon-treatment></sec>')
    figs = '<fig id="F1"><label>Figures 13\u201326.</label><caption><p>Bruchinae, dorsal view.</p></caption><graphic xlink:href="a"/></fig>'
    (paper / "paper.nxml").write_text(article(figs, treatment), encoding="utf-8")
    (rec,) = read_jats_article(paper, Rejects())
    assert rec["citation_contexts"] == ["Bruchus loti Paykull, 1800 Figs 21\u201322"]
