"""The release reader: discovery, split parts as one stream, the join, the mapping, bad input."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest
from conftest import draw_figure
from PIL import Image

import s1mmalign_dataset as contract
from s1mmalign.builder.commands.convert import convert_release
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.release import discover_units, iter_release, normalize_image_path, release_key
from s1mmalign.builder.sources.release.streams import PartsStream
from s1mmalign.builder.sources.sample_release import sample_release, write_archive, write_jsonl


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _arxiv(paper: str, fig: str, member: str, **extra) -> dict:
    return {"arxiv_id": paper, "title": f"Paper {paper}", "image_path": member, "caption": f"Caption of {fig}.",
            "recaption": f"An enriched caption of {fig}.", "categories": "cond-mat.str-el hep-th", **extra}


def _read_out(out: Path) -> dict[str, dict]:
    rows = {}
    for f in sorted((out / "data").rglob("*.parquet")):
        for r in pq.read_table(f).to_pylist():
            rows[r["key"]] = r
    return rows


def test_discovery_layout_names_parts_and_unknown_folder(tmp_path):
    root = sample_release(tmp_path / "rel", part_size=8192)
    # the misspelled folder with its jsonl at the folder root, and an unknown folder
    write_jsonl(root / "nature_comunication" / "nature_comunication_recaption.jsonl",
                [{"doi": "10.1038/s41467-1", "image_path": "a/Fig1.png", "caption": "c", "categories": ["Physics"]}])
    write_archive(root / "nature_comunication" / "images.tar.gz", [("a/Fig1.png", draw_figure(1))])
    write_jsonl(root / "mystery" / "jsonl" / "mystery_recaption.jsonl", [{"image_path": "x.png", "caption": "c"}])
    (root / "README.md").write_text("top-level files are ignored")
    rel = discover_units(root)
    ids = [u.id for u in rel.units]
    assert ids == ["arxiv-images_2021", "arxiv-images_2022", "arxiv-images_2023", "biorxiv-images",
                   "chemrxiv-images", "medrxiv-images", "nature_communications-images"]
    by_id = {u.id: u for u in rel.units}
    a21 = by_id["arxiv-images_2021"]
    assert [Path(j).name for j in a21.jsonl] == ["21_recaption.jsonl"]
    assert len(a21.archive.parts) > 2 and [Path(p).name[-2:] for p in a21.archive.parts] == sorted(
        Path(p).name[-2:] for p in a21.archive.parts)
    assert [Path(j).name for j in by_id["biorxiv-images"].jsonl] == ["biorxiv_recaption_updated.jsonl"]
    assert by_id["nature_communications-images"].folder == "nature_comunication"
    assert rel.problems.by_reason() == {"unknown_source": 1}
    assert discover_units(root, sources=["nature_comunication"]).sources == ["nature_communications"]
    with pytest.raises(ValueError, match="unknown source"):
        discover_units(root, sources=["nope"])
    with pytest.raises(FileNotFoundError, match="not a folder"):
        discover_units(tmp_path / "missing")


def test_parts_are_one_stream(tmp_path):
    members = [(f"d/{i}.png", draw_figure(i)) for i in range(20)]
    parts = write_archive(tmp_path / "images.tar.gz", members, part_size=3000)
    whole = write_archive(tmp_path / "whole" / "images.tar.gz", members)
    assert len(parts) > 3 and all(p.stat().st_size == 3000 for p in parts[:-1])
    fs = fsspec.filesystem("file")
    joined = PartsStream(fs, [str(p) for p in parts], local=True).read()
    assert joined == whole[0].read_bytes()
    # the same through a non-local fsspec file system (ranged reads of buffered files)
    mem = fsspec.filesystem("memory")
    for p in parts:
        mem.pipe(f"/parts/{p.name}", p.read_bytes())
    stream = PartsStream(mem, [f"/parts/{p.name}" for p in parts], local=False, block_size=1024)
    assert stream.read() == joined and stream.bytes_read == len(joined)


def test_normalize_and_keys():
    assert normalize_image_path("images/0705/0606282.tar.gz/fig002.png") == "0705/0606282.tar.gz/fig002.png"
    assert normalize_image_path("./0705/0606282.tar.gz/fig002.png") == "0705/0606282.tar.gz/fig002.png"
    for bad in ("/etc/passwd", "../x.png", "a/../../x.png", "", "C:/x.png"):
        assert normalize_image_path(bad) is None
    k1 = release_key("arxiv", "images/0705/0606282.tar.gz/fig002.png")
    assert k1 == release_key("arxiv", "0705/0606282.tar.gz/fig002.png")  # same figure, with or without prefix
    assert k1 != release_key("arxiv", "0705/0606282.tar.gz/fig003.png")
    assert contract.KEY_RE.match(k1) and "." not in k1 and len(k1) <= 80
    long = release_key("nature_communications", "x/" + "y" * 300 + ".png")
    assert len(long) <= 80 and contract.KEY_RE.match(long)


def test_join_and_mapping(tmp_path):
    root = tmp_path / "rel"
    recs = [
        _arxiv("0705.0606", "fig1", "images/0705/0705.0606.tar.gz/fig001.png"),  # prefix in the jsonl only
        _arxiv("0705.0607", "fig2", "0705/0705.0607.tar.gz/fig002.png", categories=["astro-ph.GA", "astro-ph.CO"]),
    ]
    write_jsonl(root / "arxiv" / "jsonl" / "07_recaption.jsonl", recs)
    write_archive(root / "arxiv" / "images_2007.tar.gz",
                  [("0705/0705.0606.tar.gz/fig001.png", draw_figure(1)), ("images/0705/0705.0607.tar.gz/fig002.png", draw_figure(2))])
    write_jsonl(root / "chemrxiv" / "jsonl" / "chemrxiv_recaption_updated.jsonl",
                [{"doi": "10.26434/x", "title": "T", "image_path": "p/f.png", "caption": "", "recaption": "R", "categories": None}])
    write_archive(root / "chemrxiv" / "images.tar.gz", [("p/f.png", draw_figure(3))])
    rejects = Rejects()
    out = {r["image_path"]: r for r in iter_release(root, rejects)}
    assert len(rejects) == 0, list(rejects)
    a = out["images/0705/0705.0606.tar.gz/fig001.png"]
    assert a["paper_id"] == "0705.0606" and a["categories"] == ["cond-mat.str-el", "hep-th"]
    assert a["discipline"] == "physics" and a["modality"] == "other" and a["source"] == "arxiv"
    assert a["image"]["bytes"] == draw_figure(1) and a["recaption"] == "An enriched caption of fig1."
    assert a["license"] == "cc-by-nc-4.0" and a["recaption_model"].startswith("release:")
    b = out["0705/0705.0607.tar.gz/fig002.png"]
    assert b["discipline"] == "astronomy" and b["categories"] == ["astro-ph.GA", "astro-ph.CO"]
    c = out["p/f.png"]
    assert c["paper_id"] == "10.26434/x" and c["discipline"] == "chemistry" and c["categories"] == []
    # filtering by discipline happens before image bytes are read
    only = list(iter_release(root, Rejects(), disciplines=["astronomy"]))
    assert [r["paper_id"] for r in only] == ["0705.0607"]


def test_bad_input_is_counted_and_the_run_goes_on(tmp_path):
    root = tmp_path / "rel"
    good = [(f"0801/0801.{i:04d}.tar.gz/f.png", draw_figure(i)) for i in range(6)]
    cmyk = io.BytesIO()
    Image.new("CMYK", (80, 64), (0, 255, 0, 0)).save(cmyk, format="JPEG")
    sixteen = Image.new("I;16", (80, 64))
    sixteen.putdata([i * 12 for i in range(80 * 64)])
    palette = Image.new("P", (80, 64), 3)
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] * 64)
    transparent = Image.new("RGBA", (80, 64), (255, 0, 0, 0))
    valid_odd = {"cmyk.jpg": cmyk.getvalue(), "i16.png": _png(sixteen), "pal.png": _png(palette),
                 "rgba.png": _png(transparent)}
    truncated = draw_figure(50)[:-60]
    bomb = _png(Image.new("1", (10_000, 9_000)))  # 90 M pixels > Pillow's limit, a few KB on disk
    members = good + [(f"0801/odd.tar.gz/{n}", d) for n, d in valid_odd.items()] + [
        ("0801/bad.tar.gz/corrupt.png", b"\x89PNG\r\n\x1a\nthis is not a png"),
        ("0801/bad.tar.gz/truncated.png", truncated),
        ("0801/bad.tar.gz/bomb.png", bomb),
        ("0801/orphan.tar.gz/noone.png", draw_figure(60)),  # image with no record
        ("/etc/evil.png", draw_figure(61)),  # absolute member name
        ("../../escape.png", draw_figure(62)),  # parent traversal
        ("0801/0801.0000.tar.gz/f.png", draw_figure(63)),  # the same member again
    ]
    recs = [_arxiv(f"0801.{i:04d}", "f", f"images/{m}") for i, (m, _) in enumerate(good)]
    recs += [_arxiv("0801.9999", n, f"0801/odd.tar.gz/{n}") for n in valid_odd]
    recs += [_arxiv("0801.8888", n, f"0801/bad.tar.gz/{n}") for n in ("corrupt.png", "truncated.png", "bomb.png")]
    recs += [_arxiv("0801.7777", "gone", "0801/missing.tar.gz/gone.png"),  # record with no image
             _arxiv("0801.0000", "dup", "0801/0801.0000.tar.gz/f.png"),  # duplicate record
             _arxiv("0801.6666", "evil", "/etc/evil.png"),  # unsafe path in the record: never joined
             _arxiv("0801.5555", "x", "../../escape.png")]
    write_jsonl(root / "arxiv" / "jsonl" / "08_recaption.jsonl", recs, extra_lines=["{not json", "", "[1, 2]", "  "])
    write_archive(root / "arxiv" / "images_2008.tar.gz", members, part_size=4096)
    out = tmp_path / "out"
    report = convert_release(root, out, progress=False)
    reasons = report["rejects_by_reason"]
    assert reasons == {
        "malformed_json": 2, "empty_line": 2, "duplicate_record": 1, "record_no_image": 1, "image_no_record": 1,
        "unsafe_image_path": 2, "unsafe_member_name": 2, "duplicate_image": 1,
        "undecodable": 1, "truncated": 1, "decompression_bomb": 1,
    }, reasons
    assert report["sources"]["arxiv"]["rejected"] == reasons
    rows = _read_out(out)
    assert report["written"] == len(rows) == 10
    by_name = {Path(r["image_path"]).name: r for r in rows.values()}
    for name in valid_odd:  # converted, not rejected: stored as RGB/L PNG or JPEG that decodes right
        img = Image.open(io.BytesIO(by_name[name]["image"]["bytes"]))
        img.load()
        assert img.mode in ("RGB", "L", "RGBA", "P") and img.size == (80, 64)
    assert Image.open(io.BytesIO(by_name["cmyk.jpg"]["image"]["bytes"])).mode == "RGB"
    assert max(Image.open(io.BytesIO(by_name["i16.png"]["image"]["bytes"])).convert("L").getdata()) > 200  # not white-out
    # unsafe members were never written anywhere
    assert not (tmp_path / "escape.png").exists() and not Path("/etc/evil.png").exists()
    written = "\n".join(p.name for p in out.rglob("*"))
    assert "evil" not in written and "escape" not in written
    # the rejects report names every reason with its source
    lines = [json.loads(x) for x in (out / "reports" / "rejects.jsonl").read_text().splitlines()]
    assert len(lines) == sum(reasons.values()) and {x["source"] for x in lines} == {"arxiv"}


def _release_of(tmp_path, n=12, part_size=2500):
    root = tmp_path / "rel"
    members = [(f"0901/0901.{i:04d}.tar.gz/f.png", draw_figure(i, size=(120, 90))) for i in range(n)]
    write_jsonl(root / "arxiv" / "jsonl" / "09_recaption.jsonl", [_arxiv(f"0901.{i:04d}", "f", f"images/{m}") for i, (m, _) in enumerate(members)])
    parts = write_archive(root / "arxiv" / "images_2009.tar.gz", members, part_size=part_size)
    return root, parts


def test_truncated_last_part_keeps_records_before_the_break(tmp_path):
    root, parts = _release_of(tmp_path)
    assert len(parts) >= 3
    full = convert_release(root, tmp_path / "full", progress=False)
    assert full["written"] == 12 and full["rejected"] == 0
    last = parts[-1]
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])
    report = convert_release(root, tmp_path / "cut", progress=False)
    r = report["rejects_by_reason"]
    assert r["truncated_archive"] == 1 and 0 < report["written"] < 12
    assert report["written"] + r["record_no_image"] == 12
    assert set(_read_out(tmp_path / "cut")) <= set(_read_out(tmp_path / "full"))


def test_missing_last_part_and_gap(tmp_path):
    root, parts = _release_of(tmp_path)
    parts[-1].unlink()
    report = convert_release(root, tmp_path / "out1", progress=False)
    assert report["rejects_by_reason"]["truncated_archive"] == 1
    assert 0 < report["written"] < 12 and report["written"] + report["rejects_by_reason"]["record_no_image"] == 12
    parts[1].unlink()  # a gap: read only the parts before it, report the missing one
    report = convert_release(root, tmp_path / "out2", progress=False)
    assert report["rejects_by_reason"]["missing_part"] == 1
    assert report["rejects_by_reason"]["truncated_archive"] == 1


def test_remote_filesystem_matches_local(tmp_path):
    """A non-local fsspec root (memory://) goes through the ranged-read path and gives the same shards."""
    root = sample_release(tmp_path / "rel", part_size=8192)
    mem = fsspec.filesystem("memory")
    for p in root.rglob("*"):
        if p.is_file():
            mem.pipe(f"/s1release/{p.relative_to(root).as_posix()}", p.read_bytes())
    try:
        local = convert_release(root, tmp_path / "local", progress=False)
        # one process: a memory:// file system lives in this process only
        remote = convert_release("memory://s1release", tmp_path / "remote", progress=False, workers=1)
        assert remote["written"] == local["written"] == 10 and remote["rejected"] == 0
        assert _read_out(tmp_path / "local") == _read_out(tmp_path / "remote")
    finally:
        mem.rm("/s1release", recursive=True)


def test_hf_url_resolves_to_hub_filesystem():
    from huggingface_hub import HfFileSystem

    from s1mmalign.core.urls import fs_and_root, is_local, url_of

    fs, path = fs_and_root("hf://datasets/ScienceOne-AI/S1-MMAlign")
    assert isinstance(fs, HfFileSystem) and path == "datasets/ScienceOne-AI/S1-MMAlign" and not is_local(fs)
    assert url_of(fs, path) == "hf://datasets/ScienceOne-AI/S1-MMAlign"


def test_prefetch_keeps_order_delivers_items_before_an_error_and_stops_when_closed():
    import threading

    from s1mmalign.core.prefetch import ReadAhead

    def prefetch(items, depth=4, batch=32):  # the bound the release reader uses: a count of items
        return ReadAhead(items, depth * batch, name="release-reader")

    assert list(prefetch(iter(range(1000)), depth=2, batch=7)) == list(range(1000))

    def failing():
        yield from range(10)
        raise ValueError("broken archive")

    got = []
    with pytest.raises(ValueError, match="broken archive"):
        for x in prefetch(failing(), batch=4):
            got.append(x)
    assert got == list(range(10))

    it = prefetch(iter(range(10**9)), depth=2, batch=8)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert not any(t.name == "release-reader" and t.is_alive() for t in threading.enumerate())


def test_gzip_stream_is_the_same_bytes_with_either_inflater_and_fails_on_a_cut(tmp_path):
    """ISA-L and zlib give the same bytes for multi-member gzip; a cut anywhere raises."""
    import gzip
    import zlib

    from isal import isal_zlib

    from s1mmalign.builder.sources.release.streams import STREAM_END_ERRORS, GzipStream

    payload = bytes(range(256)) * 5000
    blob = gzip.compress(payload) + gzip.compress(b"second member")
    for lib in (zlib, isal_zlib):
        got = io.BufferedReader(GzipStream(io.BytesIO(blob), chunk=4096, inflate_lib=lib), 1 << 16).read()
        assert got == payload + b"second member"
        for cut in (5, len(blob) // 3, len(gzip.compress(payload)) - 4, len(blob) - 1):
            with pytest.raises(STREAM_END_ERRORS):
                io.BufferedReader(GzipStream(io.BytesIO(blob[:cut]), chunk=4096, inflate_lib=lib)).read()
        corrupt = bytearray(blob)
        corrupt[len(gzip.compress(payload)) - 6] ^= 1  # inside the first member's CRC
        with pytest.raises(STREAM_END_ERRORS):
            io.BufferedReader(GzipStream(io.BytesIO(bytes(corrupt)), inflate_lib=lib)).read()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_members_reads_what_tarfile_reads(fmt):
    """Same names, types, sizes and bytes as tarfile's stream mode; long and non-ASCII names,
    links and folders included; a cut anywhere raises instead of ending quietly."""
    from s1mmalign.builder.sources.release.streams import TarMembers

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        def add(name, data=b"", kind=tarfile.REGTYPE, link=""):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data)
            tar.addfile(info, io.BytesIO(data))
        add("0801", kind=tarfile.DIRTYPE)
        add("0801/a.png", b"x" * 1000)
        add("0801/" + "long" * 40 + ".png" if fmt != tarfile.USTAR_FORMAT else "0801/b.png", b"y" * 513)
        add("0801/link.png", kind=tarfile.SYMTYPE, link="a.png")
        add("0801/hard.png", kind=tarfile.LNKTYPE, link="0801/a.png")
        add("0801/empty.png", b"")
        if fmt != tarfile.USTAR_FORMAT:
            add("0801/caf\u00e9.png", b"z" * 10)
    blob = buf.getvalue()

    def expected(data):
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
            return [(m.name, m.type, m.size, tar.extractfile(m).read() if m.isreg() else None) for m in tar]

    with tarfile.open(fileobj=io.BytesIO(blob), mode="r|") as tar:
        list(tar)
        end_marker = tar.offset  # the zero blocks (then padding) start here

    members = TarMembers(io.BytesIO(blob))
    got = [(m.name, m.type, m.size, members.data(m) if m.isreg() else None) for m in members]
    assert got == expected(blob) and len(got) >= 6
    skipped = TarMembers(io.BytesIO(blob))  # members whose bytes are not read are skipped
    assert [m.name for m in skipped] == [g[0] for g in got]
    for cut in [*range(100, end_marker, 97), end_marker]:  # inside a header, a member's bytes, at a boundary
        with pytest.raises(tarfile.ReadError):
            for m in (members := TarMembers(io.BytesIO(blob[:cut]))):
                if m.isreg():
                    members.data(m)
