"""Mixing sources, where=/filter_fn=, columns=, take/resampled, cache_limit and local= on real datasets."""

from __future__ import annotations

import collections
import io
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.core.images import decode_image
from s1mmalign.loaders import S1MMAlignStream, make_dataloader
from s1mmalign.loaders.cache import parse_size
from s1mmalign.loaders.tiny import figure_bytes, serve_http, synthetic_records

SMALL = ShardOptions(parquet_shard_bytes=60_000, tar_shard_bytes=60_000, row_group_bytes=15_000)


def varied(n: int, seed: int = 0):
    """Records with figures of several sizes, multi-panel flags and long paper texts."""
    rnd = random.Random(seed)
    for i, r in enumerate(synthetic_records(n, seed=seed)):
        size = (64, 96, 128, 160)[i % 4]
        r["image"] = {"bytes": figure_bytes(i + 7 * seed, size), "path": None}
        r["multi_panel"] = i % 5 == 0
        words = lambda k: " ".join(f"{rnd.getrandbits(36):x}" for _ in range(k))  # noqa: E731 (text that does not compress)
        r["abstract"] = f"Abstract {i}. {words(250)}"
        r["citation_contexts"] = [f"Context {k} of figure {i}: {words(60)}" for k in range(6)]
        yield r


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    root = tmp_path_factory.mktemp("select")
    a, b = root / "a", root / "b"
    write_dataset(varied(200, seed=0), a, options=SMALL)
    write_dataset(varied(120, seed=1), b, options=SMALL)
    return a, b


def keys(stream) -> list[str]:
    return [s["key"] for s in stream]


def test_where_filters_on_width_license_and_multi_panel_exactly(two):
    a, _ = two
    recs = {r["key"]: r for r in varied(200)}
    size = {k: (64, 96, 128, 160)[int(k.split("_")[1]) % 4] for k in recs}
    for fmt in ("wds", "parquet"):
        s = S1MMAlignStream(a, format=fmt, where=[("width", ">=", 128), ("license", "not in", ["cc-by-nc-4.0"])])
        want = {k for k, r in recs.items() if size[k] >= 128 and r["license"] != "cc-by-nc-4.0"}
        got = keys(s)
        assert sorted(got) == sorted(want) and len(s) == len(want) > 0
        assert all(x["width"] >= 128 and x["license"] == "cc-by-4.0" for x in S1MMAlignStream(
            a, format=fmt, where=[("width", ">=", 128), ("license", "not in", ["cc-by-nc-4.0"])]))
    # OR of ANDs, the discipline decided from the index alone, and a Python predicate on index rows
    s = S1MMAlignStream(a, where=[[("discipline", "==", "physics")], [("multi_panel", "==", True)]],
                        filter_fn=lambda row: row["caption_chars"] > 0)
    want = {k for k, r in recs.items() if r["discipline"] == "physics" or r["multi_panel"]}
    assert sorted(keys(s)) == sorted(want)
    # pushdown: a discipline term prunes shards without reading their sidecars
    s = S1MMAlignStream(a, format="wds", where=[("discipline", "in", ["biology"]), ("modality", "==", "plot")])
    assert {p.discipline for p in s.selection.picks} == {"biology"}
    with pytest.raises(ValueError, match="where= column 'widht' is no column of the sample index; filter on one of: key, "):
        S1MMAlignStream(a, where=[("widht", ">=", 2020)])  # an index written before a column existed: tests/test_years.py
    with pytest.raises(ValueError, match="op '~' is not one of"):
        S1MMAlignStream(a, where=[("width", "~", 3)])
    with pytest.raises(ValueError, match=r"where= is a list of terms: write \[\('width', '>=', 3\)\]"):
        S1MMAlignStream(a, where=("width", ">=", 3))


def test_where_terms_of_every_column_type_and_no_pandas(two, tmp_path):
    """Each op on an int, a bool and a string column, computed from the sidecar's Arrow buffers: the
    selection matches a plain Python filter, wrong kinds of values are one clear error, and a filtering
    process never imports pandas nor pyarrow.compute (pyarrow's own conversions would, ~0.15 s and ~0.08 s
    of CPU in every process)."""
    a, _ = two
    rows = {x["key"]: x for x in S1MMAlignStream(a, format="parquet", decode=False)}
    cases = [
        ([("width", "<", 128)], lambda r: r["width"] < 128),
        ([("width", "!=", 97), ("height", "<=", 128)], lambda r: r["width"] != 97 and r["height"] <= 128),
        ([("width", "in", [64, 163])], lambda r: r["width"] in (64, 163)),
        ([("multi_panel", "==", False)], lambda r: not r["multi_panel"]),
        ([("license", ">", "cc-by-4.0")], lambda r: r["license"] > "cc-by-4.0"),
        ([("source", "not in", ["arxiv"])], lambda r: r["source"] != "arxiv"),
    ]
    for where, keep in cases:
        want = sorted(k for k, r in rows.items() if keep(r))
        assert 0 < len(want) < len(rows), where  # each case keeps some samples and drops some
        for fmt in ("parquet", "wds"):
            assert sorted(keys(S1MMAlignStream(a, format=fmt, where=where))) == want, (fmt, where)
    with pytest.raises(ValueError, match="give numbers"):
        S1MMAlignStream(a, where=[("width", ">=", "128")])
    with pytest.raises(ValueError, match="not the same kind of value"):
        S1MMAlignStream(a, where=[("license", ">", 3)])
    # Parquet: rows scattered over a row group are taken (pyarrow's take of a numpy index imported pandas)
    big_groups = tmp_path / "big-row-groups"
    write_dataset(varied(200, seed=0), big_groups, options=ShardOptions(row_group_bytes=1 << 20))
    for fmt, root, where in (("wds", a, "[('width', '>=', 128), ('license', 'not in', ['cc-by-nc-4.0'])]"),
                             ("parquet", big_groups, "[('width', '>=', 163), ('multi_panel', '==', False), ('source', '!=', 'x')]")):
        code = ("import sys\n"
                "import numpy as np\n"
                "from s1mmalign.loaders import S1MMAlignStream\n"
                f"s = S1MMAlignStream({str(root)!r}, format={fmt!r}, decode=False, min_clip_score=-1.0,\n"
                f"                    licenses=['cc-by-4.0'], where={where})\n"
                "gaps = any(p.rows is not None and np.any(np.diff(p.rows) > 1) for p in s.selection.picks)\n"
                "print(sum(1 for _ in s) == len(s) > 0, 'pandas' in sys.modules, gaps, 'pyarrow.compute' in sys.modules)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split("\n")[0] == "True False True False", (fmt, out.stdout)


def test_where_on_string_columns_plain_and_dictionary_slices_and_nulls():
    """A string term on a sidecar column read as a dictionary (as Source reads them) or plain, sliced,
    with nulls and non-ASCII values, keeps exactly the rows a Python filter keeps (a null never)."""
    import pyarrow as pa

    from s1mmalign.loaders.select import where_mask

    rnd = random.Random(0)
    values = [rnd.choice(["cc-by-4.0", "cc-by-nc-4.0", "", None, "é-ü"]) for _ in range(500)]
    plain = pa.chunked_array([pa.array(values[:200]), pa.array(values[200:])]).slice(7, 450)
    for column in (plain, pa.chunked_array([c.dictionary_encode() for c in plain.chunks])):
        table = pa.table({"license": column})
        for op, want, keep in (("==", "cc-by-4.0", lambda v: v == "cc-by-4.0"), ("!=", "", lambda v: v != ""),
                               ("in", ["é-ü", "x"], lambda v: v == "é-ü"), (">", "cc-by-4.0", lambda v: v > "cc-by-4.0")):
            got = where_mask([[("license", op, want)]], table, "physics", "test").tolist()
            assert got == [v is not None and keep(v) for v in values[7:457]], (column.type, op)


def test_columns_read_fewer_bytes_through_the_file_system(two):
    a, _ = two

    def rchar() -> int:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
        raise AssertionError("no rchar")

    def run(columns):
        s = S1MMAlignStream(a, format="parquet", columns=columns, shuffle=False, read_ahead=0)
        before = rchar()
        out = list(s)
        return rchar() - before, out

    full, all_rows = run(None)
    few, rows = run(["image", "recaption"])
    assert [r["key"] for r in rows] == [r["key"] for r in all_rows]
    assert set(rows[0]) == {"key", "image", "recaption", "text", "__shard__"}
    assert [r["text"] for r in rows] == [r["text"] for r in all_rows]
    assert rows[3]["image"].tobytes() == all_rows[3]["image"].tobytes()
    assert few < 0.6 * full, (few, full)  # abstract and citation contexts are most of the bytes here
    meta_only = list(S1MMAlignStream(a, format="wds", columns=["license"], shuffle=False))
    assert set(meta_only[0]) == {"key", "license", "text", "__shard__"}
    with pytest.raises(ValueError, match="unknown columns"):
        S1MMAlignStream(a, columns=["imgae"])


def test_decode_false_hands_out_the_stored_image_bytes(two):
    a, _ = two
    stored = {r["key"]: r["image"]["bytes"] for r in varied(200)}
    for fmt in ("wds", "parquet"):
        raw = list(S1MMAlignStream(a, format=fmt, decode=False, columns=["image", "recaption"], shuffle=False))
        assert len(raw) == 200 and all(x["image"] == stored[x["key"]] for x in raw)
        first = next(iter(S1MMAlignStream(a, format=fmt, columns=["image"], shuffle=False)))
        assert first["key"] == raw[0]["key"]  # the default decodes (PIL, RGB): the same pixels
        assert first["image"].tobytes() == decode_image(raw[0]["image"]).tobytes()


def test_tar_metadata_is_parsed_only_when_a_metadata_column_is_asked(two):
    a, _ = two
    full = {x["key"]: x for x in S1MMAlignStream(a, format="wds", shuffle=False)}
    for caption in ("recaption", "caption", "mix"):
        want = {x["key"]: x["text"] for x in S1MMAlignStream(a, format="wds", caption=caption, shuffle=False)}
        got = {x["key"]: x["text"] for x in S1MMAlignStream(a, format="wds", columns=["image"], caption=caption, shuffle=False)}
        assert got == want and len(got) == 200
    # proof that .json is not parsed: a copy whose .json members are garbage still streams image + text
    bad = a.parent / "bad-json"
    shutil.copytree(a, bad)
    for tar in (bad / "wds").rglob("*.tar"):
        data = bytearray(tar.read_bytes())
        at = 0
        while at + 512 <= len(data) and any(data[at:at + 512]):
            name = bytes(data[at:at + 100]).split(b"\0")[0]
            size = int(bytes(data[at + 124:at + 136]).split(b"\0")[0].strip() or b"0", 8)
            if name.endswith(b".json"):
                data[at + 512:at + 512 + size] = b"{" * size  # same length: offsets and the index hold
            at += 512 + size + (-size % 512)
        tar.write_bytes(bytes(data))
    ok = list(S1MMAlignStream(bad, format="wds", columns=["image"], shuffle=False, check_index=False))
    assert {x["key"]: x["text"] for x in ok} == {k: x["text"] for k, x in full.items()}
    it = iter(S1MMAlignStream(bad, format="wds", columns=["image", "license"], shuffle=False, check_index=False))
    with pytest.raises(RuntimeError, match="bad_json"):
        list(it)


def test_mixing_sources_with_weights_is_exact_and_deterministic(two):
    a, b = two
    s = S1MMAlignStream([a, b], weights=[3, 1], samples_per_epoch=160, seed=4)
    got = keys(s)
    by = collections.Counter(k.split("_")[0] for k in got)
    assert len(got) == len(s) == 160 and by == {"s0": 120, "s1": 40}
    assert len(set(got)) == len(got)  # neither source needs cycling at these sizes
    assert keys(S1MMAlignStream([a, b], weights=[3, 1], samples_per_epoch=160, seed=4)) == got
    s.set_epoch(1)
    assert keys(s) != got
    # no weights: the sources are concatenated
    both = S1MMAlignStream([a, b], disciplines="physics")
    assert len(keys(both)) == 50 + 30
    with pytest.raises(ValueError, match="2 sources"):
        S1MMAlignStream([a, b], weights=[1, 2, 3])
    for bad in (["3", 1], [True, 1], {"physics": "1"}):  # before: "'>=' not supported between 'str' and 'int'"
        with pytest.raises(ValueError, match="weights must be numbers"):
            S1MMAlignStream([a, b] if isinstance(bad, list) else a, weights=bad)


def test_mixed_streams_resume_exactly_with_workers(two):
    a, b = two

    def loader():
        s = S1MMAlignStream([a, b], weights=[1, 1], seed=2, shuffle_buffer=16, mix_chunk=9)
        s.set_epoch(1)
        return make_dataloader(s, batch_size=8, num_workers=2)

    full = [batch["key"] for batch in loader()]
    first = loader()
    it = iter(first)
    head = [next(it)["key"] for _ in range(7)]
    state = first.state_dict()
    del it
    again = loader()
    again.load_state_dict(state)
    tail = [batch["key"] for batch in again]
    assert head + tail == full


def test_take_and_resampled(two):
    a, _ = two
    s = S1MMAlignStream(a, seed=1).take(17)
    assert len(keys(s)) == len(s) == 17
    r = S1MMAlignStream(a, resampled=True, samples_per_epoch=500, disciplines="biology", seed=3)
    got = keys(r)
    assert len(got) == len(r) == 500 and len(set(got)) == 50  # 50 biology samples, drawn with replacement
    with pytest.raises(ValueError, match="samples_per_epoch"):
        S1MMAlignStream(a, resampled=True)


def test_cache_limit_evicts_lru_and_never_a_shard_in_use(two, tmp_path):
    a, _ = two
    server, _ = serve_http(a)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        sizes = [e["bytes"] for e in S1MMAlignStream(a, format="wds").source.index["shards"] if e["format"] == "wds"]
        limit = 3 * max(sizes)
        cache = tmp_path / "cache"
        held = None
        for epoch in range(2):
            s = S1MMAlignStream(url, format="wds", cache_dir=cache, cache_limit=limit, seed=epoch)
            if held is None:  # open one cached shard and keep it open through the whole epoch
                list(S1MMAlignStream(url, format="wds", cache_dir=cache, cache_limit=limit, disciplines="physics"))
                held_path = next(p for p in cache.rglob("*.tar"))
                held = s.source.cache.open(held_path)
            n = len(keys(s))
            assert n == 200
            total = sum(p.stat().st_size for p in cache.rglob("*.tar"))
            assert held_path.exists(), "a shard in use was evicted"
            assert total <= limit + held_path.stat().st_size, (total, limit)
        s.source.cache.limit = 1  # evict everything that can be
        s.source.cache.evict()
        assert list(cache.rglob("*.tar")) == [held_path]  # the one in use stays
        held.close()
        s.source.cache.evict()
        assert not held_path.exists()  # free now
    finally:
        server.shutdown()
        server.server_close()
    assert parse_size("50GB") == 50 * 10**9 and parse_size("1.5MiB") == 3 << 19
    with pytest.raises(ValueError, match="cache_limit"):
        parse_size("lots")
    with pytest.raises(ValueError, match="cache_limit must be bytes or a size like"):
        S1MMAlignStream(two[0], cache_limit="50XB")  # a local source uses no cache: the typo is still an error


def test_local_prestaged_copy_is_read_instead_of_the_remote(two, tmp_path):
    a, _ = two
    local = tmp_path / "local"
    shutil.copytree(a / "wds" / "physics", local / "wds" / "physics")
    server, state = serve_http(a)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        s = S1MMAlignStream(url, format="wds", disciplines="physics", local=local)
        assert len(keys(s)) == 50 and s.source.bytes_read[0] == 0 and state["gets"] == 0
        s = S1MMAlignStream(url, format="wds", disciplines=["physics", "biology"], local=local)
        assert len(keys(s)) == 100 and s.source.bytes_read[0] > 0  # biology is not staged: remote
        with pytest.raises(ValueError, match="local= names the staged copy of one source"):
            S1MMAlignStream([url, a], local=local)
    finally:
        server.shutdown()
        server.server_close()


def test_sidecars_carry_the_filter_columns(two):
    a, _ = two
    side = next((a / "index").rglob("*.idx.parquet"))
    names = pq.read_schema(side).names
    assert {"width", "height", "multi_panel", "license", "source", "caption_chars"} <= set(names)


def test_reindex_adds_filter_columns_and_joins_eval_scores(tmp_path):
    import subprocess
    import sys

    import pyarrow as pa

    out = tmp_path / "old"
    recs = list(varied(80, seed=2))
    for r in recs:
        r["clip_score_caption"] = r["clip_score_recaption"] = None  # built without the score stage
    write_dataset(recs, out, options=SMALL)
    for side in (out / "index").rglob("*.idx.parquet"):  # an index from before the filter columns
        table = pq.read_table(side)
        pq.write_table(table.drop_columns(["width", "height", "multi_panel", "image_offset", "image_size"]), side)
    with pytest.raises(ValueError, match="where= column 'width' is not in the sample index.*s1mmalign reindex"):
        S1MMAlignStream(out, where=[("width", ">=", 128)])
    with pytest.raises(ValueError, match=r"no sample.*No sample has a CLIP score.*s1mmalign evaluate .*s1mmalign reindex"):
        S1MMAlignStream(out, min_clip_score=0.5)  # (before: only "Loosen the filters", for a score no sample has)
    (out / "eval").mkdir()
    scored = {r["key"]: 0.2 + 0.01 * i for i, r in enumerate(recs)}
    pq.write_table(pa.table({"key": list(scored), "clip_score_caption": list(scored.values()),
                             "clip_score_recaption": list(scored.values())}), out / "eval" / "scores.parquet")
    shard_bytes = {p: p.read_bytes() for p in out.rglob("*.tar")}
    cli = Path(sys.executable).with_name("s1mmalign")  # the installed console script
    run = subprocess.run([str(cli), "reindex", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "scores joined for 160 samples" in run.stdout  # 80 keys, in both formats
    assert {p: p.read_bytes() for p in out.rglob("*.tar")} == shard_bytes  # shards untouched
    for side in (out / "index" / "data").rglob("*.idx.parquet"):  # Parquet sidecars locate images again
        assert pq.read_table(side, columns=["image_offset"])["image_offset"].null_count == 0
    for fmt in ("wds", "parquet"):
        got = keys(S1MMAlignStream(out, format=fmt, where=[("width", ">=", 128)], min_clip_score=0.5))
        want = {k for i, (k, v) in enumerate(scored.items()) if v >= 0.5 and (64, 96, 128, 160)[i % 4] >= 128}
        assert sorted(got) == sorted(want) and want


def test_parquet_slice_reads_its_images_by_range(two, tmp_path):
    """A Parquet sidecar locates each row's image bytes in its shard: a slice reads those ranges and
    the small columns, not the row groups' whole image column chunks -- the same samples with far
    fewer bytes read than a copy whose sidecars lack the ranges (an index written before them)."""
    import numpy as np
    import pyarrow as pa
    from PIL import Image

    def noisy(n: int):  # photographs-like JPEGs (noise does not compress): images are most of each shard
        rnd = random.Random(5)
        for i, r in enumerate(synthetic_records(n, seed=5)):
            side = 96 + (i // 4) % 8  # width 96: one record in 8, four in a row
            buf = io.BytesIO()
            Image.frombytes("RGB", (side, side), rnd.randbytes(side * side * 3)).save(buf, "JPEG", quality=90)
            r["image"] = {"bytes": buf.getvalue(), "path": None}
            yield r

    root = tmp_path / "big-row-groups"
    write_dataset(noisy(160), root, options=ShardOptions(row_group_bytes=1 << 20))
    sidecars = sorted((root / "index" / "data").rglob("*.idx.parquet"))
    assert sidecars
    for side in sidecars:  # every range holds exactly its row's stored image
        table = pq.read_table(side)
        shard = root / "data" / side.relative_to(root / "index" / "data").as_posix().removesuffix(".idx.parquet")
        data = shard.read_bytes()
        images = pq.read_table(shard, columns=["image"]).column("image").combine_chunks().field("bytes").to_pylist()
        offs, sizes = table["image_offset"].to_pylist(), table["image_size"].to_pylist()
        assert [data[o : o + n] for o, n in zip(offs, sizes)] == images
    old = tmp_path / "no-ranges"  # the same dataset as indexed before the ranges existed
    shutil.copytree(root, old)
    for side in sorted((old / "index" / "data").rglob("*.idx.parquet")):
        table = pq.read_table(side)
        meta = table.schema.metadata
        for name in ("image_offset", "image_size"):
            table = table.set_column(table.schema.get_field_index(name), name, pa.nulls(table.num_rows, pa.int64()))
        pq.write_table(table.replace_schema_metadata(meta), side)

    def rchar() -> int:
        return int(next(x for x in Path("/proc/self/io").read_text().splitlines() if x.startswith("rchar:")).split()[1])

    where = [("width", "==", 96)]  # one row in 8, spread over the row groups
    got = {}
    for name, folder in (("ranges", root), ("pyarrow", old)):
        s = S1MMAlignStream(folder, format="parquet", where=where, decode=False, shuffle=False, read_ahead=0,
                            columns=["image", "recaption"])  # what a CLIP job reads: images are most of it
        gaps = any(p.rows is not None and np.any(np.diff(p.rows) > 1) for p in s.selection.picks)
        assert gaps and all((p.offsets is not None) == (name == "ranges") for p in s.selection.picks if p.rows is not None)
        before = rchar()
        rows = list(s)
        got[name] = (rchar() - before, [(r["key"], r["image"], r["recaption"]) for r in rows])
    assert got["ranges"][1] == got["pyarrow"][1] and len(got["ranges"][1]) == 20  # of 160
    assert got["ranges"][0] < 0.4 * got["pyarrow"][0], (got["ranges"][0], got["pyarrow"][0])
    s = S1MMAlignStream(root, format="parquet", where=where, shuffle=False)  # decoded, the same samples
    assert [r["key"] for r in s] == [k for k, _, _ in got["ranges"][1]]
    # a sidecar whose ranges leave the shard is refused as a whole, like a tar sidecar's
    side = sidecars[0]
    table = pq.read_table(side)
    meta = table.schema.metadata
    offs = table["image_offset"].to_pylist()
    offs[-1] = 1 << 40
    table = table.set_column(table.schema.get_field_index("image_offset"), "image_offset", pa.array(offs, pa.int64()))
    pq.write_table(table.replace_schema_metadata(meta), side)
    with pytest.raises(ValueError, match="image ranges out of order, overlapping or past the shard"):
        list(S1MMAlignStream(root, format="parquet", where=where, decode=False))


def test_license_filters_compare_licenses_as_spdx_ids_however_spelled(tmp_path):
    """Records keep licenses as papers write them: a filter that excludes ``cc-by-nc-4.0`` must also
    exclude ``CC-BY-NC 4.0`` and the license's URL (before: raw strings were compared, and the README's
    ``("license", "not in", ["cc-by-nc-4.0", ...])`` kept the demo dataset's ``CC-BY-NC 4.0`` figure).
    Shards of one spelling are decided from the index's counts, mixed shards from the sidecars;
    a string that names no known license is still compared as written. Also `s1mmalign stream --license`."""
    spellings = ["CC-BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/", "cc-by-4.0",
                 "Creative Commons Attribution 4.0 International", "Custom terms"]
    recs = []
    for i, r in enumerate(synthetic_records(60, disciplines=("physics", "biology"))):
        # physics: every spelling mixed in each shard; biology: one NC spelling only (the index's counts decide)
        r["license"] = spellings[i % len(spellings)] if r["discipline"] == "physics" else "CC BY-NC 4.0"
        recs.append(r)
    root = tmp_path / "licenses"
    write_dataset(recs, root, options=SMALL)
    nc = {r["key"] for r in recs if "NC" in r["license"] or "by-nc" in r["license"]}
    custom = {r["key"] for r in recs if r["license"] == "Custom terms"}
    every = {r["key"] for r in recs}
    for fmt in ("wds", "parquet"):
        open_only = S1MMAlignStream(root, format=fmt, where=[("license", "not in", ["cc-by-nc-4.0", "cc-by-nc-sa-4.0"])])
        assert set(keys(open_only)) == every - nc and len(open_only) == len(every - nc)
        assert set(keys(S1MMAlignStream(root, format=fmt, licenses="cc-by-nc-4.0"))) == nc
        assert set(keys(S1MMAlignStream(root, format=fmt, where=[("license", "!=", "CC BY-NC 4.0")]))) == every - nc
        assert set(keys(S1MMAlignStream(root, format=fmt, where=[("license", "==", "Custom terms")]))) == custom
    out = subprocess.run([sys.executable, "-m", "s1mmalign.builder.commands.cli", "stream", str(root),
                          "--license", "https://creativecommons.org/licenses/by-nc/4.0/legalcode", "--show", "0"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith(f"{len(nc)} samples"), out.stdout + out.stderr


def test_where_with_a_number_on_a_text_column_is_an_error_not_an_empty_selection(two):
    """Before: where=[("license", "==", 3)] was decided from the index's counts (no license equals 3) and ended in
    'no sample ... matches': it looked like a filter that matched nothing, not a mistake. The 'no sample' error of
    a where= term on license or source now lists the values present, as licenses=/sources= did."""
    a, _ = two
    for where in ([("license", "==", 3)], [("source", "in", ["arxiv", 1])], [("discipline", "!=", None)]):
        with pytest.raises(ValueError, match="compares the text column .* not the same kind of value; give text"):
            S1MMAlignStream(a, where=where)
    with pytest.raises(ValueError, match="Licenses present: cc-by-4.0, cc-by-nc-4.0"):
        S1MMAlignStream(a, where=[("license", "==", "cc0-1.0")])


def test_a_file_given_as_the_dataset_is_named_as_such(two):
    """Before: S1MMAlignStream('.../sizes.json') raised NotADirectoryError for '.../sizes.json/index/shards.json'."""
    a, _ = two
    with pytest.raises(NotADirectoryError, match=r"sizes.json is a file; name the dataset folder"):
        S1MMAlignStream(a / "sizes.json")


def test_an_empty_dataset_is_named_empty_not_a_filter_to_loosen(tmp_path):
    """Before: a dataset whose index lists no shard gave 'no sample of X matches {} ... Loosen the filters'."""
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "shards.json").write_text('{"version": 1, "shards": []}')
    with pytest.raises(ValueError, match="is an empty dataset: its index/shards.json lists no shard"):
        S1MMAlignStream(tmp_path)
