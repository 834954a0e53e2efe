"""Fuzzing the readers of untrusted input: mutated tar headers, PNG/JPEG chunks, manifest lines,
JATS XML, and a dataset's index JSON and sidecars against the loader. Every mutated item is read
correctly or counted as a reject (the loader: or one clear error); nothing raises otherwise,
nothing is written outside OUT or read outside the dataset root. Seeded and bounded (seconds)."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import draw_figure, make_record

from s1mmalign.builder.records.manifest import read_manifest
from s1mmalign.builder.records.prepare import prepare_record
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.builder.sources.arxiv import PaperUnreadable, files_from_bytes, paper_records
from s1mmalign.builder.sources.jats import read_jats_article
from s1mmalign.core import contract
from s1mmalign.core.images import ImageRejected, decode_image, normalize_image
from s1mmalign.loaders import S1MMAlignStream
from s1mmalign.loaders.index import IndexFormatError
from s1mmalign.loaders.source import IndexMismatchError, ShardIntegrityError
from s1mmalign.loaders.tiny import serve_http, synthetic_records

ROUNDS = 60


def _mutate(data: bytes, rng: random.Random, lo: int = 0, hi: int | None = None, avoid: bytes = b"") -> bytes:
    """1-4 random edits (byte set, bit flip, cut, insertion) in ``data[lo:hi]``."""
    b = bytearray(data)
    hi = len(b) if hi is None else min(hi, len(b))
    for _ in range(rng.randint(1, 4)):
        if hi <= lo:
            break
        i = rng.randrange(lo, hi)
        op = rng.random()
        if op < 0.4:
            b[i] = rng.randrange(256)
        elif op < 0.7:
            b[i] ^= 1 << rng.randrange(8)
        elif op < 0.85:
            del b[i:i + rng.randint(1, 64)]
            hi = min(hi, len(b))
        else:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    for ch in avoid:
        b = b.replace(bytes([ch]), b" ")
    return bytes(b)


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_fuzz_images():
    rng = random.Random(15)
    seeds = [draw_figure(1, size=(120, 90)), draw_figure(2, size=(120, 90), fmt="JPEG")]
    outcomes = {"stored": 0, "rejected": 0}
    for r in range(ROUNDS * 2):
        src = seeds[r % 2]
        bad = _mutate(src, rng, lo=8 if r % 2 == 0 else 2, hi=200 if r % 4 < 2 else None)  # headers/chunks, or anywhere
        for check in ("fast", "full"):
            try:
                stored = normalize_image(bad, check=check)
            except ImageRejected:
                outcomes["rejected"] += 1
                continue
            outcomes["stored"] += 1
            if src[:4] == b"\x89PNG":  # PNG: CRCs and data size checked, so what is stored decodes
                assert decode_image(stored.data).size == (stored.width, stored.height)
    assert outcomes["rejected"] > ROUNDS // 2 and outcomes["stored"] > 0, outcomes


def test_fuzz_paper_tar_headers():
    rng = random.Random(16)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in (("main.tex", b"\\documentclass{article}\\begin{document}\\begin{figure}\\includegraphics{f.png}"
                                         b"\\caption{A plot of the measured response.}\\end{figure}\\end{document}"),
                           ("f.png", draw_figure(3, size=(300, 200)))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    for _ in range(ROUNDS):
        start = 0 if rng.random() < 0.5 else data.find(b"f.png") // 512 * 512
        bad = _mutate(data, rng, lo=start, hi=start + 512)
        rejects = Rejects()
        try:
            files = files_from_bytes("2101.00001.tar", bad)
        except PaperUnreadable:
            continue
        recs = list(paper_records("2101.00001", files, rejects))
        tex = files.read("main.tex") if "main.tex" in files.names() else b""
        if b"\\begin{figure}" in tex and b"\\end{figure}" in tex:  # a figure in the (possibly cut) source: it came out, or why not is counted
            assert len(recs) + len(rejects) >= 1
        for rec in recs:
            prepare_record(rec)


def test_fuzz_manifest_lines(tmp_path):
    rng = random.Random(17)
    (tmp_path / "in" / "images").mkdir(parents=True)
    lines = []
    for i in range(ROUNDS):
        rec = dict(make_record(i), image=f"images/{i}.png")
        (tmp_path / "in" / "images" / f"{i}.png").write_bytes(draw_figure(i))
        line = json.dumps(rec, ensure_ascii=bool(i % 2)).encode("utf-8")
        lines.append(_mutate(line, rng, avoid=b"\n\r") if i % 4 else line)
    lines = [ln for ln in lines if ln.strip()]
    (tmp_path / "in" / "manifest.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    before = _tree(tmp_path)
    rejects = Rejects()
    report = write_dataset(read_manifest(tmp_path / "in" / "manifest.jsonl", rejects), tmp_path / "out", rejects=rejects)
    assert report["written"] + len(rejects) == len(lines)  # each line: written, or one reject
    assert report["written"] >= ROUNDS // 4
    assert all(p.startswith("out") for p in _tree(tmp_path) - before)


def _article(figs: str) -> str:
    return ('<?xml version="1.0"?><article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta>'
            '<article-id pub-id-type="pmc">77</article-id><title-group><article-title>A title</article-title>'
            '</title-group></article-meta></front><body><p>As <xref ref-type="fig" rid="f1">Fig. 1</xref> shows.</p>'
            f'{figs}</body></article>')


def test_fuzz_jats_xml(tmp_path):
    rng = random.Random(18)
    figs = "".join(f'<fig id="f{i}"><label>Figure {i}</label><caption><p>Caption <italic>number</italic> {i}.</p>'
                   f'</caption><graphic xlink:href="f{i}"/></fig>' for i in (1, 2))
    xml = _article(figs).encode()
    art = tmp_path / "art"
    art.mkdir()
    for i in (1, 2):
        (art / f"f{i}.png").write_bytes(draw_figure(i))
    seen = {"records": 0, "rejects": 0}
    for _ in range(ROUNDS):
        (art / "a.nxml").write_bytes(_mutate(xml, rng, lo=xml.find(b"<body>")))
        rejects = Rejects()
        recs = list(read_jats_article(art, rejects))
        for rec in recs:
            try:
                prepare_record(rec)
            except contract.RecordError:
                pass  # e.g. an emptied caption: the writer counts it
        seen["records"] += len(recs)
        seen["rejects"] += len(rejects)
        assert recs or rejects or b"<fig" not in (art / "a.nxml").read_bytes()
    assert seen["records"] and seen["rejects"], seen


def test_fuzz_release_tar_headers(tmp_path):
    from s1mmalign.builder.sources.release import iter_release
    from s1mmalign.builder.sources.sample_release import write_jsonl

    rng = random.Random(19)
    names = [f"0801/p{i}.tar.gz/f.png" for i in range(6)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for i, name in enumerate(names):
            data = draw_figure(i)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    tar = buf.getvalue()
    starts = [0] + [tar.find(n.encode()) // 512 * 512 for n in names[1:]]  # the header blocks
    recs = [{"arxiv_id": f"0801.{i:04d}", "title": "T", "image_path": n, "caption": f"Caption {i}.", "categories": "hep-th"}
            for i, n in enumerate(names)]
    root = tmp_path / "rel"
    write_jsonl(root / "arxiv" / "jsonl" / "08_recaption.jsonl", recs)
    kept = 0
    for _ in range(ROUNDS // 2):
        s = rng.choice(starts)
        bad = _mutate(tar, rng, lo=s, hi=s + 512)
        (root / "arxiv" / "images_2008.tar.gz").write_bytes(gzip.compress(bad, 1))
        rejects = Rejects()
        out = list(iter_release(root, rejects))
        kept += len(out)
        assert len(out) + len(rejects) >= len(names)  # every record joined, or its loss counted
        for rec in out:  # bytes of a member whose size field was hit: the writer's reject
            assert rec["image_path"] in names
            try:
                prepare_record(rec)
            except contract.RecordError:
                pass
    assert kept


# -- index JSON and sidecars against the loader ------------------------------------------------------------------

_LOADER_ERRORS = (IndexFormatError, IndexMismatchError, ShardIntegrityError)
_VALUES = [None, True, 0, -1, 2**53, 10**30, -10**30, 1.5, float("nan"), "", "x", "ünï\ud800", [], {}, [1, "a"],
           {"plot": -3}]
_DIGESTS = ["", "0" * 64, "g" * 64, "A" * 64, "0" * 63, "../" * 21 + "x", 7, "🙂" * 64]
_opened: list[str] | None = None  # paths the process opened or listed while a round runs (an audit hook)


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event in ("open", "os.scandir", "os.listdir") and isinstance(args[0], (str, bytes, Path)):
        _opened.append(os.path.realpath(os.fsdecode(args[0])))


def _bait_paths(outside: Path) -> list[str]:
    """Paths an index may carry: out of the root (to real copies of its files), malformed, absent, huge."""
    names = [p.name for p in outside.iterdir()]
    return [*(f"../outside/{n}" for n in names), *(str(outside / n) for n in names), "wds/../../outside/x.tar",
            "wds//x.tar", "./wds/x.tar", "wds/\u202e\ud800.tar", "C:/x.tar", "file:///etc/passwd.tar", "x",
            "wds/physics/" + "a" * 300 + ".tar", "index/shards.json", "", "\x00"]


def _mutated_index(text: bytes, rng: random.Random, bait: list[str]) -> bytes:
    kind = rng.randrange(7)
    if kind == 6:  # bytes: edits, a cut, invalid UTF-8, unicode garbage
        out = _mutate(text, rng)
        return out[: rng.randrange(len(out))] if rng.random() < 0.3 else out + "\ud800🙂".encode("utf-8", "surrogatepass")
    index = json.loads(text)
    entry = rng.choice(index["shards"])
    field = rng.choice(sorted(entry))
    if kind == 0:
        entry[field] = rng.choice(_VALUES)  # a type swap
    elif kind == 1:
        del entry[field]
    elif kind == 2:
        f = rng.choice(["num_samples", "bytes"])
        entry[f] = rng.choice([0, 1, entry[f] - 1, entry[f] + 1, entry[f] * 2, 2**63, -5])
        for g in entry.get("row_groups") or []:
            g["num_rows"] = rng.choice([g["num_rows"], g["num_rows"] + 1, 0, 10**30, -1])
    elif kind == 3:
        entry[rng.choice(["path", "sample_index"])] = rng.choice(bait)
        if rng.random() < 0.5 and isinstance(entry["path"], str):  # a sidecar named to match
            entry["sample_index"] = rng.choice([f"index/{entry['path']}.idx.parquet", None])
    elif kind == 4:
        entry["sha256"] = rng.choice(_DIGESTS)
    else:
        op = rng.randrange(4)
        if op == 0:
            index["shards"].append(dict(entry))
        elif op == 1:
            index["shards"].remove(entry)
        elif op == 2:
            index = rng.choice([[index], {"shards": {"0": entry}}])
        else:
            index[rng.choice(["counts", "version", "formats", "num_samples"])] = rng.choice(_VALUES)
    return json.dumps(index).encode("utf-8", "surrogatepass")


def _mutated_sidecar(data: bytes, rng: random.Random) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kind = rng.randrange(5)
    if kind == 0:
        return _mutate(data, rng)
    t = pq.read_table(pa.BufferReader(data))
    col, n = rng.choice(["key", "offset", "size", "width", "clip_score_recaption", "clip_score_caption"]), t.num_rows
    if kind == 1:
        t = t.drop_columns([col])
    elif kind == 2:  # a column of another type
        t = t.set_column(t.column_names.index(col), col, pa.array([rng.choice(["x", None, "1"]) for _ in range(n)]))
    elif kind == 3:  # one sample range or row group out of place
        col = rng.choice(["offset", "size", "row_group"])
        vals = t[col].to_pylist()
        i = rng.randrange(n)
        vals[i] = rng.choice([-1, 0, 2**31 - 1, vals[i] + 1, vals[i] - 512, vals[(i + 1) % n]])
        t = t.set_column(t.column_names.index(col), col, pa.array(vals, t[col].type))
    else:  # rows missing, repeated or reordered
        rows = list(range(n))
        rows = rng.choice([rows[:-1], rows + [0], rng.sample(rows, n)])
        t = t.take(rows)
    sink = pa.BufferOutputStream()
    pq.write_table(t, sink)
    return sink.getvalue().to_pybytes()


@pytest.mark.timeout(120)  # a hang is a failure
def test_fuzz_index_json_and_sidecars_against_the_loader(tmp_path):
    """A mutated ``index/shards.json`` or sidecar: the stream yields only samples read correctly (the rest
    counted), or stops with one of the loader's clear errors; it never opens a file outside the root."""
    global _opened
    rng = random.Random(20)
    ds = tmp_path / "ds"
    recs = list(synthetic_records(24))
    write_dataset(recs, ds, options=ShardOptions(parquet_shard_bytes=15_000, tar_shard_bytes=15_000, row_group_bytes=6_000))
    truth = {r["key"]: r["caption"] for r in recs}
    outside = tmp_path / "outside"  # real files an index could point at
    outside.mkdir()
    for p in [next(ds.rglob(f"*{ext}")) for ext in (".tar", "0.parquet", ".idx.parquet")]:
        shutil.copy(p, outside / p.name)
    bait = _bait_paths(outside)
    text = (ds / "index/shards.json").read_bytes()
    sidecars = {p: p.read_bytes() for p in ds.rglob("*.idx.parquet")}
    server, _ = serve_http(ds)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    sys.addaudithook(_audit)  # stays for the process; records only while _opened is a list
    outcomes: dict[str, int] = {}
    try:
        for r in range(ROUNDS * 2):
            (ds / "index/shards.json").write_bytes(text)
            for p, data in sidecars.items():
                p.write_bytes(data)
            reading_sidecars = [{"where": [("width", ">=", 0)]}, {"min_clip_score": 0.0}, {"rank": 1, "world_size": 2},
                                {"format": "parquet", "where": [("width", ">=", 0)]}]
            if r % 2:
                p = rng.choice(sorted(sidecars))
                p.write_bytes(_mutated_sidecar(sidecars[p], rng))
                kw = rng.choice(reading_sidecars)
            else:
                (ds / "index/shards.json").write_bytes(_mutated_index(text, rng, bait))
                kw = rng.choice([{}, {"format": "parquet"}, {"check_index": False}, *reading_sidecars,
                                 {"check_index": False, "format": "parquet"}])
            where = ds
            if r % 6 == 5:  # remote: sha256 names cache files
                where, kw = url, {**kw, "cache_dir": tmp_path / "cache", "verify": rng.choice([None, "sha256"])}
            _opened = []
            try:
                stream = S1MMAlignStream(where, seed=r, max_errors=10**4, **kw)
                it = iter(stream)
                got = list(it)
            except _LOADER_ERRORS as e:
                outcome = type(e).__name__
            except ValueError as e:  # a where= column an older index lacks: its own message
                assert "is not in the sample index" in str(e) and "s1mmalign reindex" in str(e), e
                outcome = "old_index"
            else:
                assert len(got) == len(stream) and all(truth.get(s["key"]) == s["caption"] for s in got)
                plain = [s["key"] for s in got if not s.get("__padded__")]
                assert len(plain) == len(set(plain))  # no sample twice
                outcome = "read" + ("+counted" if it.errors else "")
            finally:
                opened, _opened = _opened, None
            assert not [p for p in opened if p.startswith(str(tmp_path)) and not p.startswith((str(ds), str(tmp_path / "cache")))]
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        server.shutdown()
        server.server_close()
    assert outcomes.get("read", 0) > ROUNDS // 4 and outcomes.get("IndexFormatError", 0) > ROUNDS // 4, outcomes
