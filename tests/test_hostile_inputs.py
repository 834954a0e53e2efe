"""Hostile inputs (issue 15): each test names the hole it guards; each failed on the main of 2026-12-06."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

import pytest
from conftest import draw_figure, make_record
from PIL import Image

from s1mmalign.builder.commands.cli import main as cli_main
from s1mmalign.builder.records.manifest import read_manifest, write_manifest
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.sources.arxiv import PaperFiles, files_from_bytes, paper_records
from s1mmalign.builder.sources.jats import iter_oa_package, read_jats_article
from s1mmalign.builder.sources.latex import parse_paper
from s1mmalign.builder.sources.rasterize import RasterizeError, gunzip_bounded, rasterize, render_pdf
from s1mmalign.core.images import ImageRejected, normalize_image
from s1mmalign.core.limits import Limits, limits

needs_gs = pytest.mark.skipif(shutil.which("gs") is None, reason="Ghostscript not installed; .ci/run installs it")


@pytest.fixture
def small_limits(monkeypatch):
    """Set S1MMALIGN_LIMIT_* for one test (limits are read once per process: reread around it)."""
    def set_(**kw):
        for k, v in kw.items():
            monkeypatch.setenv(f"S1MMALIGN_LIMIT_{k.upper()}", str(v))
        limits.cache_clear()
    yield set_
    monkeypatch.undo()
    limits.cache_clear()


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# -- 1. recaption's arbitrary file write ---------------------------------------------------------------


def test_recaption_never_writes_outside_out(tmp_path):
    """A manifest key ``../../x/evil`` made ``recaption`` write the image to ``x/evil.pth`` outside OUT."""
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "images" / "x.pth").write_bytes(draw_figure(1))
    good = {**make_record(1), "image": "images/x.pth"}
    evil = {**make_record(2), "key": "../../escape/evil", "image": "images/x.pth"}
    nl = {**make_record(3), "key": "ok\n", "image": "images/x.pth"}  # a key that only `re.match` with `$` let through
    (src / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (good, evil, nl)))
    work = tmp_path / "deep" / "er"
    before = _tree(tmp_path)
    rc = cli_main(["recaption", str(src / "manifest.jsonl"), str(work / "out.jsonl"), "--backend", "context",
                   "--no-cache", "--no-progress"])
    assert rc == 0
    new = _tree(tmp_path) - before
    assert new and all(p == "deep" or p.startswith("deep/er") for p in new), new
    assert not (tmp_path / "escape").exists()
    rejects = Rejects.read_jsonl(work / "out.rejects.jsonl")
    assert [r.reason for r in rejects] == ["bad_key", "bad_key"]
    assert [json.loads(line)["key"] for line in (work / "out.jsonl").read_text().splitlines()] == [good["key"]]
    with pytest.raises(ValueError, match="key"):  # the writer checks on its own too: no path from a bad key
        write_manifest([{**make_record(4), "key": "../up"}], tmp_path / "m2" / "manifest.jsonl")
    assert not (tmp_path / "up.png").exists()


def test_a_key_written_twice_keeps_the_first_records_image(tmp_path):
    # two papers whose ids collide (JOSS drafts all said DOI 'N/A'): the second image replaced the first's
    first = {**make_record(1), "key": "pmc_N_A_fig1_1e1c1f57", "image": {"bytes": draw_figure(1), "path": "a.png"}}
    second = {**make_record(2), "key": "pmc_N_A_fig1_1e1c1f57", "image": {"bytes": draw_figure(2), "path": "b.png"}}
    rejects = Rejects()
    out = tmp_path / "m" / "manifest.jsonl"
    assert write_manifest([first, second], out, rejects=rejects) == 1
    assert [r.reason for r in rejects] == ["duplicate_key"]
    (rec,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (out.parent / rec["image"]).read_bytes() == draw_figure(1)
    with pytest.raises(ValueError, match="written twice"):
        write_manifest([first, second], tmp_path / "m2" / "manifest.jsonl")


# -- 5. one bad manifest line is one reject ---------------------------------------------------------


def test_bad_manifest_lines_are_rejected_line_by_line(tmp_path, small_limits):
    """Invalid UTF-8, a lone surrogate or 10**30 ended ``write``; duplicate keys passed (last won); a
    20 MB caption was stored whole."""
    (tmp_path / "images").mkdir()
    lines = []
    for i in range(3):
        (tmp_path / "images" / f"{i}.png").write_bytes(draw_figure(i))
    good = [dict(make_record(i), image=f"images/{i}.png") for i in range(3)]
    for r in good:
        r.pop("recaption")
    lines.append(json.dumps(good[0]).encode())
    lines.append(json.dumps(dict(good[1], caption="caf\xe9")).encode().replace(b"caf\\u00e9", b"caf\xe9"))  # latin-1 byte
    lines.append(json.dumps(dict(good[1], caption="x")).replace('"x"', '"\\ud800"').encode())  # lone surrogate
    lines.append(json.dumps(dict(good[1], citation_count=1)).replace('"citation_count": 1', '"citation_count": ' + "1" * 31).encode())
    lines.append(json.dumps(good[1]).replace('"key"', '"caption": "dup", "key"', 1).encode())  # duplicate key
    lines.append(json.dumps(dict(good[1], caption="a" * 70_000)).encode())
    lines.append(json.dumps(dict(good[1], caption="pair \ud83d\ude00", key="pair_ok"), ensure_ascii=True).encode())
    lines.append(b'{"caption": "' + b"z" * 300_000 + b'"}')  # over the line limit: never held whole
    lines.append(json.dumps(good[2]).encode())
    small_limits(manifest_line_bytes=200_000)
    (tmp_path / "manifest.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rejects = Rejects()
    recs = list(read_manifest(tmp_path / "manifest.jsonl", rejects))
    details = [(r.reason, r.detail.split(":")[1]) for r in rejects]
    assert details == [("malformed_json", "2"), ("malformed_json", "3"), ("malformed_json", "5"),
                       ("line_too_long", "8")], details
    report = write_dataset(recs, tmp_path / "out", rejects=rejects)
    by = report["rejects_by_reason"]
    assert by == {"malformed_json": 3, "line_too_long": 1, "bad_field": 1, "field_too_large": 1}, by
    assert report["written"] == 3  # good[0], the surrogate pair (a real character), good[2]
    rc = cli_main(["write", str(tmp_path / "manifest.jsonl"), str(tmp_path / "out2"), "--no-progress"])
    assert rc == 0


# -- 5. / 7. JATS ---------------------------------------------------------------------------------------


def _article(caption_xml: str) -> str:
    return ('<?xml version="1.0"?><article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta>'
            '<article-id pub-id-type="pmc">123</article-id><title-group><article-title>T</article-title></title-group>'
            '</article-meta></front><body><p>See <xref ref-type="fig" rid="f1">Figure 1</xref>.</p>'
            f'<fig id="f1"><label>Figure 1</label><caption><p>{caption_xml}</p></caption>'
            '<graphic xlink:href="f1"/></fig></body></article>')


def test_deeply_nested_jats_caption_is_read(tmp_path):
    """1000 nested elements in a JATS caption raised RecursionError and ended the ingest."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f1.png").write_bytes(draw_figure(1))
    deep = "<italic>" * 3000 + "deep text" + "</italic>" * 3000
    (tmp_path / "a" / "a.nxml").write_text(_article("A caption with " + deep + " inside."))
    rejects = Rejects()
    recs = list(read_jats_article(tmp_path / "a", rejects))
    assert [r["caption"] for r in recs] == ["A caption with deep text inside."], list(rejects)


def test_symlinked_article_outside_its_folder_is_not_read(tmp_path):
    """A symlinked ``.nxml`` in an article folder was followed to a file outside it."""
    outside = tmp_path / "private.nxml"
    outside.write_text(_article("Secret caption text."))
    art = tmp_path / "art"
    art.mkdir()
    (art / "f1.png").write_bytes(draw_figure(1))
    (art / "a.nxml").symlink_to(outside)
    rejects = Rejects()
    assert list(read_jats_article(art, rejects)) == []
    assert [r.reason for r in rejects] == ["no_article_xml"]


def test_pmc_package_over_its_limits_is_one_reject(tmp_path, small_limits):
    """A PMC package could unpack up to 4 GiB into $TMPDIR; the limits are now configurable, a
    package over them is one ``archive_too_large`` reject, and files an article never reads
    (videos, data) are not unpacked at all."""
    small_limits(archive_bytes=100_000)

    def package(name: str, members) -> Path:
        pkg = tmp_path / name
        with tarfile.open(pkg, "w:gz") as tf:
            for member, data in members:
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return pkg

    article = ("PMC1/a.nxml", _article("A caption of the figure.").encode())
    figure = ("PMC1/f1.png", draw_figure(1))
    rejects = Rejects()
    assert list(iter_oa_package(package("big.tar.gz", [article, figure, ("PMC1/big.tif", b"\0" * 200_000)]),
                                rejects, tmp_dir=tmp_path)) == []
    assert [r.reason for r in rejects] == ["archive_too_large"]
    rejects = Rejects()
    recs = list(iter_oa_package(package("movie.tar.gz", [article, figure, ("PMC1/movie.mp4", b"\0" * 200_000)]),
                                rejects, tmp_dir=tmp_path))
    assert [r["caption"] for r in recs] == ["A caption of the figure."] and not len(rejects)


# -- 2. / 3. renderers ----------------------------------------------------------------------------------

_EPS = "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"


@needs_gs
def test_ghostscript_cannot_read_the_system_temp_folder():
    """-dSAFER permits gs's temp folder: a hostile EPS rendered a private file of $TMPDIR into an image."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:  # in the system temp folder
        f.write("TOPSECRET")
    try:
        eps = (_EPS + f"/f ({f.name}) (r) file def f 100 string readstring pop\n"
               "/Helvetica findfont 12 scalefont setfont 10 50 moveto show showpage\n")
        with pytest.raises(RasterizeError) as e:
            rasterize("x.eps", eps.encode())
        assert e.value.reason == "ghostscript_failed"
        listing = _EPS + "(*) { print } 1000 string filenameforall showpage\n"  # nothing of the parent's temp folder
        lim = Limits(render_seconds=20)
        try:
            rasterize("l.eps", listing.encode(), lim=lim)
        except RasterizeError as err:
            assert Path(f.name).name not in err.detail
    finally:
        Path(f.name).unlink()


@needs_gs
def test_ghostscript_memory_limit_and_paper_budget(tmp_path, small_limits):
    """gs had no memory limit, and 4 looping figures cost 4 timeouts: now ``render_memory``, and one
    paper budget for all its figures; the paper's good figure still comes out."""
    hog = _EPS + "/keep 40000 array def 0 1 39999 { keep exch 65000 string put } for showpage\n"
    with pytest.raises(RasterizeError) as e:
        rasterize("hog.eps", hog.encode(), lim=Limits(render_memory=400 << 20))
    assert e.value.reason == "render_memory"
    huge = "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9000000 9000000\nshowpage\n"  # ran to the timeout
    with pytest.raises(RasterizeError) as e:
        rasterize("huge.eps", huge.encode())
    assert e.value.reason == "render_too_large"
    small_limits(render_seconds=2, paper_render_seconds=3)
    loop = (_EPS + "{ 1 pop } loop\n").encode()
    files = {f"l{i}.eps": loop for i in range(4)}
    files["ok.png"] = draw_figure(5, size=(400, 300))
    figs = "".join(f"\\begin{{figure}}\\includegraphics{{{n}}}\\caption{{Figure {n} shows a loop.}}\\label{{fig:{i}}}\\end{{figure}}\n"
                   for i, n in enumerate(sorted(files)))
    files["main.tex"] = ("\\documentclass{article}\\begin{document}" + figs + "\\end{document}").encode()
    rejects = Rejects()
    t = time.monotonic()
    recs = list(paper_records("2101.00001", PaperFiles(files), rejects, options=_reader()))
    assert time.monotonic() - t < 8  # one budget (3 s), not 4 x 2 s
    assert [r["image"]["path"] for r in recs] == ["ok.png"]
    assert sorted(r.reason for r in rejects) == ["render_timeout"] * 4


def _reader(**kw):
    from s1mmalign.builder.sources.arxiv import ReaderOptions

    return ReaderOptions(**kw)


def test_pdf_renders_in_a_limited_child():
    """pypdfium2 rendered in-process without limits (a PDF could take the whole ingest down): it now
    runs in a child whose address-space limit is enforced, and the parent lives on."""
    pytest.importorskip("pypdfium2")
    buf = io.BytesIO()
    Image.open(io.BytesIO(draw_figure(1))).save(buf, format="PDF", resolution=72)
    assert Image.open(io.BytesIO(render_pdf(buf.getvalue(), dpi=72, renderer="pdfium"))).format == "PNG"
    with pytest.raises(RasterizeError) as e:
        render_pdf(buf.getvalue(), dpi=72, renderer="pdfium", memory=24 << 20)
    assert e.value.reason == "render_memory"


def _slow_pdf(lines: int) -> bytes:
    """A valid one-page PDF whose content stream draws ``lines`` strokes (slow to render)."""
    content = b"1 w " + b"".join(b"%d %d m %d %d l S " % (i % 97, i % 89, i * 7 % 101, i * 3 % 103) for i in range(lines))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"]
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)


def test_pdf_timeout_kills_the_render_and_the_next_pdf_still_renders():
    """A PDF rendered in-process could hang the run; now its child is killed at the timeout, and
    the renderer serves the next figure (a killed server is restarted)."""
    pytest.importorskip("pypdfium2")
    from s1mmalign.builder.sources import sandbox

    t = time.monotonic()
    with pytest.raises(RasterizeError) as e:
        render_pdf(_slow_pdf(60_000), dpi=150, renderer="pdfium", timeout=0.2)
    assert e.value.reason == "render_timeout" and time.monotonic() - t < 5
    buf = io.BytesIO()
    Image.open(io.BytesIO(draw_figure(1))).save(buf, format="PDF", resolution=72)
    assert Image.open(io.BytesIO(render_pdf(buf.getvalue(), dpi=72, renderer="pdfium"))).size == (96, 72)
    sandbox._server.kill()  # the server dies between two figures
    sandbox._server.wait()
    assert Image.open(io.BytesIO(render_pdf(buf.getvalue(), dpi=72, renderer="pdfium"))).size == (96, 72)


# -- 4. expansion bombs ----------------------------------------------------------------------------------


def test_gzipped_figure_is_bounded():
    """``.eps.gz`` figures inflated without a limit (1.7 KB -> 150 MB)."""
    bomb = gzip.compress(b"%!PS\n" + b"%" * (8 << 20))
    with pytest.raises(RasterizeError) as e:
        rasterize("f.eps.gz", bomb, lim=Limits(gzip_bytes=1 << 20))
    assert e.value.reason == "gzip_too_large"
    assert gunzip_bounded(gzip.compress(b"abc"), 3, "x") == b"abc"


def test_input_fan_out_and_macro_chains_are_bounded(small_limits):
    """``\\input`` fan-out and caption macro chains were exponential (31 KB -> 17 s, 607 MB)."""
    small_limits(tex_inputs=200, macro_expansions=500)
    files = {f"l{d}.tex": ("".join(f"\\input{{l{d + 1}}}\n" for _ in range(6)) + "x ").encode() for d in range(7)}
    files["l7.tex"] = b"leaf "
    names = "abcdefgh"  # \\ma expands to 20 x \\mb, ... : 20**7 words without a limit
    chain = "".join(f"\\newcommand{{\\m{a}}}{{{(' ' + chr(92) + 'm' + b) * 20}}}\n" for a, b in zip(names, names[1:]))
    chain += "\\newcommand{\\mh}{w}\n"
    files["main.tex"] = ("\\documentclass{article}" + chain + "\\begin{document}\\input{l0}"
                         "\\begin{figure}\\includegraphics{a.png}\\caption{Boom \\ma}\\label{fig:a}\\end{figure}"
                         "\\begin{figure}\\includegraphics{a.png}\\caption{A fine caption.}\\label{fig:b}\\end{figure}"
                         "\\end{document}").encode()
    t = time.monotonic()
    paper = parse_paper(PaperFiles(files))
    assert time.monotonic() - t < 5
    assert ("tex_too_large" in [p[0] for p in paper.problems])
    assert [f.problem[0] if f.problem else None for f in paper.figures] == ["macro_limit", None]


def test_the_papers_own_packages_are_read_once_and_bounded(small_limits):
    """Each local .sty a paper loads is read for its macros: once each (a package loading itself or the
    one before), and no more files than Limits.tex_inputs."""
    small_limits(tex_inputs=5)
    files = {f"p{i}.sty": (f"\\RequirePackage{{p{i}}}\\RequirePackage{{p{max(i - 1, 0)},p{i + 1}}}"
                           f"\\newcommand{{\\w{chr(97 + i)}}}{{W{i}}}").encode() for i in range(20)}
    files["main.tex"] = (b"\\documentclass{article}\\usepackage{p0}\\begin{document}\\begin{figure}\\includegraphics{a.png}"
                         b"\\caption{\\wa{} \\we{} \\wf{}}\\end{figure}\\end{document}")
    t = time.monotonic()
    paper = parse_paper(PaperFiles(files))
    assert time.monotonic() - t < 5
    assert paper.figures[0].caption == "W0 W4"


def test_paper_archive_member_count_is_bounded(small_limits):
    """No cap on the number of members of a paper's source (300k empty members: 7 s, 483 MB)."""
    small_limits(archive_members=50)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(60):
            tf.addfile(tarfile.TarInfo(f"e{i}.tex"), io.BytesIO(b""))
    from s1mmalign.builder.sources.arxiv import PaperUnreadable

    with pytest.raises(PaperUnreadable) as e:
        files_from_bytes("2101.00001.tar", buf.getvalue())
    assert e.value.reason == "archive_too_large"


def _release(root: Path, members: list[tuple[str, bytes]], sparse: str | None = None) -> None:
    from s1mmalign.builder.sources.sample_release import write_jsonl

    recs = [{"arxiv_id": f"0801.{i:04d}", "title": "T", "image_path": name, "caption": f"Caption {i}.",
             "categories": "hep-th"} for i, (name, _) in enumerate(members)]
    write_jsonl(root / "arxiv" / "jsonl" / "08_recaption.jsonl", recs)
    src = root.parent / "members"
    for name, data in members:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
        if name == sparse:  # a hole in the middle: GNU tar stores it as a sparse member
            with open(src / name, "r+b") as f:
                f.truncate(4 << 20)
                f.seek(8 << 20)
                f.write(b"end")
    (root / "arxiv").mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--sparse", "--format=gnu", "-czf", str(root / "arxiv" / "images_2008.tar.gz"),
                    "-C", str(src)] + [n for n, _ in members], check=True)


def test_release_member_too_large_or_sparse_is_one_reject(tmp_path, small_limits):
    """A release member was read whole into memory (200 MB -> 560 MB RSS), and one sparse member
    truncated the whole archive."""
    if shutil.which("tar") is None:
        pytest.skip("GNU tar not installed")
    from s1mmalign.builder.sources.release import iter_release

    small_limits(member_bytes=2 << 20)
    members = [(f"0801/p{i}.tar.gz/f.png", draw_figure(i)) for i in range(5)]
    members[1] = ("0801/p1.tar.gz/big.png", draw_figure(1) + b"\0" * (3 << 20))
    members[3] = ("0801/p3.tar.gz/sparse.png", b"x")
    _release(tmp_path / "rel", members, sparse="0801/p3.tar.gz/sparse.png")
    rejects = Rejects()
    recs = list(iter_release(tmp_path / "rel", rejects))
    assert sorted(r["image_path"] for r in recs) == [members[i][0] for i in (0, 2, 4)]
    assert sorted(r.reason for r in rejects) == ["member_too_large", "sparse_member"], list(rejects)


# -- 7. images --------------------------------------------------------------------------------------------


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + ctype + body + zlib.crc32(ctype + body).to_bytes(4, "big")


def _png_with(ihdr_rows: int | None = None, idat: bytes | None = None) -> bytes:
    w, h = 120, 90
    raw = b"".join(b"\0" + bytes([(x * y) % 251 for x in range(w * 3)]) for y in range(h))
    ihdr = w.to_bytes(4, "big") + (ihdr_rows or h).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw) if idat is None else idat)
            + _chunk(b"IEND", b""))


def test_fast_check_rejects_what_a_decoder_rejects():
    """``fast`` stored PNGs with garbage IDAT or an IHDR claiming more rows than the data, and JPEGs
    whose SOF claims 9000x9000 over 200x150 of data (accepted even in ``full``)."""
    ok = _png_with()
    assert normalize_image(ok, check="fast").width == 120
    for bad in (_png_with(ihdr_rows=900), _png_with(idat=b"\x78\x9c" + bytes(range(200)) * 5)):
        for check in ("fast", "full"):
            with pytest.raises(ImageRejected):
                normalize_image(bad, check=check)
    jpg = draw_figure(3, size=(200, 150), fmt="JPEG")
    sof = max(jpg.find(b"\xff\xc0"), jpg.find(b"\xff\xc2"))
    big = jpg[:sof + 5] + (9000).to_bytes(2, "big") + (9000).to_bytes(2, "big") + jpg[sof + 9:]
    for check in ("fast", "full"):
        with pytest.raises(ImageRejected) as e:
            normalize_image(big, check=check)
        assert e.value.reason == "truncated"
    assert normalize_image(jpg, check="full").width == 200


def test_write_applies_the_ingest_minimum_size(tmp_path):
    """``write`` accepted 1x1 images; it now keeps ingest's minimum (``images.MIN_SIDE``, 64 px) on both sides."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    recs = [make_record(0, image=buf.getvalue()), make_record(1, image=draw_figure(1, size=(200, 63))),
            make_record(2, image=draw_figure(2, size=(63, 200))), make_record(3, image=draw_figure(3, size=(64, 64))),
            make_record(4)]
    report = write_dataset(recs, tmp_path / "out")
    assert report["written"] == 2 and report["rejects_by_reason"] == {"too_small": 3}


def test_two_writes_of_the_same_bad_images_give_byte_identical_rejects(tmp_path):
    """Pillow's message named the address of a BytesIO (``<_io.BytesIO object at 0x7f...>``) in the detail."""
    reports = []
    for run in ("a", "b"):
        recs = [make_record(0, image=b"not an image"), make_record(1, image=draw_figure(1)[:300]), make_record(2)]
        report = write_dataset(recs, tmp_path / run)
        assert report["written"] == 1 and sum(report["rejects_by_reason"].values()) == 2
        reports.append((tmp_path / run / "reports" / "rejects.jsonl").read_bytes())
    assert reports[0] == reports[1]
    assert b"cannot identify image file <_io.BytesIO object>" in reports[0] and b" at 0x" not in reports[0]


def test_release_record_with_a_lone_surrogate_is_one_reject(tmp_path):
    """A ``\\ud800`` escape in a release record's caption ended ``convert`` (UnicodeEncodeError in the writer)."""
    if shutil.which("tar") is None:
        pytest.skip("GNU tar not installed")
    from s1mmalign.builder.commands.convert import convert_release

    members = [(f"0801/p{i}.tar.gz/f.png", draw_figure(i)) for i in range(3)]
    _release(tmp_path / "rel", members)
    jsonl = tmp_path / "rel" / "arxiv" / "jsonl" / "08_recaption.jsonl"
    lines = jsonl.read_text().splitlines()
    lines[1] = lines[1].replace("Caption 1.", "Caption \\ud800 1.")
    jsonl.write_text("\n".join(lines) + "\n")
    report = convert_release(tmp_path / "rel", tmp_path / "out", progress=False)
    assert report["written"] == 2 and report["rejects_by_reason"] == {"bad_field": 1}, report["rejects_by_reason"]
