"""arXiv sources: paper ids, archives (bulk tars, per-paper files), metadata, figure records, rasterising."""

import gzip
import io
import json
import random
import tarfile
from pathlib import Path

import pytest
from PIL import Image

import s1mmalign_dataset as contract
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.arxiv import (
    ArxivMetadata,
    PaperUnreadable,
    ReaderOptions,
    files_from_bytes,
    iter_bulk_tar,
    paper_id_from_name,
    paper_records,
    read_paper_path,
)
from s1mmalign.builder.sources.rasterize import RasterizeError, rasterize
from s1mmalign.builder.stages.filters import filter_records

SAMPLE = Path(__file__).parents[1] / "builder" / "sample" / "papers"
EPS = (SAMPLE / "2401.00002" / "hist.eps").read_bytes()
# PostScript that Ghostscript refuses (an undefined operator), padded past the 5 KB rule.
BAD_EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nnewpath 0 0 moveto thisisnotanoperator\n" + b"%pad\n" * 1200


def noise_image(seed: int, size=(120, 90), fmt="PNG") -> bytes:
    rnd = random.Random(seed)
    img = Image.frombytes("RGB", size, bytes(rnd.randrange(256) for _ in range(size[0] * size[1] * 3)))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def tar_bytes(files: dict[str, bytes], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def doc(body: str) -> bytes:
    return f"\\documentclass{{article}}\\begin{{document}}\\title{{T}}{body}\\end{{document}}".encode()


@pytest.mark.parametrize("name, pid", [
    ("2401/2401.00123.gz", "2401.00123"), ("2401.00123v2.tar.gz", "2401.00123"), ("1501.0001.gz", "1501.0001"),
    ("0601/astro-ph0601001.gz", "astro-ph/0601001"), ("math.AG0101001.gz", "math.AG/0101001"), ("my-paper/", "my-paper"),
])
def test_paper_id_from_name(name, pid):
    assert paper_id_from_name(name) == pid


def test_files_from_bytes_kinds_and_bad_input():
    tex = doc("hello")
    assert files_from_bytes("a.gz", gzip.compress(tex)).names() == ["main.tex"]
    files = files_from_bytes("b.gz", tar_bytes({"ms.tex": tex, "figs/a.png": b"x", "../evil.tex": b"x", "/abs.tex": b"x"}))
    assert files.names() == ["figs/a.png", "ms.tex"]  # names leaving the paper are dropped
    with pytest.raises(PaperUnreadable) as e:
        files_from_bytes("c.gz", gzip.compress(bytes(range(256)) * 20))
    assert e.value.reason == "not_tar_or_tex"
    with pytest.raises(PaperUnreadable) as e:
        files_from_bytes("d.gz", b"\x1f\x8b\x08\x00garbage-not-deflate")
    assert e.value.reason == "corrupt_archive"
    whole = gzip.compress(tar_bytes({"ms.tex": tex * 200}, compress=False))
    with pytest.raises(PaperUnreadable) as e:
        files_from_bytes("e.gz", whole[: len(whole) // 2])
    assert e.value.reason == "corrupt_archive"
    with pytest.raises(PaperUnreadable) as e:
        files_from_bytes("f.gz", gzip.compress(b"%PDF-1.5 ..."))
    assert e.value.reason == "no_latex_source"
    with pytest.raises(PaperUnreadable) as e:
        files_from_bytes("g.gz", gzip.compress(b"x" * 5000), ReaderOptions(max_paper_bytes=1000))
    assert e.value.reason == "paper_too_large"


def _bulk(path: Path, members: dict[str, bytes]) -> Path:
    path.write_bytes(tar_bytes(members, compress=False))
    return path


def test_bulk_tar_streams_papers_and_survives_bad_members(tmp_path):
    good = tar_bytes({"main.tex": doc(r"\begin{figure}\includegraphics{a}\caption{A.}\end{figure}"), "a.png": noise_image(1)})
    bulk = _bulk(tmp_path / "arXiv_src_2401_001.tar", {
        "2401/2401.00001.gz": good,
        "2401/2401.00002.gz": gzip.compress(doc("single tex")),
        "2401/2401.00003.gz": gzip.compress(bytes(range(256)) * 30),
        "2401/2401.00004.pdf": b"%PDF-1.4 no source",
        "2401/2401.00005.gz": b"\x1f\x8b\x08\x00broken",
        "2401/2401.00006.gz": gzip.compress(doc("last")),
    })
    rejects = Rejects()
    papers = list(iter_bulk_tar(bulk, rejects))
    assert [pid for pid, _ in papers] == ["2401.00001", "2401.00002", "2401.00006"]
    assert sorted(r.reason for r in rejects) == ["corrupt_archive", "no_latex_source", "not_tar_or_tex"]

    # truncated bulk tar: the papers before the cut come out, the cut is one reject
    data = bulk.read_bytes()
    cut = tmp_path / "arXiv_src_2401_002.tar"
    second_member_data = 512 + -(-len(good) // 512) * 512 + 512  # header, padded first member, second header
    cut.write_bytes(data[: second_member_data + 10])
    rejects = Rejects()
    assert [pid for pid, _ in iter_bulk_tar(cut, rejects)] == ["2401.00001"]
    assert [r.reason for r in rejects] == ["corrupt_archive"]
    # not a tar at all
    junk = tmp_path / "arXiv_src_2401_003.tar"
    junk.write_bytes(b"not a tar" * 100)
    rejects = Rejects()
    assert list(iter_bulk_tar(junk, rejects)) == [] and [r.reason for r in rejects] == ["corrupt_archive"]


def test_metadata_lookup(tmp_path):
    meta = tmp_path / "meta.jsonl"
    rows = [{"id": "2401.00001", "title": "A\n  title", "abstract": "  Abs \n", "categories": "astro-ph.GA cs.LG",
             "license": "http://creativecommons.org/licenses/by/4.0/", "doi": "10.1/x"},
            {"id": "astro-ph/0601001", "title": "Old", "abstract": "", "categories": "astro-ph", "license": None}]
    meta.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    m = ArxivMetadata(meta)
    assert len(m) == 2
    got = m.get("2401.00001")
    assert got == {"title": "A title", "abstract": "Abs", "categories": ["astro-ph.GA", "cs.LG"],
                   "license": "http://creativecommons.org/licenses/by/4.0/", "doi": "10.1/x"}
    assert m.get("2401.00001v3")["title"] == "A title"
    assert m.get("astro-ph/0601001")["license"] == "" and m.get("9999.99999") is None


def test_rasterize_eps_and_pdf_and_refusals():
    png = rasterize("hist.eps", EPS)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size[0] > 200 and img.size[1] > 150
    pdf = io.BytesIO()
    Image.open(io.BytesIO(noise_image(3))).save(pdf, format="PDF", resolution=72)
    w, h = Image.open(io.BytesIO(rasterize("x.pdf", pdf.getvalue()))).size  # 150 dpi
    assert abs(w - 120 * 150 / 72) <= 1 and abs(h - 90 * 150 / 72) <= 1
    assert Image.open(io.BytesIO(rasterize("x.eps.gz", gzip.compress(EPS)))).format == "PNG"
    with pytest.raises(RasterizeError) as e:
        rasterize("bad.eps", BAD_EPS)
    assert e.value.reason == "ghostscript_failed"
    with pytest.raises(RasterizeError) as e:
        rasterize("bad.pdf", b"%PDF-1.4 this is not a pdf" * 300)
    assert e.value.reason == "pdf_render_failed"


def test_paper_records_fields_images_and_rejects():
    body = r"""
\begin{figure}\includegraphics{png_fig}\caption{A PNG figure with $\alpha$.}\label{fig:png}\end{figure}
\begin{figure}\includegraphics{eps_fig}\caption{An EPS figure.}\label{fig:eps}\end{figure}
\begin{figure}\includegraphics{pdf_fig.pdf}\includegraphics{png_fig}\caption{Two panels.}\label{fig:two}\end{figure}
\begin{figure}\includegraphics{tiny}\caption{Tiny icon.}\end{figure}
\begin{figure}\includegraphics{gone}\caption{Missing file.}\end{figure}
\begin{figure}\includegraphics{bad}\caption{Refused EPS.}\end{figure}
\begin{figure}\includegraphics{png_fig}\end{figure}
\begin{figure}\begin{tikzpicture}\end{tikzpicture}\caption{Drawn.}\end{figure}
\begin{table}\includegraphics{png_fig}\caption{A table as an image.}\end{table}
\begin{figure}\includegraphics{noise}\caption{Corrupt PNG.}\end{figure}
As Fig.~\ref{fig:png} shows, it works. Fig.~\ref{fig:png} again. See also Figs.~\ref{fig:png}--\ref{fig:two}.
"""
    pdf = io.BytesIO()
    Image.open(io.BytesIO(noise_image(5))).save(pdf, format="PDF")
    from s1mmalign.builder.sources.latex import PaperFiles

    files = PaperFiles({"main.tex": doc(body), "png_fig.png": noise_image(4), "eps_fig.eps": EPS, "pdf_fig.pdf": pdf.getvalue(),
                        "tiny.png": noise_image(6, size=(8, 8)), "bad.eps": BAD_EPS, "noise.png": noise_image(7)[:6000]})
    meta = {"title": "Meta title", "abstract": "Meta abstract", "categories": ["astro-ph.GA", "cs.LG"], "license": "CC-BY-4.0"}
    rejects = Rejects()
    recs = list(paper_records("2401.00009", files, rejects, meta))
    # the 8x8 icon is read (the reader has no size rule); the filter stage drops it by its pixels
    icon = recs.pop()
    assert icon["figure_label"] == "Figure 4" and (icon["width"], icon["height"]) == (8, 8)
    dropped = Rejects()
    assert filter_records([icon], dropped) == [] and [r.reason for r in dropped] == ["too_small"]
    assert [r["figure_label"] for r in recs] == ["fig:png", "fig:eps", "fig:two"]
    for r in recs:
        contract.validate_record(r)
        assert r["title"] == "Meta title" and r["discipline"] == "astronomy" and r["license"] == "CC-BY-4.0"
        assert r["source"] == "arxiv" and r["key"] == contract.make_key("arxiv", "2401.00009", r["figure_label"])
        assert Image.open(io.BytesIO(r["image"]["bytes"])).format == "PNG"
    png, eps, two = recs
    assert png["caption"] == "A PNG figure with α." and png["image"]["bytes"] == noise_image(4)  # PNG kept as is
    assert png["citation_count"] == 3 and png["citation_contexts"] == [
        "As Fig. 1 shows, it works.", "Fig. 1 again.", "See also Figs. 1–3."]
    assert eps["citation_contexts"] == ["See also Figs. 1–3."]  # inside the range
    assert two["multi_panel"] is True and two["image_path"] == "2401.00009/pdf_fig.pdf;png_fig.png"
    assert two["width"] > Image.open(io.BytesIO(noise_image(4))).width * 2  # panels side by side
    reasons = sorted(r.reason for r in rejects)
    assert reasons == sorted(["missing_figure_file", "ghostscript_failed", "no_caption", "no_graphics", "table_image", "truncated"])
    by_reason = {r.reason: r for r in rejects}
    assert "gone" in by_reason["missing_figure_file"].detail and by_reason["truncated"].field == "image"


def test_paper_records_without_metadata_uses_the_latex_title():
    files = read_paper_path(SAMPLE / "2401.00002")
    recs = list(paper_records("2401.00002", files, Rejects()))
    assert recs[0]["title"] == "The stellar mass function of dwarf galaxies in the Local Volume"
    assert recs[0]["abstract"].startswith("We measure stellar masses") and recs[0]["categories"] == []
    # no categories: the LaTeX title and abstract decide ("galaxies", "stellar")
    assert recs[0]["discipline"] == "astronomy" and recs[0]["license"] == ""
    assert {r["year"] for r in recs} == {2024}  # January 2024, from the identifier


def test_paper_problems_are_rejects_and_the_paper_goes_on():
    from s1mmalign.builder.sources.latex import PaperFiles

    files = PaperFiles({"main.tex": doc(r"\input{main}\begin{figure}\includegraphics{a}\caption{Kept.}\end{figure} {unbalanced"),
                        "a.png": noise_image(8)})
    rejects = Rejects()
    recs = list(paper_records("2401.00010", files, rejects))
    assert [r["caption"] for r in recs] == ["Kept."]
    assert sorted(r.reason for r in rejects) == ["recursive_input", "unbalanced_braces"]
    assert all(r.field == "paper" for r in rejects)


def test_pdf_fallback_renderer_poppler():
    """The ``pdftoppm`` path used when pypdfium2 is not installed renders the page at the asked
    resolution (checked against the page size itself: pypdfium2 need not be installed)."""
    import shutil

    from s1mmalign.builder.sources.rasterize import render_pdf

    if shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdftoppm) is not installed; .ci/run installs it")
    pdf = io.BytesIO()
    src = Image.open(io.BytesIO(noise_image(9)))
    src.save(pdf, format="PDF", resolution=72)  # one pixel per point
    a = Image.open(io.BytesIO(render_pdf(pdf.getvalue(), dpi=100, renderer="pdftoppm")))
    want = (round(src.size[0] * 100 / 72), round(src.size[1] * 100 / 72))
    assert a.format == "PNG" and abs(a.size[0] - want[0]) <= 1 and abs(a.size[1] - want[1]) <= 1
    with pytest.raises(RasterizeError) as e:
        render_pdf(b"%PDF-1.4 broken" * 100, dpi=100, renderer="pdftoppm")
    assert e.value.reason == "pdf_render_failed"
