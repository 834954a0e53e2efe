"""``s1mmalign build [CONFIG] --source PATH --out OUT``: papers in, a Hub-ready dataset folder out.

Validates everything first (config, sources, stages, backends), then runs the stages unit by
unit with resume (see docs/build.md). Rerunning the same command after a crash finishes the
job; ``--retry-failed`` also reruns the items model stages failed (dropped or rejected).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

from s1mmalign.builder.pipeline.config import BuildConfig, load_config
from s1mmalign.core.cli_args import positive


def prepare(config: Optional[str | dict] = None, *, retry_failed: bool = False, **overrides):
    """Validate the config (a file, or a dict as a file would hold) and discover units (no work
    yet); returns a :class:`Build`."""
    from s1mmalign.builder.pipeline.build import Build
    from s1mmalign.builder.pipeline.config import make_config
    from s1mmalign.builder.pipeline.stages import check_available

    cfg: BuildConfig = make_config(config) if isinstance(config, dict) else load_config(config, **overrides)
    check_available(cfg)
    return Build(cfg, retry_failed=retry_failed)


def run_build(config: Optional[str | dict] = None, *, progress: bool = True, retry_failed: bool = False,
              workers: Optional[int] = None, **overrides) -> dict:
    """Run a build to the end (or as far as failures allow); returns the report. ``workers``:
    processes for the segments that spread over CPUs on the local runner (default one per CPU)."""
    from s1mmalign.builder.pipeline.runners import get_runner

    build = prepare(config, retry_failed=retry_failed, **overrides)
    t0 = time.perf_counter()
    runner = get_runner(build.cfg.runner)
    stats = runner(build, progress=progress, workers=workers) if build.cfg.runner == "local" else runner(build, progress=progress)
    return build.finish(stats, time.perf_counter() - t0)


def add_cli(sub) -> None:
    p = sub.add_parser(
        "build", help="papers -> filtered, classified, recaptioned, scored shards + card (resumable)",
        description="Run ingest -> filter/dedup -> classify -> recaption -> score -> write -> card over the "
                    "sources, resumably: rerun the same command after a crash and finished units are skipped. "
                    "See docs/build.md for the config file.")
    p.add_argument("config", nargs="?", help="build config (.yaml/.yml/.toml); optional")
    p.add_argument("--source", action="append", dest="sources", metavar="PATH",
                   help="a paper folder/archive, a release folder or a manifest.jsonl (repeatable; replaces the config's)")
    p.add_argument("--out", help="output dataset folder")
    p.add_argument("--work", help="resume state folder (default OUT/.build)")
    p.add_argument("--recaptioner", help="recaption backend (context, transformers, vllm, openai)")
    p.add_argument("--runner", choices=("local", "ray"), help="where stages run (default local)")
    p.add_argument("--stages", help="comma-separated stages to run (default: every stage that is configured), "
                                    "e.g. ingest,classify,write,card (what convert runs)")
    p.add_argument("--stream", action="store_true", help="run the unit stages in one pass per unit, keeping no "
                                                         "intermediate state (faster; a unit then resumes whole)")
    p.add_argument("--workers", type=positive(int), help="processes for reading and writing on the local runner (default: one per CPU)")
    p.add_argument("--retry-failed", action="store_true", help="rerun the items model stages (classify, recaption, score) failed in finished units, only those")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--report-json", action="store_true", help="print the report as JSON instead of the summary")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a dataset OUT holds that another command wrote (it stays readable until the new one is complete)")
    from s1mmalign.builder.commands.write import add_outcome_arguments

    add_outcome_arguments(p, overwrite=False)
    p.set_defaults(func=_cli_build)


def _cli_build(args) -> int:
    from s1mmalign.builder.pipeline.build import BUILD_REPORT, summary
    from s1mmalign.builder.shards.target import build_target

    overrides = dict(sources=args.sources, out=args.out, work=args.work, recaptioner=args.recaptioner, runner=args.runner,
                     stages=args.stages, stream=args.stream or None)
    target = build_target(load_config(args.config, **overrides), overwrite=args.overwrite)  # refuses another dataset
    try:
        report = run_build(args.config, progress=not args.no_progress, retry_failed=args.retry_failed, workers=args.workers,
                           **{**overrides, "out": str(target.path)})
    except Exception:
        target.abandon()  # a mistyped source leaves no unfinished run behind that refuses the corrected command
        raise
    # no unit found: nothing done, nothing to resume, and the corrected command must not be refused
    abandoned = not _units_found(report) and target.abandon()
    failure = _failure(report, args) if report["complete"] else None
    if report["complete"] and not abandoned:
        target.fail() if failure else target.commit()
    if args.report_json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(summary(report))
    out = Path(args.out) if args.out else None
    if out and not abandoned:
        print(f"report: {out / BUILD_REPORT}", file=sys.stderr)
    if failure:
        raise RuntimeError(failure)
    return 0 if report["complete"] else 1


def _units_found(report: dict) -> int:
    """How many units the build's sources gave (the ingest stage's count)."""
    return report["stages"].get("ingest", {}).get("units", 0)


def _failure(report: dict, args) -> Optional[str]:
    """Why a complete build is still a failure (no unit, no record, too many rejects), or None."""
    from s1mmalign.builder.commands.write import check_outcome

    stages = report["stages"]
    if not _units_found(report):
        return ("no unit found in the sources: expected paper archives or folders, a release folder or a manifest.jsonl "
                "(see --source)")
    end = stages.get("write") or stages.get("manifest") or {}
    try:
        check_outcome(end.get("records_out", 0), sum(report.get("rejects_by_reason", {}).values()), args.max_reject_rate)
    except RuntimeError as e:
        return str(e)
    return None
