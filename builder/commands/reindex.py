"""``s1mmalign reindex DATASET``: rebuild the per-shard sidecars and the shard index from the shards.

An index written before a sidecar column existed (``width``, ``height``, ``multi_panel``, ``year``: the
loader's ``where=`` filters) gains it; scores that ``s1mmalign evaluate`` wrote to
``eval/scores.parquet`` are joined in by key, so ``min_clip_score=`` and ``where=`` on scores work
on any evaluated dataset. Each sidecar is rebuilt from its own shard's metadata (the same scan the
loader uses when there is no index), written atomically, then ``index/shards.json``,
``sizes.json`` and the card are rebuilt from the sidecars. Only index files are rewritten: shards
are read, never touched.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from s1mmalign.builder.shards.write import finalize_dataset
from s1mmalign.builder.shards.writers import sidecar_path
from s1mmalign.core.atomic import atomic_file, fsync_and_hash
from s1mmalign.core.layout import SAMPLE_INDEX_SCHEMA, SHARD_SUFFIXES, note_image_ranges, read_sidecar, scan_shard

SCORE_COLUMNS = ("clip_score_caption", "clip_score_recaption")


def _scores(out: Path) -> dict[str, tuple]:
    path = out / "eval" / "scores.parquet"
    if not path.is_file():
        return {}
    table = pq.read_table(path, columns=["key", *SCORE_COLUMNS])
    return {k: v for k, *v in zip(*(table[c].to_pylist() for c in ("key", *SCORE_COLUMNS)))}


def reindex(out: str | Path) -> dict:
    """Rebuild every sidecar of ``out`` (joining ``eval/scores.parquet``), then the index; returns it."""
    out = Path(out).resolve()
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: no such dataset folder")
    shards = sorted(p.relative_to(out).as_posix() for folder in ("wds", "data") for p in (out / folder).rglob("*")
                    if p.suffix in SHARD_SUFFIXES and not p.name.startswith(".") and p.is_file() and not p.is_symlink())
    if not shards:
        raise FileNotFoundError(f"{out}: no shards under wds/ or data/: is this an s1mmalign dataset folder?")
    scores = _scores(out)
    joined = 0
    for rel in shards:
        fmt = SHARD_SUFFIXES[Path(rel).suffix]
        cols: dict[str, list] = collections.defaultdict(list)
        with open(out / rel, "rb") as f:
            scan_shard(f, fmt, cols)
        if fmt == "parquet":
            note_image_ranges(cols, out / rel)  # a dataset written before the sidecars located images
        for i, key in enumerate(cols["key"]):
            if key in scores:
                for name, value in zip(SCORE_COLUMNS, scores[key]):
                    if value is not None:
                        cols[name][i] = value
                joined += 1
        side = sidecar_path(out, rel)
        try:
            facts = read_sidecar(side)[0]
        except (OSError, KeyError, ValueError):
            facts = {}
        nbytes, sha = fsync_and_hash(out / rel, durable=False)
        facts.update({"path": rel, "format": fmt, "discipline": facts.get("discipline") or rel.split("/")[1],
                      "num_samples": len(cols["key"]), "bytes": nbytes, "sha256": sha})
        table = pa.table({n: cols[n] for n in SAMPLE_INDEX_SCHEMA.names}, schema=SAMPLE_INDEX_SCHEMA)
        with atomic_file(side) as f:
            pq.write_table(table.replace_schema_metadata({"s1mmalign_shard": json.dumps(facts)}), f,
                           compression="zstd")
    index = finalize_dataset(out)
    index["reindexed_scores"] = joined
    return index


def add_cli(sub) -> None:
    p = sub.add_parser("reindex", help="rebuild the sidecars and index/shards.json from the shards (+ eval scores)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("dataset", help="a dataset folder written by s1mmalign")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    index = reindex(args.dataset)
    print(f"reindexed {len(index['shards'])} shards, {index['num_samples']} samples of {args.dataset}; "
          f"scores joined for {index['reindexed_scores']} samples")
    return 0
