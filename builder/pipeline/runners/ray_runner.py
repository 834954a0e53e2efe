"""The Ray runner: each stage's pending units through Ray Data ``map_batches``.

One row per unit; the UDF calls :meth:`Build.run_unit`, the same code the local runner calls,
so both produce the same records. CPU stages run as Ray tasks; model stages (recaption,
scoring, CLIP modality) as an actor pool (``ray.pool_size[stage]`` actors, each with
``ray.num_gpus[stage]`` GPUs) that loads the model once per actor. Dedup on its own runs
partitioned (``runners/ray_dedup.py``); other stateful segments on the driver in unit order.
The watchdog (``ray.watchdog_s``) bounds each model batch.

Connects to ``ray.address`` / ``RAY_ADDRESS`` (``ray://host:10001`` or ``auto``) when set,
else starts a local Ray with ``ray.num_cpus`` CPUs and ``ray.object_store_mb`` MB of object
store. Every worker must see the sources, the work folder and OUT at the same paths (a
shared filesystem on a multi-node cluster).
"""

from __future__ import annotations

import functools
import logging
import os
import time

from s1mmalign.builder.pipeline.build import Build

log = logging.getLogger(__name__)


def _require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RuntimeError("--runner ray needs Ray Data: pip install 's1mmalign[ray]' (ray[data])") from None
    return ray


def init_ray(cfg) -> bool:
    """Connect or start Ray; True when this call started (and so should shut down) it."""
    ray = _require_ray()
    if ray.is_initialized():
        return False
    address = cfg.ray.get("address") or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        return True
    return ray.init(num_cpus=cfg.ray.get("num_cpus") or os.cpu_count(), include_dashboard=False,
             object_store_memory=int(cfg.ray.get("object_store_mb") or 512) << 20,
             ignore_reinit_error=True, log_to_driver=False) is not None


def _result(build: Build, stage: str, unit: str, fn) -> dict:
    try:
        m = build.run_unit(stage, unit, fn)
        return {"unit": unit, "ok": True, "records_in": int(m.get("records_in", 0)), "error": ""}
    except Exception as e:  # noqa: BLE001 - a unit's failure is recorded; the build goes on
        build.fail_unit(stage, unit, e)
        return {"unit": unit, "ok": False, "records_in": 0, "error": f"{type(e).__name__}: {e}"[:500]}


def _rows(results: list[dict]):
    import pyarrow as pa

    return pa.Table.from_pylist(results, schema=pa.schema([("unit", pa.string()), ("ok", pa.bool_()),
                                                           ("records_in", pa.int64()), ("error", pa.string())]))


def _cpu_task(batch, cfg, units, stage, retry_failed):
    """A Ray task: run a CPU stage on the units of this batch (the stage is cheap to build)."""
    build = Build(cfg, units, retry_failed=retry_failed, driver=False)
    fn = build.make_fn(stage)
    try:
        return _rows([_result(build, stage, u, fn) for u in batch.column("unit").to_pylist()])
    finally:
        if fn is not None:
            fn.close()


class _ModelActor:
    """A Ray actor: loads the stage's model once, then runs units through it."""

    def __init__(self, cfg, units, stage, retry_failed):
        self.build = Build(cfg, units, retry_failed=retry_failed, driver=False)
        self.stage = stage
        self.fn = self.build.make_fn(stage)

    def __call__(self, batch):
        return _rows([_result(self.build, self.stage, u, self.fn) for u in batch.column("unit").to_pylist()])


def _mapped(build: Build, stage: str, run: list[str], done: list[str], stats: dict):
    """The result rows of ``run``'s units, mapped with Ray Data (tasks, or a model's actor pool)."""
    import ray.data

    cfg = build.cfg
    args = dict(cfg=cfg, units=build.units, stage=stage, retry_failed=build.retry_failed)
    ds = ray.data.from_items([{"unit": u} for u in run], override_num_blocks=len(run))
    if build.holds_model(stage):
        ds = ds.map_batches(_ModelActor, batch_size=1, batch_format="pyarrow", fn_constructor_kwargs=args,
                            compute=ray.data.ActorPoolStrategy(size=int(cfg.ray["pool_size"].get(stage, 1))),
                            num_gpus=float(cfg.ray["num_gpus"].get(stage, 0)), num_cpus=1)
    else:
        ds = ds.map_batches(_cpu_task, batch_size=1, batch_format="pyarrow", fn_kwargs=args, num_cpus=1)
    return ds.iter_rows()


def run_stage_ray(build: Build, stage: str, rows=_mapped) -> dict:
    """Run ``stage``'s pending units on Ray and add up their result rows (:func:`_result`'s).

    ``rows(build, stage, run, done, stats)`` yields one row per unit of ``run`` (the pending units;
    ``done``: those finished before) and may add its own counts to ``stats``: Ray Data's map by
    default, the partitioned dedup (``ray_dedup.dedup_rows``) for dedup."""
    run, done = build.plan(stage)
    stats = {"units_run": 0, "units_skipped": len(done), "units_failed": 0, "records_run": 0, "seconds": 0.0}
    if not run:
        return stats
    t0 = time.perf_counter()
    for row in rows(build, stage, run, done, stats):
        if row["ok"]:
            stats["units_run"] += 1
            stats["records_run"] += row["records_in"]
        else:
            stats["units_failed"] += 1
            log.error("stage %s, unit %s failed: %s", stage, row["unit"], row["error"])
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return stats


def run_ray(build: Build, progress: bool = True) -> dict[str, dict]:
    """Run every stage on Ray (Ray Data shows its own progress bars per stage)."""
    from s1mmalign.builder.pipeline.runners.local import run_stage_local
    from s1mmalign.builder.pipeline.runners.ray_dedup import dedup_rows

    started = init_ray(build.cfg)
    import ray
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = progress
    stats = {}
    try:
        for stage in build.unit_stages:
            if build.segments[stage] == ["dedup"]:  # partitioned across the cluster, same decisions
                stats[stage] = run_stage_ray(build, stage, functools.partial(dedup_rows, result=_result))
            elif build.stateful(stage):  # global state: one process, unit order
                stats[stage] = run_stage_local(build, stage, progress)
            else:
                stats[stage] = run_stage_ray(build, stage)
    finally:
        if started:
            ray.shutdown()
    return stats
