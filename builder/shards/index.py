"""The dataset's shard index and ``sizes.json`` files, rebuilt from the per-shard sidecars
once the shard names are settled (:mod:`s1mmalign.builder.shards.names`).

The format is described in :mod:`s1mmalign.core.layout`.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Optional

from s1mmalign.builder.shards.names import settle_names
from s1mmalign.core import contract
from s1mmalign.core.atomic import write_text_atomic
from s1mmalign.core.layout import INDEX_VERSION, read_sidecar


def _count(values) -> dict[str, int]:
    return dict(sorted(collections.Counter(values).items()))


def duplicate_keys(keys_per_shard: list[list[str]], limit: int = 20) -> tuple[int, list[str]]:
    """(how many keys appear more than once, up to ``limit`` of them) over shards of one format.

    Writers reject repeats within one call; this catches keys written by separate calls into
    one folder (units of ``convert`` run side by side). 8 bytes per key: Python's string hash
    sorts the candidates, equal strings confirm them.
    """
    import numpy as np

    keys = [k for ks in keys_per_shard for k in ks]
    if len(keys) < 2:
        return 0, []
    h = np.fromiter((hash(k) for k in keys), dtype=np.int64, count=len(keys))
    order = np.argsort(h, kind="stable")
    same = np.flatnonzero(h[order][1:] == h[order][:-1])
    dup = sorted({keys[order[i]] for i in same if keys[order[i]] == keys[order[i + 1]]})
    return len(dup), dup[:limit]


#: Sidecar facts that settle a shard's name (:mod:`names`), not part of the index.
_NAMING_FACTS = ("unit", "part")


def collect_shards(out: Path, keys: Optional[dict[str, list]] = None) -> list[dict]:
    """Shard entries from every sidecar (after :func:`settle_names`: each has its shard).
    ``keys``, when given, receives each format's list of per-shard key lists."""
    entries = []
    for sc in sorted((out / contract.INDEX_DIR).rglob("*.idx.parquet")):
        facts, table = read_sidecar(sc)
        cols = table.to_pydict()
        if keys is not None:
            keys.setdefault(facts["format"], []).append(cols["key"])
        entry = {k: v for k, v in facts.items() if k not in _NAMING_FACTS}
        entry["modalities"] = _count(cols["modality"])
        entry["sources"] = _count(cols["source"])
        entry["licenses"] = _count(cols["license"])
        entry["sample_index"] = sc.relative_to(out).as_posix()
        if facts["format"] == "parquet":
            groups: dict[int, list] = collections.defaultdict(list)
            for rg, m in zip(cols["row_group"], cols["modality"]):
                groups[rg].append(m)
            entry["row_groups"] = [{"num_rows": len(groups[g]), "modalities": _count(groups[g])} for g in sorted(groups)]
        entries.append(entry)
    return entries


def write_index(out: str | Path) -> dict:
    """Settle the shard names, rebuild ``index/shards.json`` and the ``sizes.json`` files;
    returns the index."""
    out = Path(out)
    settle_names(out)
    keys: dict[str, list] = {}
    shards = collect_shards(out, keys)
    # Counts come from one format (Parquet when written) so samples are not counted twice.
    formats = {s["format"] for s in shards}
    primary = "parquet" if "parquet" in formats else "wds"
    n_dup, dup_examples = duplicate_keys(keys.get(primary, []))
    del keys
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for s in shards:
        if s["format"] == primary:
            counts[s["discipline"]].update(s["modalities"])
    index = {
        "version": INDEX_VERSION,
        "contract": contract.CONTRACT_VERSION,
        "num_samples": sum(s["num_samples"] for s in shards if s["format"] == primary),
        "formats": sorted(formats),
        "counts": {d: dict(sorted(c.items())) for d, c in sorted(counts.items())},
        "shards": shards,
    }
    if n_dup:  # only when there are any: written by separate calls into one folder (see duplicate_keys)
        index["duplicate_keys"] = {"count": n_dup, "examples": dup_examples}
    write_text_atomic(out / contract.SHARD_INDEX_FILE, json.dumps(index, indent=1))
    write_text_atomic(out / contract.SIZES_FILE, json.dumps({s["path"]: s["num_samples"] for s in shards}, indent=1))
    tars = {Path(s["path"]).name: s["num_samples"] for s in shards if s["format"] == "wds"}
    for folder in {str(Path(s["path"]).parent) for s in shards if s["format"] == "wds"}:
        write_text_atomic(out / folder / "sizes.json", json.dumps(tars, indent=1))
    return index
