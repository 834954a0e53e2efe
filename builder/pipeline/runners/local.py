"""The local runner: every stage in this process, stage after stage, units in source order.

Stage-major order loads each model once. A unit that raises (or trips the watchdog) is marked
failed and the build goes on; its later stages wait for a rerun.
"""

from __future__ import annotations

import logging
import time

from s1mmalign.builder.pipeline.build import STAGES, Build, make_stage

log = logging.getLogger(__name__)


def _bar(total: int, desc: str, enabled: bool):
    from s1mmalign.core.progress import progress

    return progress(total=total, desc=f"{desc:<9}", unit=" unit", enabled=enabled, mininterval=0.5, leave=True)


def run_stage_local(build: Build, stage: str, progress: bool = True) -> dict:
    """Run ``stage`` on every pending unit here; returns this run's counts for the stage."""
    run, done = build.plan(stage)
    stats = {"units_run": 0, "units_skipped": len(done), "units_failed": 0, "records_run": 0, "seconds": 0.0}
    t0 = time.perf_counter()
    needs_fn = stage not in ("ingest", "write")
    stateful = STAGES[stage].stateful
    fn = make_stage(stage, build.cfg) if needs_fn and run else None
    try:
        with _bar(len(run) + len(done), stage, progress) as bar:
            bar.update(len(done) if not stateful else 0)
            todo = set(run)
            for u in build.units:
                uid = u.id
                if stateful and uid in done:
                    if todo:  # later units need this unit's state
                        build.replay(stage, uid, fn)
                    bar.update(1)
                    continue
                if uid not in todo:
                    continue
                try:
                    m = build.run_unit(stage, uid, fn)
                except Exception as e:  # noqa: BLE001 - one unit's failure must not stop the build
                    log.error("stage %s, unit %s failed: %s", stage, uid, e)
                    build.fail_unit(stage, uid, e)
                    stats["units_failed"] += 1
                else:
                    stats["units_run"] += 1
                    stats["records_run"] += m.get("records_in", 0)
                todo.discard(uid)
                bar.update(1)
                bar.set_postfix(records=stats["records_run"],
                                rate=f"{stats['records_run'] / max(time.perf_counter() - t0, 1e-9):.1f}/s")
    finally:
        if fn is not None and hasattr(fn, "close"):
            fn.close()
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return stats


def run_local(build: Build, progress: bool = True) -> dict[str, dict]:
    return {stage: run_stage_local(build, stage, progress) for stage in build.unit_stages}
