"""Shard names: numbered per discipline (``wds/physics/physics-00000.tar``), settled once every
unit is written, the same for ``write`` and the build units of ``build``/``convert``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from braceexpand import braceexpand
from conftest import make_records, make_release

from s1mmalign.builder.commands.convert import convert_release
from s1mmalign.builder.shards import names
from s1mmalign.builder.shards.card import tar_patterns
from s1mmalign.builder.shards.write import finalize_dataset, write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.core.layout import read_index, sidecar_rel

SMALL = ShardOptions(parquet_shard_bytes=15_000, tar_shard_bytes=15_000, row_group_bytes=4_000)


def _shards(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for d in ("wds", "data") for p in (out / d).rglob("*")
                  if p.name.endswith((".tar", ".parquet")))


def _open_clip_size(patterns: str, root: Path) -> int:
    """open_clip's ``get_dataset_size``: braceexpand the ``::``-joined patterns, read the
    ``sizes.json`` beside the FIRST shard and look every shard up by basename."""
    shards = [s for p in patterns.split("::") for s in braceexpand(p)]
    sizes = json.loads((root / os.path.dirname(shards[0]) / "sizes.json").read_text())
    return sum(int(sizes[os.path.basename(s)]) for s in shards)


def test_write_numbers_tars_per_discipline_and_the_card_prints_one_pattern_each(tmp_path):
    write_dataset(make_records(60), tmp_path, options=SMALL)
    index = read_index(tmp_path)
    counts = {d: sum(c.values()) for d, c in index["counts"].items()}
    tars = [s["path"] for s in index["shards"] if s["format"] == "wds"]
    assert len(tars) > len(counts)  # several tars per discipline, so numbering matters
    for s in index["shards"]:  # <dir>/<d>/<d>-NNNNN.<ext>
        assert re.fullmatch(rf"(wds|data)/{s['discipline']}/{s['discipline']}-\d{{5}}\.(tar|parquet)", s["path"])
    assert len({Path(t).name for t in tars}) == len(tars)  # basenames unique across the dataset
    patterns = tar_patterns(index)
    card = (tmp_path / "README.md").read_text()
    for d, pattern in patterns.items():
        assert f"`{pattern}`" in card
        expanded = list(braceexpand(pattern))
        assert expanded == sorted(t for t in tars if t.startswith(f"wds/{d}/"))  # exactly this discipline, in order
        got = [json.loads(s["json"])["discipline"] for s in wds.WebDataset([str(tmp_path / e) for e in expanded],
                                                                          shardshuffle=False)]
        assert len(got) == counts[d] and set(got) == {d}
        assert _open_clip_size(str(tmp_path / pattern), tmp_path) == counts[d]
    mixed = "::".join(str(tmp_path / p) for p in patterns.values())  # folders mixed in one --train-data
    assert _open_clip_size(mixed, tmp_path) == index["num_samples"]
    assert "physics-{00000.." in patterns["physics"]


def test_refinalizing_renames_nothing_and_a_second_write_adds_after_the_first(tmp_path):
    write_dataset(make_records(30), tmp_path, options=SMALL)
    first = {p: (tmp_path / p).read_bytes() for p in _shards(tmp_path)}
    finalize_dataset(tmp_path)
    assert _shards(tmp_path) == sorted(first)
    write_dataset(make_records(30, start=100), tmp_path, options=SMALL)
    for p, data in first.items():  # the first call's shards keep their names and bytes
        assert (tmp_path / p).read_bytes() == data
    index = read_index(tmp_path)
    assert index["num_samples"] == 60 and "duplicate_keys" not in index
    for d in index["counts"]:  # still numbered from 0 without a gap
        tars = sorted(s["path"] for s in index["shards"] if s["format"] == "wds" and s["discipline"] == d)
        assert tars == [f"wds/{d}/{d}-{i:05d}.tar" for i in range(len(tars))]


def test_settling_killed_at_any_step_ends_with_the_same_names(tmp_path):
    """The states a kill can leave inside settle_names: a shard parked between names, a new
    sidecar written before its shard moved. The next finalize ends where an unkilled one does."""
    ref = tmp_path / "ref"
    write_dataset(make_records(30), ref, options=SMALL)
    expected = {p: (ref / p).read_bytes() for p in _shards(ref)}

    out = tmp_path / "out"
    write_dataset(make_records(30), out, options=SMALL, finalize=False)
    working = _shards(out)
    assert all(Path(p).name.startswith("part-") for p in working)
    # kill after parking one shard, and after the new sidecar of another was written
    names._rename(out, working[0], working[0].rsplit("/", 1)[0] + "/settling-" + working[0].rsplit("/", 1)[1])
    facts = json.loads(json.dumps(next(f for _, f in names.shard_facts(out) if f["path"] == working[1])))
    table = pq.read_table(out / sidecar_rel(working[1]))
    orphan = "wds/physics/physics-00009.tar"  # the new sidecar of a rename whose shard never moved
    pq.write_table(table.replace_schema_metadata({"s1mmalign_shard": json.dumps({**facts, "path": orphan})}),
                   out / sidecar_rel(orphan))
    finalize_dataset(out)
    assert {p: (out / p).read_bytes() for p in _shards(out)} == expected
    assert not (out / sidecar_rel(orphan)).exists()  # the orphan sidecar is dropped


def test_a_final_name_held_by_a_foreign_file_is_never_overwritten(tmp_path):
    write_dataset(make_records(9), tmp_path, options=SMALL, finalize=False)
    foreign = tmp_path / "wds" / "physics" / "physics-00000.tar"
    foreign.write_bytes(b"not ours")
    with pytest.raises(names.ShardNameError, match="physics-00000.tar exists"):
        finalize_dataset(tmp_path)
    assert foreign.read_bytes() == b"not ours"


OPTS = ShardOptions(tar_shard_bytes=150_000, parquet_shard_bytes=150_000, row_group_bytes=50_000)


def test_build_units_get_the_same_names_as_write_would_and_a_rewritten_unit_supersedes_its_old_shards(tmp_path):
    rel = make_release(tmp_path / "rel", {10: 24, 11: 24}, size=(200, 160))
    out = tmp_path / "out"
    convert_release(rel, out, options=OPTS, progress=False, workers=2)
    index = read_index(out)
    assert index["num_samples"] == 48
    for d in index["counts"]:
        for fmt, folder, ext in (("wds", "wds", "tar"), ("parquet", "data", "parquet")):
            paths = sorted(s["path"] for s in index["shards"] if s["format"] == fmt and s["discipline"] == d)
            assert paths == [f"{folder}/{d}/{d}-{i:05d}.{ext}" for i in range(len(paths))]
    # the first unit's shards come first: (unit, part) order, not finishing order
    units = {f["path"]: f["unit"] for _, f in names.shard_facts(out)}
    physics = sorted(p for p in units if p.startswith("wds/physics/"))
    assert [units[p] for p in physics] == sorted(units[p] for p in physics) and len(set(units.values())) == 2
    before = _shards(out)

    # other options redo every unit with fewer records: the old shards are superseded, not kept
    convert_release(rel, out, options=OPTS, progress=False, disciplines=["physics"])
    index = read_index(out)
    assert index["num_samples"] == 24 and "duplicate_keys" not in index and list(index["counts"]) == ["physics"]
    assert len(_shards(out)) < len(before)
    assert not [p for p in _shards(out) if "/biology/" in p]  # the first run's biology shards are gone
    assert sum(s["num_samples"] for s in index["shards"] if s["format"] == "wds") == 24
    assert not [p for p in _shards(out) if "part-" in p or "settling-" in p]
    for d in index["counts"]:
        tars = sorted(s["path"] for s in index["shards"] if s["format"] == "wds" and s["discipline"] == d)
        assert tars == [f"wds/{d}/{d}-{i:05d}.tar" for i in range(len(tars))]


def test_a_unit_rewritten_with_no_record_leaves_none_of_its_old_shards(tmp_path):
    rel = make_release(tmp_path / "rel", {10: 12, 11: 12}, size=(200, 160))
    out = tmp_path / "out"
    convert_release(rel, out, options=OPTS, progress=False)
    assert read_index(out)["num_samples"] == 24
    # a discipline filter none of the records has: every unit is redone and writes nothing
    report = convert_release(rel, out, options=OPTS, progress=False, disciplines=["chemistry"])
    assert report["written"] == 0
    assert _shards(out) == []
