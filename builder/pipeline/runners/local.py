"""The local runner: every segment on this machine, segment after segment, units in source order.

Segment-major order loads each model once. A segment with neither a model nor state across
units (a streamed ``convert``: read, join, classify, write) runs its units on every CPU through
:mod:`s1mmalign.builder.pipeline.pool`; the others run here, in unit order. A unit that raises
(or trips the watchdog) is marked failed and the build goes on; its later segments wait for a
rerun.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle  # only to ask whether a unit can travel to a pool process
import time
from typing import Optional

from s1mmalign.builder.pipeline.build import Build, peak_rss_mb
from s1mmalign.builder.pipeline.pool import default_workers, run_parallel

log = logging.getLogger(__name__)


def _bar(build: Build, stage: str, units: list[str], done: list[str], enabled: bool):
    """Progress in archive bytes when every unit knows its size (the release), else in units."""
    from s1mmalign.core.progress import progress

    sizes = {u: getattr(build.unit_by_id[u], "nbytes", 0) for u in units + done}
    if sizes and all(sizes.values()) and len(build.segments[stage]) > 1:
        return progress(total=sum(sizes.values()), initial=sum(sizes[u] for u in done), unit="B", unit_scale=True,
                        unit_divisor=1024, desc=f"{stage:<9}", enabled=enabled, mininterval=1.0), True
    return progress(total=len(units) + len(done), initial=len(done), desc=f"{stage:<9}", unit=" unit",
                    enabled=enabled, mininterval=0.5), False


def _unit_for_pool(build: Build, stage: str, uid: str):
    """What a pool process needs of a unit: the unit itself where the segment reads the source,
    else only its name (its input is the previous segment's output in the work folder)."""
    return build.unit_by_id[uid] if build.previous(stage) is None else UnitRef(uid)


def _travels(build: Build, stage: str, uid: str) -> bool:
    """Can the segment's units go to another process? (Release units can; paper units hold readers.)"""
    try:
        pickle.dumps(_unit_for_pool(build, stage, uid))
        return True
    except (pickle.PicklingError, AttributeError, TypeError):
        return False


@dataclasses.dataclass(frozen=True)
class UnitRef:
    """A unit by name only, for segments that read the work folder, not the source."""

    id: str


def _pool_unit(args, unit, on_bytes) -> dict:
    """One unit in a pool process (or this one): its own Build over that unit, its own stages."""
    cfg, stage, retry_failed = args
    return Build(cfg, [unit], retry_failed=retry_failed, driver=False).run_unit(stage, unit.id, on_bytes=on_bytes)


def run_stage_local(build: Build, stage: str, progress: bool = True, workers: Optional[int] = None) -> dict:
    """Run segment ``stage`` on every pending unit; returns this run's counts for it.

    ``workers``: processes for a segment that can spread (default one per CPU; 1: this process only).
    """
    run, done = build.plan(stage)
    stats = {"units_run": 0, "units_skipped": len(done), "units_failed": 0, "records_run": 0, "seconds": 0.0,
             "bytes_read": 0, "worker_cpu_seconds": 0.0, "peak_rss_mb": peak_rss_mb()}
    t0 = time.perf_counter()
    stateful = build.stateful(stage)
    limit = build.cfg.stage_options("ingest").get("limit") if build.previous(stage) is None else None
    workers = default_workers(len(run)) if workers is None else max(1, workers)
    # Worth a pool: reading sources and writing shards (the cheap stages between them are not).
    heavy = any(s in ("ingest", "write") for s in build.segments[stage])
    spread = (heavy and workers > 1 and len(run) > 1 and limit is None and not stateful and not build.holds_model(stage)
              and _travels(build, stage, run[0]))
    bar, in_bytes = _bar(build, stage, run, done if not stateful else [], progress)

    def finished(uid: str, m: dict) -> None:
        stats["units_run"] += 1
        stats["peak_rss_mb"] = max(stats["peak_rss_mb"], m.get("peak_rss_mb", 0.0))
        stats["records_run"] += m.get("records_in", 0)
        if not in_bytes:
            bar.update(1)
        bar.set_postfix(records=stats["records_run"], rate=f"{stats['records_run'] / max(time.perf_counter() - t0, 1e-9):.1f}/s")

    def failed(uid: str, e: BaseException) -> None:
        log.error("stage %s, unit %s failed: %s", stage, uid, e)
        build.fail_unit(stage, uid, e)
        stats["units_failed"] += 1

    def on_bytes(n: int) -> None:
        stats["bytes_read"] += n
        if in_bytes:
            bar.update(n)

    try:
        if spread:
            units = [(_unit_for_pool(build, stage, u), getattr(build.unit_by_id[u], "nbytes", 0)) for u in run]
            markers, here = run_parallel(_pool_unit, (build.cfg, stage, build.retry_failed), units, workers,
                                         on_bytes=on_bytes, preload=[__name__], on_done=finished, on_error=failed)
            stats["worker_cpu_seconds"] = sum(m.get("cpu_seconds", 0.0) for u, m in markers.items() if u not in here)
        else:
            _run_here(build, stage, run, done, stateful, limit, on_bytes, finished, failed, bar if not in_bytes else None)
    finally:
        bar.close()
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return stats


def _run_here(build: Build, stage: str, run: list[str], done: list[str], stateful: bool, limit: Optional[int],
              on_bytes, finished, failed, unit_bar) -> None:
    fn = build.make_fn(stage) if run else None
    todo = set(run)
    used = sum(build.work.marker(stage, u).get("records_in", 0) for u in done) if limit is not None else 0
    try:
        for u in build.units:
            uid = u.id
            if stateful and uid in done:
                if todo:  # later units need this unit's state
                    build.replay(stage, uid, fn)
                if unit_bar is not None:
                    unit_bar.update(1)
                continue
            if uid not in todo:
                continue
            remaining = None if limit is None else limit - used
            if remaining is not None and remaining <= 0:
                break
            try:
                m = build.run_unit(stage, uid, fn, on_bytes=on_bytes, limit=remaining, read_ahead=True)
            except Exception as e:  # noqa: BLE001 - one unit's failure must not stop the build
                failed(uid, e)
            else:
                used += m.get("records_in", 0)
                finished(uid, m)
            todo.discard(uid)
    finally:
        if fn is not None and hasattr(fn, "close"):
            fn.close()


def run_local(build: Build, progress: bool = True, workers: Optional[int] = None) -> dict[str, dict]:
    return {stage: run_stage_local(build, stage, progress, workers) for stage in build.unit_stages}
