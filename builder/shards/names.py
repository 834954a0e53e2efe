"""Final shard names, settled once every unit is written: ``wds/<d>/<d>-NNNNN.tar``.

Writers name a shard after what wrote it (``part-<unit>-NNNNN``, or ``part-NNNNN`` for a single
``write``): units run side by side and finish in any order, so no unit can know its final
numbers. :func:`settle_names` (called by ``finalize_dataset``) then gives every shard of a
discipline and format its number, in the order of ``(unit, part)`` recorded in its sidecar:

    wds/physics/physics-00000.tar ... physics-00011.tar     data/physics/physics-00000.parquet ...

so one brace pattern addresses one discipline (``wds/physics/physics-{00000..00011}.tar``) and
every basename is unique in the dataset (open_clip looks shards up by basename). The order
depends only on what was written, never on timing: a resumed or re-finalized build gets the
same names, and settling settled names renames nothing.

A unit written again (a resumed build, changed options) leaves its settled shards in place until
here: a unit with shards under its working names has been written since the last settling, so
its settled shards are superseded and removed (an empty rewrite removes them at once:
:func:`remove_settled`). ``write_dataset`` calls without a unit never supersede: their parts
continue the numbering of the folder, so a second call adds shards after the first's. Shards
without these facts (datasets of earlier versions) keep their names.

Every rename is crash-safe: the new sidecar is written first, then the shard renamed, then the
old sidecar removed; a sidecar whose shard is missing is dropped by the next pass.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from s1mmalign.core import contract
from s1mmalign.core.atomic import atomic_file
from s1mmalign.core.layout import read_sidecar, shard_rel, sidecar_rel

WORKING_PREFIX = "part"
PARKED_PREFIX = "settling-"  # a shard between two names while names are settled


class ShardNameError(RuntimeError):
    """A final shard name is taken by a file this program did not write."""


def working_prefix(unit: str = "") -> str:
    """The name prefix a writer of ``unit`` uses until the names are settled."""
    return f"{WORKING_PREFIX}-{unit}" if unit else WORKING_PREFIX


def _rename(out: Path, old_rel: str, new_rel: str) -> None:
    """Move one shard and its sidecar: new sidecar, shard, old sidecar gone (each step leaves a
    state the next pass reads right)."""
    if (out / new_rel).exists():
        raise ShardNameError(f"{out / new_rel} exists and is not a shard of this dataset; move it away and rerun")
    facts, table = read_sidecar(out / sidecar_rel(old_rel))
    facts["path"] = new_rel
    with atomic_file(out / sidecar_rel(new_rel)) as f:
        pq.write_table(table.replace_schema_metadata({"s1mmalign_shard": json.dumps(facts)}), f, compression="zstd")
    (out / new_rel).parent.mkdir(parents=True, exist_ok=True)
    os.rename(out / old_rel, out / new_rel)
    (out / sidecar_rel(old_rel)).unlink()


def shard_facts(out: Path) -> Iterator[tuple[Path, dict]]:
    """(sidecar, facts) of every sidecar of a dataset folder (schema metadata only: cheap)."""
    for sc in sorted((out / contract.INDEX_DIR).rglob("*.idx.parquet")):
        yield sc, json.loads(pq.read_schema(sc).metadata[b"s1mmalign_shard"])


def _working(f: dict) -> bool:
    return f["path"].rsplit("/", 1)[-1].startswith(f"{WORKING_PREFIX}-")


def settle_names(out: str | os.PathLike) -> dict[str, int]:
    """Give every shard its final name; returns counts (``renamed``, ``superseded``, ``orphans``)."""
    out = Path(out)
    counts: collections.Counter = collections.Counter()
    written = []  # facts of the shards that carry unit and part
    for sc, facts in shard_facts(out):
        if not (out / facts["path"]).is_file():  # writer or rename killed before the shard moved
            sc.unlink()
            counts["orphans"] += 1
        elif "part" in facts:
            written.append(facts)
    rewritten = {f["unit"] for f in written if f["unit"] and _working(f)}
    keep = []
    for f in written:
        if f["unit"] in rewritten and not _working(f):  # superseded by the unit's newer write
            (out / f["path"]).unlink()
            (out / sidecar_rel(f["path"])).unlink()
            counts["superseded"] += 1
        else:
            keep.append(f)
    groups: dict[tuple, list] = collections.defaultdict(list)
    for f in keep:
        groups[(f["format"], f["discipline"])].append(f)
    moves = []
    for (fmt, d), shards in groups.items():
        shards.sort(key=lambda f: (f["unit"], f["part"]))
        moves += [(f["path"], shard_rel(fmt, d, n)) for n, f in enumerate(shards) if f["path"] != shard_rel(fmt, d, n)]
    # Two passes, so a shard may take a name another one is leaving. The first parks every
    # moving shard under a name that is neither final nor working: once it has run, no working
    # name is left, so a kill in the second pass cannot make a settled shard look superseded.
    parked = []
    for old, new in moves:
        folder, name = old.rsplit("/", 1)
        park = f"{folder}/{PARKED_PREFIX}{name}"
        _rename(out, old, park)
        parked.append((park, new))
    for park, new in parked:
        _rename(out, park, new)
    counts["renamed"] = len(moves)
    return dict(counts)


def remove_settled(out: str | os.PathLike, unit: str) -> int:
    """Delete the settled shards of ``unit`` (its new write has none to supersede them)."""
    out, n = Path(out), 0
    for sc, facts in shard_facts(out):
        if facts.get("unit") == unit and "part" in facts and not _working(facts):
            (out / facts["path"]).unlink(missing_ok=True)
            sc.unlink()
            n += 1
    return n


def remove_unsettled(out: str | os.PathLike, unit: str) -> int:
    """Delete the shards and sidecars of ``unit`` still under its working names (an earlier write
    not settled yet) before the unit's new shards move in under the same names."""
    out, n = Path(out), 0
    prefix = f"{working_prefix(unit)}-"
    for folder in (contract.PARQUET_DIR, contract.WDS_DIR, contract.INDEX_DIR):
        for p in (out / folder).rglob(f"{prefix}*") if (out / folder).is_dir() else ():
            stem = p.name[len(prefix):].split(".", 1)[0]
            if p.is_file() and stem.isdigit():  # unit "a" must not take unit "a-b"'s shards
                p.unlink()
                n += 1
    return n
