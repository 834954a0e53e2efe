"""The build pipeline: ingest -> filter/dedup -> classify -> recaption -> score -> write -> card.

:class:`Build` knows the stages of a config, the units of its sources and the resume state,
and runs one stage on one unit (:meth:`Build.run_unit`) — the only place stage code is
called, whichever runner (``runners/local.py``, ``runners/ray_runner.py``) decides where.
Stages follow the protocol of docs/DEVELOPING.md, ``stage(batch, rejects) -> batch``, and are
imported lazily from their homes; a missing one is a clear error before any work starts.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from s1mmalign.builder.pipeline.config import BuildConfig, ConfigError, shard_options
from s1mmalign.builder.pipeline.resume import WorkDir
from s1mmalign.builder.pipeline.units import discover, require
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.core import contract

BUILD_REPORT = "reports/build.json"


@dataclass(frozen=True)
class StageDef:
    name: str
    module: str
    symbol: str
    model: bool = False  # holds a model: an actor pool on Ray, watchdog applies
    stateful: bool = False  # state across units (dedup): runs in unit order in one process
    retryable: bool = False  # --retry-failed reruns the items it failed (dropped or rejected)


STAGES: dict[str, StageDef] = {
    "ingest": StageDef("ingest", "s1mmalign.builder.pipeline.units", "discover"),
    "filter": StageDef("filter", "s1mmalign.builder.stages.filters", "filter_records"),
    "dedup": StageDef("dedup", "s1mmalign.builder.stages.dedup", "Deduplicator", stateful=True),
    "classify": StageDef("classify", "s1mmalign.builder.stages.modality", "make_classifier", model=True, retryable=True),
    "recaption": StageDef("recaption", "s1mmalign.builder.stages.recaption", "make_recaptioner", model=True, retryable=True),
    "score": StageDef("score", "s1mmalign.builder.stages.scoring", "ClipScorer", model=True, retryable=True),
    "write": StageDef("write", "s1mmalign.builder.shards.write", "write_dataset"),
}
#: Stages that run per unit (card runs once at the end).
UNIT_STAGES = tuple(STAGES)


class StageTimeout(RuntimeError):
    pass


class ScoreStage:
    """CLIP score and masked-LM pseudo-perplexity, one after the other, as one stage."""

    def __init__(self, clip_model: Optional[str] = None, ppl_model: Optional[str] = None, **opts: Any):
        self.scorers = []
        if clip_model:
            self.scorers.append(require("s1mmalign.builder.stages.scoring", "ClipScorer", "stage 'score'")(model=clip_model, **opts))
        if ppl_model:
            cls = require("s1mmalign.builder.stages.scoring", "PseudoPerplexityScorer", "stage 'score'")
            self.scorers.append(cls(model=ppl_model, **opts))

    def __call__(self, batch: list[dict], rejects: Rejects) -> list[dict]:
        for s in self.scorers:
            batch = s(batch, rejects)
        return batch

    def close(self) -> None:
        for s in self.scorers:
            getattr(s, "close", lambda: None)()


def _check_options(where: str, fn: Callable, opts: dict, also: tuple = (), drop: tuple = ()) -> None:
    """Raise ConfigError for options ``fn`` does not take (a typo found before any work)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = ({n for n in params if n != "self"} | set(also)) - set(drop)
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}")


def check_available(cfg: BuildConfig) -> None:
    """Import every configured stage's home and check its options now, so that a missing
    module or a misspelt option fails before any work (no model is loaded)."""
    for name in cfg.stages:
        if name in ("ingest", "write", "card"):
            continue
        d = STAGES[name]
        require(d.module, d.symbol, f"stage {name!r}")
        opts = cfg.stage_options(name)
        if name == "filter":
            _check_options("filter", require(d.module, "FilterOptions", "stage 'filter'"), opts)
        elif name == "dedup":
            _check_options("dedup", require(d.module, d.symbol, "stage 'dedup'"), opts)
        elif name == "classify":
            kind = opts.pop("name", "rules")
            classes = {"rules": "RulesClassifier", "clip": "ClipClassifier"}
            if kind not in classes:
                raise ConfigError(f"classify: unknown classifier {kind!r}; use 'rules' (caption text) or 'clip' (zero-shot CLIP)")
            _check_options(f"classify ({kind})", require(d.module, classes[kind], "stage 'classify'"), opts)
        elif name == "recaption":
            rc = importlib.import_module(d.module)
            backend = opts.pop("backend")
            _check_options(f"recaption ({backend})", rc.backend_class(backend).__init__, opts,
                           also=tuple(getattr(rc, "STAGE_OPTIONS", ())))
        elif name == "score":
            rest = {k: v for k, v in opts.items() if k not in ("clip_model", "ppl_model")}
            for key, cls in (("clip_model", "ClipScorer"), ("ppl_model", "PseudoPerplexityScorer")):
                if opts.get(key):
                    _check_options(f"score ({cls})", require(d.module, cls, "stage 'score'"), rest, drop=("model",))


def make_stage(name: str, cfg: BuildConfig) -> Callable[[list[dict], Rejects], list[dict]]:
    """The stage callable for ``name`` with the config's options (models load here)."""
    d = STAGES[name]
    opts = cfg.stage_options(name)
    if name == "filter":
        FilterOptions = require(d.module, "FilterOptions", "stage 'filter'")
        return functools.partial(require(d.module, d.symbol, "stage 'filter'"), options=FilterOptions(**opts))
    if name == "dedup":
        return require(d.module, d.symbol, "stage 'dedup'")(**opts)
    if name == "classify":
        return require(d.module, d.symbol, "stage 'classify'")(opts.pop("name", "rules"), **opts)
    if name == "recaption":
        return require(d.module, d.symbol, "stage 'recaption'")(opts.pop("backend"), **opts)
    if name == "score":
        return ScoreStage(**opts)
    raise ValueError(f"stage {name!r} has no stage callable")


def is_model_stage(name: str, cfg: BuildConfig) -> bool:
    if name == "classify":
        return cfg.stage_options("classify").get("name", "rules") != "rules"
    return STAGES[name].model


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


def _unit_shard_re(unit: str) -> re.Pattern:
    return re.compile(rf"^train-{re.escape(unit)}-\d+\.(parquet|tar)(\.idx\.parquet)?$")


def remove_unit_shards(out: Path, unit: str) -> int:
    """Delete the shards (and sidecars) a previous, interrupted write of ``unit`` left."""
    pat, n = _unit_shard_re(unit), 0
    for folder in (contract.PARQUET_DIR, contract.WDS_DIR, contract.INDEX_DIR):
        for p in (out / folder).rglob(f"train-{unit}-*"):
            if p.is_file() and pat.match(p.name):
                p.unlink()
                n += 1
    return n


class Build:
    """One build: config, units, resume state; runs a stage on a unit."""

    def __init__(self, cfg: BuildConfig, units: Optional[list] = None, *, retry_failed: bool = False,
                 driver: bool = True):
        """``driver``: this process owns the build (cleans temporaries a killed run left);
        runner workers pass False, as they run side by side."""
        from s1mmalign.core.atomic import remove_stale_temporaries

        self.cfg = cfg
        self.units = units if units is not None else discover(cfg)
        self.unit_by_id = {u.id: u for u in self.units}
        self.work = WorkDir(cfg.work, clean=driver)
        if driver and cfg.out.is_dir():
            remove_stale_temporaries(cfg.out)
        self.retry_failed = retry_failed
        self._source_digests: dict[str, str] = {}
        self.unit_stages = [s for s in cfg.stages if s != "card"]
        self.fingerprints: dict[str, str] = {}
        prev = ""
        for s in self.unit_stages:
            prev = self.fingerprints[s] = hashlib.sha256(f"{prev}:{cfg.fingerprint(s)}".encode()).hexdigest()[:16]

    def previous(self, stage: str) -> Optional[str]:
        i = self.unit_stages.index(stage)
        return self.unit_stages[i - 1] if i else None

    def input_digest(self, stage: str, unit: str) -> Optional[str]:
        prev = self.previous(stage)
        if prev:
            return self.work.output_digest(prev, unit)
        if unit not in self._source_digests:  # the first stage's input: the source files
            self._source_digests[unit] = self.unit_by_id[unit].digest()
        return self._source_digests[unit]

    def is_done(self, stage: str, unit: str) -> bool:
        return self.work.is_done(stage, unit, self.fingerprints[stage], self.input_digest(stage, unit))

    def ready(self, stage: str, unit: str) -> bool:
        """Has the upstream stage finished this unit (so this stage can run on it)?"""
        prev = self.previous(stage)
        return prev is None or self.is_done(prev, unit)

    def needs_retry(self, stage: str, unit: str) -> bool:
        if not (self.retry_failed and STAGES[stage].retryable):
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

    # -- running one stage on one unit ------------------------------------------------------------
    def _input(self, stage: str, unit: str, rejects: Rejects) -> list[dict]:
        prev = self.previous(stage)
        if prev is None:
            return list(self.unit_by_id[unit].read(rejects))
        return self.work.read_records(prev, unit, base=self.unit_stages[0])

    def _apply(self, stage: str, fn: Callable, records: list[dict], rejects: Rejects) -> list[dict]:
        timeout = float(self.cfg.ray.get("watchdog_s") or 0) if is_model_stage(stage, self.cfg) else None
        out: list[dict] = []
        bs = self.cfg.batch_size
        for i in range(0, len(records), bs):
            out.extend(call_with_watchdog(fn, records[i:i + bs], rejects, timeout))
        return out

    def run_unit(self, stage: str, unit: str, fn: Optional[Callable] = None) -> dict:
        """Run ``stage`` on ``unit`` and commit its output; returns the marker (counts).

        A retryable stage whose unit finished with dropped items and ``retry_failed`` set reruns
        only those items and merges them back in input order.
        """
        started = time.perf_counter()
        retry = self.is_done(stage, unit) and self.needs_retry(stage, unit)
        self.work.log(stage, unit, "retry" if retry else "start")
        rejects = Rejects()
        records = self._input(stage, unit, rejects)
        n_in = len(records)
        info: dict[str, Any] = {"records_in": n_in}
        if stage == "write":
            remove_unit_shards(self.cfg.out, unit)
            from s1mmalign.builder.shards.write import write_dataset

            rep = write_dataset(records, self.cfg.out, options=shard_options(self.cfg, unit), rejects=rejects,
                                finalize=False)
            info.update(records_out=rep["written"], shards=rep["shards"])
            out_records = None
        elif stage == "ingest":
            out_records = records
            info["records_out"] = len(records)
        elif retry:
            old_out = self.work.read_records(stage, unit, base=self.unit_stages[0])
            old_rejects = self.work.read_rejects(stage, unit)
            failed_keys = self._failed_keys(records, old_out, old_rejects)
            old = {r["key"]: r for r in old_out if r.get("key") not in failed_keys}
            for r in old_rejects:
                if r.key not in failed_keys:
                    rejects.add(r.key, r.field, r.reason, r.detail, stage=r.stage, source=r.source)
            new = {r["key"]: r for r in self._apply(stage, fn, [r for r in records if r.get("key") in failed_keys], rejects)}
            out_records = [old.get(r.get("key")) or new[r.get("key")] for r in records
                           if r.get("key") in old or r.get("key") in new]
            info.update(records_out=len(out_records), retried=len(failed_keys))
        else:
            out_records = self._apply(stage, fn, records, rejects)
            info["records_out"] = len(out_records)
        if STAGES[stage].retryable and out_records is not None:
            info["failed"] = len(self._failed_keys(records, out_records, rejects))
        info["seconds"] = round(time.perf_counter() - started, 3)
        images_of = None
        if stage != self.unit_stages[0] and out_records is not None:
            images_of = self.work.base_images(self.unit_stages[0], unit)
        marker = self.work.commit(stage, unit, records=out_records, rejects=rejects,
                                  fingerprint=self.fingerprints[stage], input_digest=self.input_digest(stage, unit),
                                  info=info, images_of=images_of)
        self.work.log(stage, unit, "done", records_in=n_in, records_out=info["records_out"])
        return marker

    @staticmethod
    def _failed_keys(records: list[dict], out: list[dict], rejects: Rejects) -> set:
        """Items a stage failed: dropped, or kept with a reject (a recaption that errored)."""
        return ({r.get("key") for r in records} - {r.get("key") for r in out}) | {r.key for r in rejects if r.key}

    def replay(self, stage: str, unit: str, fn: Callable) -> None:
        """Feed a finished unit's output back through a stateful stage (dedup) so that the units
        after it see the same state as in an uninterrupted build; nothing is written."""
        records = self.work.read_records(stage, unit, base=self.unit_stages[0])
        bs = self.cfg.batch_size
        for i in range(0, len(records), bs):
            fn(records[i:i + bs], Rejects())

    def fail_unit(self, stage: str, unit: str, err: BaseException) -> None:
        self.work.mark_failed(stage, unit, f"{type(err).__name__}: {err}")
        self.work.log(stage, unit, "failed", error=f"{type(err).__name__}: {err}"[:500])

    # -- the end ---------------------------------------------------------------------------
    def finish(self, run_stats: dict[str, dict], wall_s: float) -> dict:
        """Index + card over all units, the build report (JSON + summary); returns the report."""
        from s1mmalign.builder.shards.write import finalize_dataset
        from s1mmalign.core.atomic import write_text_atomic

        all_rejects = Rejects()
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
        complete = "write" in stages and stages["write"]["units_done"] == len(self.units)
        if "card" in self.cfg.stages and stages.get("write", {}).get("units_done"):
            t = time.perf_counter()
            self.work.log("card", "-", "start")
            index = finalize_dataset(self.cfg.out, rejects=all_rejects)
            self.work.log("card", "-", "done")
            stages["card"] = {"units": 1, "units_done": 1, "units_run": 1, "records_out": index["num_samples"],
                              "seconds": round(time.perf_counter() - t, 3), "shards": len(index["shards"])}
        report["complete"] = complete
        write_text_atomic(self.cfg.out / BUILD_REPORT, json.dumps(report, indent=1, sort_keys=True))
        return report


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
                     f"sources but their shards are still in OUT (train-<unit>-*), e.g. {report['stale_units'][0]}")
    lines.append(f"wall time {report['wall_s']:.2f} s; " + ("complete" if report["complete"] else
                 "INCOMPLETE: rerun the same command to finish (finished units are skipped)"))
    return "\n".join(lines)
