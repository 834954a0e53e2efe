"""The build pipeline: ingest -> filter/dedup -> classify -> recaption -> score -> write -> card.

:class:`Build` knows the stages of a config, the units of its sources and the resume state,
and runs one stage on one unit (:meth:`Build.run_unit`) — the only place stage code is
called, whichever runner (``runners/local.py``, ``runners/ray_runner.py``) decides where.
Stages follow the protocol of docs/DEVELOPING.md, ``stage(batch, rejects) -> batch``; their
registry is :mod:`s1mmalign.builder.pipeline.stages`. ``ingest``, ``convert`` and ``build`` are
presets of this one pipeline (see :class:`Build` for segments and ``stream``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional

from s1mmalign.builder.pipeline.config import BuildConfig, shard_options
from s1mmalign.builder.pipeline.resume import WorkDir
from s1mmalign.builder.pipeline.stages import STAGES, StageTimeout, is_model_stage, make_segment
from s1mmalign.builder.pipeline.units import discover
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.core.prefetch import RECORDS_AHEAD, ReadAhead

BUILD_REPORT = "reports/build.json"
REJECTS_REPORT = "reports/rejects.jsonl"


def call_with_watchdog(fn: Callable, batch: list[dict], rejects: Rejects, timeout: Optional[float]) -> list[dict]:
    """``fn(batch, rejects)``; :class:`StageTimeout` if it has not returned after ``timeout`` s.

    The call runs in a daemon thread; on timeout the unit is marked failed and the build goes
    on (a hung model call cannot be interrupted from Python; its thread is abandoned).
    """
    if not timeout:
        return fn(batch, rejects)
    result: dict = {}
    local = Rejects()

    def target():
        try:
            result["out"] = fn(batch, local)
        except BaseException as e:  # re-raised in the caller
            result["err"] = e

    t = threading.Thread(target=target, daemon=True, name="stage-watchdog")
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise StageTimeout(f"watchdog: a batch of {len(batch)} took more than {timeout:g} s")
    rejects.extend(local)
    if "err" in result:
        raise result["err"]
    return result["out"]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


class Build:
    """One build: config, units, resume state; runs a segment of stages on a unit.

    A segment is what one unit goes through in one pass and what resumes as a whole: every
    stage on its own (the default: each stage's output is kept, so a change of options reruns
    only the stages after it), or, with ``stream: true`` in the config, all the unit stages at
    once (records flow from the source through every stage into the shards with no
    intermediate state: what ``convert`` does). A segment is named by its last stage.
    """

    def __init__(self, cfg: BuildConfig, units: Optional[list] = None, *, retry_failed: bool = False,
                 driver: bool = True, problems: Optional[Rejects] = None):
        """``driver``: this process owns the build (cleans temporaries a killed run left);
        runner workers pass False, as they run side by side. ``problems``: what discovery
        rejected (unknown release folders, missing parts); reported in every run."""
        from s1mmalign.core.atomic import remove_stale_temporaries

        self.cfg = cfg
        self.problems = problems if problems is not None else Rejects()
        if units is None:
            units = discover(cfg, self.problems)
        self.units = units
        self.unit_by_id = {u.id: u for u in self.units}
        self.work = WorkDir(cfg.work, clean=driver)
        if driver and cfg.out.is_dir():
            remove_stale_temporaries(cfg.out)
        self.retry_failed = retry_failed
        self._source_digests: dict[str, str] = {}
        stages = [s for s in cfg.stages if s not in ("card", "manifest")]  # card and manifest run once, at the end
        groups = [stages] if cfg.stream else [[s] for s in stages]
        self.segments: dict[str, list[str]] = {g[-1]: g for g in groups}
        self.unit_stages = list(self.segments)  # segment names, in order
        self.fingerprints: dict[str, str] = {}
        prev = ""
        for s in stages:  # chained: an option change invalidates its stage and every later one
            prev = hashlib.sha256(f"{prev}:{cfg.fingerprint(s)}".encode()).hexdigest()[:16]
            if s in self.segments:
                self.fingerprints[s] = prev

    def previous(self, stage: str) -> Optional[str]:
        i = self.unit_stages.index(stage)
        return self.unit_stages[i - 1] if i else None

    def input_digest(self, stage: str, unit: str) -> Optional[str]:
        prev = self.previous(stage)
        if prev:
            return self.work.output_digest(prev, unit)
        if unit not in self._source_digests:  # the first segment's input: the source files
            self._source_digests[unit] = self.unit_by_id[unit].digest()
        return self._source_digests[unit]

    def is_done(self, stage: str, unit: str) -> bool:
        return self.work.is_done(stage, unit, self.fingerprints[stage], self.input_digest(stage, unit))

    def ready(self, stage: str, unit: str) -> bool:
        """Has the upstream segment finished this unit (so this one can run on it)?"""
        prev = self.previous(stage)
        return prev is None or self.is_done(prev, unit)

    def needs_retry(self, stage: str, unit: str) -> bool:
        if not (self.retry_failed and len(self.segments[stage]) == 1 and STAGES[stage].retryable):
            return False
        m = self.work.marker(stage, unit)
        return bool(m) and m.get("failed", 0) > 0

    def plan(self, stage: str) -> tuple[list[str], list[str]]:
        """(units to run, units already finished) for ``stage``; units whose input failed are in neither."""
        run, done = [], []
        for u in self.units:
            if not self.ready(stage, u.id):
                continue
            if self.is_done(stage, u.id) and not self.needs_retry(stage, u.id):
                done.append(u.id)
            else:
                run.append(u.id)
        return run, done

    def stateful(self, stage: str) -> bool:
        """Does the segment keep state across units (dedup)? Then it runs in unit order, in one process."""
        return any(STAGES[s].stateful for s in self.segments[stage])

    def holds_model(self, stage: str) -> bool:
        return any(is_model_stage(s, self.cfg) for s in self.segments[stage])

    def make_fn(self, stage: str) -> Optional[Callable]:
        """The callable of the segment's transforming stages (models load here), or None."""
        return make_segment(self.segments[stage], self.cfg)

    # -- running one segment on one unit -----------------------------------------------------------
    def _read(self, stage: str, unit: str, rejects: Rejects, stats: dict, on_bytes=None,
              limit: Optional[int] = None, read_ahead: bool = False) -> Iterator[dict]:
        """The segment's input records: the unit's source for the first segment (read in a
        thread ahead of the stages with ``read_ahead``), else the previous segment's output."""
        prev = self.previous(stage)
        if prev is not None:
            yield from self.work.read_records(prev, unit, base=self.unit_stages[0])
            return
        opts = self.cfg.stage_options("ingest")
        records = self.unit_by_id[unit].read(rejects, disciplines=opts.get("disciplines"), on_bytes=on_bytes, stats=stats)
        if limit is not None:
            records = itertools.islice(records, max(limit, 0))
        if read_ahead:  # inflating and joining overlap the stages and the writer (they release the GIL)
            records = ReadAhead(records, RECORDS_AHEAD, name="source-reader")
        yield from records

    def _apply(self, stage: str, fn: Callable, records: Iterable[dict], rejects: Rejects) -> Iterator[dict]:
        timeout = float(self.cfg.ray.get("watchdog_s") or 0) if self.holds_model(stage) else None
        it = iter(records)
        while batch := list(itertools.islice(it, self.cfg.batch_size)):
            yield from call_with_watchdog(fn, batch, rejects, timeout)

    def _write(self, unit: str, records: Iterable[dict], rejects: Rejects) -> dict:
        """Write a unit's shards into its staging folder, then move them into OUT: a unit's
        shards appear together, and a killed write leaves nothing under a final name. An
        earlier settled write of the unit stays until the names are settled again (superseded there)."""
        from s1mmalign.builder.shards.names import remove_settled, remove_unsettled
        from s1mmalign.builder.shards.write import write_dataset
        from s1mmalign.core.atomic import fsync_tree

        staging = self.work.root / "staging" / unit
        shutil.rmtree(staging, ignore_errors=True)
        opts = self.cfg.stage_options("write")
        # No fsync per shard: one fsync_tree once the unit is complete (by then most is written back).
        options = dataclasses.replace(shard_options(self.cfg, unit), fsync=False)
        rep = write_dataset(records, staging, options=options, rejects=rejects, finalize=False, **opts)
        fsync_tree(staging)
        remove_unsettled(self.cfg.out, unit)
        if not rep["shards"]:  # nothing will supersede the unit's settled shards of an earlier write
            remove_settled(self.cfg.out, unit)
        files = sorted((p for p in staging.rglob("*") if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: (not p.name.endswith(".idx.parquet"), p.as_posix()))
        for p in files:  # sidecars first: a kill in between leaves sidecars that finalize drops
            target = self.cfg.out / p.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
        shutil.rmtree(staging, ignore_errors=True)
        return rep

    def run_unit(self, stage: str, unit: str, fn: Optional[Callable] = None, *, on_bytes=None,
                 limit: Optional[int] = None, read_ahead: bool = False) -> dict:
        """Run segment ``stage`` on ``unit`` and commit its output; returns the marker (counts).

        ``fn`` is :meth:`make_fn`'s callable (made here when not given). A retryable stage whose
        unit finished with dropped items and ``retry_failed`` set reruns only those items and
        merges them back in input order. ``limit``: read at most that many source records;
        ``read_ahead``: read the source in a thread (alone in a process; beside pool workers it
        only adds GIL hand-offs).
        """
        started, cpu_started = time.perf_counter(), time.process_time()
        stages = self.segments[stage]
        retry = self.is_done(stage, unit) and self.needs_retry(stage, unit)
        self.work.log(stage, unit, "retry" if retry else "start")
        rejects, stats = Rejects(), {}
        own_fn = fn is None
        fn = self.make_fn(stage) if own_fn else fn
        counted = [0]

        def count(records: Iterable[dict]) -> Iterator[dict]:
            for r in records:
                counted[0] += 1
                yield r

        try:
            records = count(self._read(stage, unit, rejects, stats, on_bytes, limit, read_ahead))
            info: dict[str, Any] = {}
            track_failures = len(stages) == 1 and STAGES[stage].retryable
            if retry or track_failures:
                records = list(records)  # the items a model stage failed are counted against its input
            if retry:
                out_records, retried = self._retry(stage, unit, fn, records, rejects)
                info["retried"] = len(retried)
            elif fn is not None:
                records = self._apply(stage, fn, records, rejects)
            if stage == "write":
                rep = self._write(unit, records, rejects)
                info.update(records_out=rep["written"], shards=rep["shards"])
                out_records = None
            elif not retry:
                out_records = list(records)
        finally:
            if own_fn and fn is not None and hasattr(fn, "close"):
                fn.close()
        info["records_in"] = counted[0]
        if out_records is not None:
            info["records_out"] = len(out_records)
        if track_failures and out_records is not None:
            info["failed"] = len(self._failed_keys(records, out_records, rejects))
        info.update({k: stats[k] for k in ("joined", "filtered") if k in stats})
        if limit is not None:
            info["limited"] = counted[0] >= limit
        info["seconds"] = round(time.perf_counter() - started, 3)
        info["cpu_seconds"] = round(time.process_time() - cpu_started, 3)
        info["peak_rss_mb"] = peak_rss_mb()
        images_of = None
        if stage != self.unit_stages[0] and out_records is not None:
            images_of = self.work.base_images(self.unit_stages[0], unit)
        marker = self.work.commit(stage, unit, records=out_records, rejects=rejects,
                                  fingerprint=self.fingerprints[stage], input_digest=self.input_digest(stage, unit),
                                  info=info, images_of=images_of)  # the marker is written last
        self.work.log(stage, unit, "done", records_in=info["records_in"], records_out=info.get("records_out"))
        return marker

    def _retry(self, stage: str, unit: str, fn: Callable, records: list[dict], rejects: Rejects) -> tuple[list[dict], set]:
        old_out = self.work.read_records(stage, unit, base=self.unit_stages[0])
        old_rejects = self.work.read_rejects(stage, unit)
        failed_keys = self._failed_keys(records, old_out, old_rejects)
        old = {r["key"]: r for r in old_out if r.get("key") not in failed_keys}
        for r in old_rejects:
            if r.key not in failed_keys:
                rejects.add(r.key, r.field, r.reason, r.detail, stage=r.stage, source=r.source)
        new = {r["key"]: r for r in self._apply(stage, fn, [r for r in records if r.get("key") in failed_keys], rejects)}
        out = [old.get(r.get("key")) or new[r.get("key")] for r in records if r.get("key") in old or r.get("key") in new]
        return out, failed_keys

    @staticmethod
    def _failed_keys(records: list[dict], out: list[dict], rejects: Rejects) -> set:
        """Items a stage failed: dropped, or kept with a reject (a recaption that errored)."""
        return ({r.get("key") for r in records} - {r.get("key") for r in out}) | {r.key for r in rejects if r.key}

    def replay(self, stage: str, unit: str, fn: Callable) -> None:
        """Feed a finished unit back through a stateful segment (dedup) so that the units after it
        see the same state as in an uninterrupted build; nothing is written. The segment's own
        output is what its stateful stage kept; a segment ending in ``write`` stores none, so
        its input is read again."""
        if stage != "write":
            records = self.work.read_records(stage, unit, base=self.unit_stages[0])
        else:
            records = self._read(stage, unit, Rejects(), {})
        for _ in self._apply(stage, fn, records, Rejects()):
            pass

    def fail_unit(self, stage: str, unit: str, err: BaseException) -> None:
        self.work.mark_failed(stage, unit, f"{type(err).__name__}: {err}")
        self.work.log(stage, unit, "failed", error=f"{type(err).__name__}: {err}"[:500])

    # -- the end ---------------------------------------------------------------------------
    def finish(self, run_stats: dict[str, dict], wall_s: float) -> dict:
        """Index + card over all units, the build report (JSON + summary); returns the report."""
        from s1mmalign.builder.shards.write import finalize_dataset
        from s1mmalign.core.atomic import write_text_atomic

        all_rejects = Rejects()
        all_rejects.extend(self.problems)
        stages: dict[str, dict] = {}
        failed_units: dict[str, dict] = {}
        for s in self.unit_stages:
            agg = {"units": len(self.units), "units_done": 0, "records_in": 0, "records_out": 0, "rejected": 0}
            stage_rejects = Rejects()
            for u in self.units:
                if self.is_done(s, u.id):
                    m = self.work.marker(s, u.id)
                    agg["units_done"] += 1
                    agg["records_in"] += m.get("records_in", 0)
                    agg["records_out"] += m.get("records_out", 0)
                    agg["limited"] = agg.get("limited", False) or bool(m.get("limited"))
                    stage_rejects.extend(self.work.read_rejects(s, u.id))
                f = self.work.failure(s, u.id)
                if f:
                    failed_units.setdefault(s, {})[u.id] = f["error"]
            agg["rejected"] = len(stage_rejects)
            agg["rejects_by_reason"] = stage_rejects.by_reason()
            agg.update(run_stats.get(s, {}))
            stages[s] = agg
            all_rejects.extend(stage_rejects)
        current = {u.id for u in self.units}
        stale = [u for u in self.work.units_with_output("write") if u not in current]
        report = {"stages": stages, "failed_units": failed_units, "wall_s": round(wall_s, 3), "stale_units": stale,
                  "rejects_by_reason": all_rejects.by_reason(),
                  "rejects_by_source": all_rejects.by_source_and_reason()}
        last = self.unit_stages[-1]
        complete = stages[last]["units_done"] == len(self.units)
        if "card" in self.cfg.stages and stages.get("write", {}).get("units_done"):
            t = time.perf_counter()
            self.work.log("card", "-", "start")
            index = finalize_dataset(self.cfg.out, rejects=all_rejects)
            self.work.log("card", "-", "done")
            stages["card"] = {"units": 1, "units_done": 1, "units_run": 1, "records_out": index["num_samples"],
                              "seconds": round(time.perf_counter() - t, 3), "shards": len(index["shards"])}
            report["duplicate_keys"] = index.get("duplicate_keys", {"count": 0, "examples": []})
            modalities: dict[str, int] = {}
            for per_modality in index["counts"].values():
                for m, n in per_modality.items():
                    modalities[m] = modalities.get(m, 0) + n
            report["modalities"] = dict(sorted(modalities.items(), key=lambda kv: -kv[1]))
        if "manifest" in self.cfg.stages and stages[last]["units_done"]:
            stages["manifest"] = self._write_manifest(last, all_rejects)
            report.update(rejects_by_reason=all_rejects.by_reason(), rejects_by_source=all_rejects.by_source_and_reason())
            all_rejects.write_jsonl(self.cfg.out / REJECTS_REPORT)
        report["sources"] = self._per_source(all_rejects)
        report["complete"] = complete
        write_text_atomic(self.cfg.out / BUILD_REPORT, json.dumps(report, indent=1, sort_keys=True))
        return report

    def _write_manifest(self, last: str, rejects: Rejects) -> dict:
        """``OUT/manifest.jsonl`` (images under ``OUT/images/``): every finished unit's records, in unit order."""
        from s1mmalign.builder.records.manifest import MANIFEST_NAME, write_manifest

        t = time.perf_counter()
        done = [u.id for u in self.units if self.is_done(last, u.id)]
        records = (r for uid in done for r in self.work.read_records(last, uid, base=self.unit_stages[0]))
        n = write_manifest(records, self.cfg.out / MANIFEST_NAME, rejects=rejects)  # (a key twice: duplicate_key)
        return {"units": len(self.units), "units_done": len(done), "records_out": n,
                "seconds": round(time.perf_counter() - t, 3)}

    def _per_source(self, rejects: Rejects) -> dict[str, dict]:
        """Units, written and filtered records (the last segment's markers), and rejects, per source."""
        last = self.unit_stages[-1]
        out: dict[str, dict] = {}
        blank = {"units": 0, "units_done": 0, "written": 0, "filtered": 0, "rejected": {}}
        for u in self.units:
            s = out.setdefault(getattr(u, "source", "") or "papers", dict(blank, rejected={}))
            s["units"] += 1
            if self.is_done(last, u.id):
                m = self.work.marker(last, u.id)
                s["units_done"] += 1
                s["written"] += m.get("records_out", 0)
                s["filtered"] += m.get("filtered", 0)
        for source, reasons in rejects.by_source_and_reason().items():
            out.setdefault(source or "papers", dict(blank, rejected={}))["rejected"] = reasons
        return out


def summary(report: dict) -> str:
    """The report as a readable table."""
    lines = [f"{'stage':<10} {'units':>11} {'ran':>5} {'skip':>5} {'fail':>5} {'in':>8} {'out':>8} {'rej':>6} {'sec':>8} {'rec/s':>8}"]
    for s, a in report["stages"].items():
        secs = a.get("seconds", 0.0)
        rate = a.get("records_run", 0) / secs if secs else 0.0
        lines.append(f"{s:<10} {str(a.get('units_done', a.get('units', ''))) + '/' + str(a.get('units', '')):>11} "
                     f"{a.get('units_run', 0):>5} {a.get('units_skipped', 0):>5} {a.get('units_failed', 0):>5} "
                     f"{a.get('records_in', ''):>8} {a.get('records_out', ''):>8} {a.get('rejected', 0):>6} "
                     f"{secs:>8.2f} {rate:>8.1f}")
    if report["rejects_by_reason"]:
        lines.append("rejects: " + ", ".join(f"{r}: {n}" for r, n in report["rejects_by_reason"].items()))
    for s, units in report["failed_units"].items():
        for u, err in list(units.items())[:5]:
            lines.append(f"FAILED {s} {u}: {err.splitlines()[-1] if err else ''}")
    if report.get("stale_units"):
        lines.append(f"WARNING: {len(report['stale_units'])} unit(s) written by an earlier run are no longer in the "
                     f"sources but their shards are still in OUT (their sidecars name the unit), e.g. {report['stale_units'][0]}")
    lines.append(f"wall time {report['wall_s']:.2f} s; " + ("complete" if report["complete"] else
                 "INCOMPLETE: rerun the same command to finish (finished units are skipped)"))
    return "\n".join(lines)
