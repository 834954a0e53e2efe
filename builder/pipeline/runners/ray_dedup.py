"""Dedup on Ray: the partitioned dedup (``builder/stages/dedup_partitioned.py``) as Ray tasks.

1. one task per unit signs its records (decode, hashes) and routes them: it returns one object
   per partition, so the driver holds references, not hashes;
2. one task per partition finds its exact groups and near pairs;
3. the driver resolves the duplicates in unit order (it holds the records with a partner only);
4. one task per pending unit commits its records through :meth:`Build.run_unit` with its
   decisions (:class:`DecidedDedup`): the same output, rejects and resume marker as every stage.

Finished units are signed from their dedup output, as the local runner replays them, so the
units after them see the same state. Partitions: the dedup option ``partitions`` (default 64).

Memory: a partition task holds about ``8 / partitions`` of the corpus' hashes
(``benchmarks/bench_dedup.py`` measures it). The routed rows wait in Ray's object store between
steps 1 and 2 (about 2.1 kB per image pickled, spilled to disk when the store is full); Ray keeps
objects under 100 kB in the driver's memory instead, so use units of thousands of figures (bulk
tars, release archives) at scale, as docs/scaling.md advises anyway.
"""

from __future__ import annotations

import itertools
import logging
from typing import Callable

from s1mmalign.builder.pipeline.build import Build
from s1mmalign.builder.pipeline.stages import make_stage
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.dedup_partitioned import DecidedDedup, partition_pairs, resolve, route, sign_unit

log = logging.getLogger(__name__)


def _sign(cfg, units, stage: str, unit: str, index: int, done: bool, partitions: int):
    """(records rejected for their image, exact rows per partition..., near rows per partition...)."""
    build = Build(cfg, units, driver=False)
    if done:
        records = build.work.read_records(stage, unit, base=build.unit_stages[0])
    else:
        records = build._read(stage, unit, Rejects(), {})
    sigs, bad = sign_unit(make_stage(stage, cfg), records)
    exact, near = route(index, sigs, partitions)
    return (bad, *exact, *near)


def _pairs(rule, max_pairs: int, n_units: int, *parts):
    return partition_pairs(itertools.chain.from_iterable(parts[:n_units]),
                           itertools.chain.from_iterable(parts[n_units:]), rule, max_pairs)


def _commit(cfg, units, stage: str, unit: str, decisions: dict, retry_failed: bool, result: Callable) -> dict:
    return result(Build(cfg, units, retry_failed=retry_failed, driver=False), stage, unit, DecidedDedup(decisions))


def dedup_rows(build: Build, stage: str, run: list[str], done: list[str], stats: dict, result: Callable,
               max_pairs: int = 64) -> list[dict]:
    """The result rows of the dedup stage's pending units ``run`` (``ray_runner.run_stage_ray`` adds them
    up); ``result(build, stage, unit, fn) -> row`` runs and records one unit. A unit that cannot be
    signed fails here (counted in ``stats``), with the partitions' pair counts."""
    import ray

    dedup = make_stage(stage, build.cfg)
    parts, todo, finished = int(dedup.partitions), set(run), set(done)
    order = [u.id for u in build.units if u.id in todo or u.id in finished]
    cfg, units = ray.put(build.cfg), ray.put(build.units)
    sign = ray.remote(_sign).options(num_returns=1 + 2 * parts, num_cpus=1)
    refs = {uid: sign.remote(cfg, units, stage, uid, i, uid in finished, parts) for i, uid in enumerate(order)}
    bad: dict[str, dict] = {}
    for uid in order:
        try:
            bad[uid] = ray.get(refs[uid][0])
        except Exception as e:  # noqa: BLE001 - a unit that cannot be read fails alone
            log.error("stage %s, unit %s failed: %s", stage, uid, e)
            build.fail_unit(stage, uid, e)
            stats["units_failed"] += 1
    signed = [uid for uid in order if uid in bad]
    pairs_task = ray.remote(_pairs).options(num_cpus=1)
    found = ray.get([pairs_task.remote(dedup.rule, max_pairs, len(signed),
                                       *[refs[u][1 + p] for u in signed], *[refs[u][1 + parts + p] for u in signed])
                     for p in range(parts)])
    del refs
    groups = [g for f in found for g in f[0]]
    decisions = {uid: dict(bad[uid]) for uid in signed if uid in todo}
    position = {uid: i for i, uid in enumerate(order)}
    index = {position[uid]: uid for uid in decisions}
    for o, why in resolve(groups, (p for f in found for p in f[1]), max_pairs).items():
        uid = index.get(o >> 32)
        if uid is not None:
            decisions[uid][o & 0xFFFFFFFF] = why
    for f in found:
        for k, v in f[2].items():
            stats[k] = stats.get(k, 0) + v
    commit = ray.remote(_commit).options(num_cpus=1)
    return ray.get([commit.remote(cfg, units, stage, uid, decisions[uid], build.retry_failed, result)
                    for uid in signed if uid in todo])
