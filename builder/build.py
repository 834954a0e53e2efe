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

from s1mmalign.builder.config import BuildConfig, load_config


def prepare(config: Optional[str] = None, *, retry_failed: bool = False, **overrides):
    """Validate the config and discover units (no work yet); returns a :class:`Build`."""
    from s1mmalign.builder.pipeline import Build, check_available

    cfg: BuildConfig = load_config(config, **overrides)
    check_available(cfg)
    return Build(cfg, retry_failed=retry_failed)


def run_build(config: Optional[str] = None, *, progress: bool = True, retry_failed: bool = False, **overrides) -> dict:
    """Run a build to the end (or as far as failures allow); returns the report."""
    from s1mmalign.builder.runners import get_runner

    build = prepare(config, retry_failed=retry_failed, **overrides)
    t0 = time.perf_counter()
    stats = get_runner(build.cfg.runner)(build, progress=progress)
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
    p.add_argument("--retry-failed", action="store_true", help="rerun the items model stages (classify, recaption, score) failed in finished units, only those")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--report-json", action="store_true", help="print the report as JSON instead of the summary")
    p.set_defaults(func=_cli_build)


def _cli_build(args) -> int:
    from s1mmalign.builder.pipeline import BUILD_REPORT, summary

    report = run_build(args.config, progress=not args.no_progress, retry_failed=args.retry_failed,
                       sources=args.sources, out=args.out, work=args.work, recaptioner=args.recaptioner,
                       runner=args.runner)
    if args.report_json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(summary(report))
    out = Path(args.out) if args.out else None
    if out:
        print(f"report: {out / BUILD_REPORT}", file=sys.stderr)
    return 0 if report["complete"] else 1


def step_build(ctx) -> None:
    """Demo: the sample papers and JATS articles through every stage, resumably; then a rerun
    (everything skipped) and what ``publish`` would upload."""
    from s1mmalign.builder.publish import plan_upload

    sample = ctx.sample
    out = ctx.out / "build"
    sources = [str(p) for p in (sample / "papers", sample / "jats") if p.exists()]
    report = run_build(None, progress=False, sources=sources, out=str(out), recaptioner="context")
    s = report["stages"]
    ctx.say(f"build: {s['ingest']['units']} units, {s['ingest']['records_out']} figures ingested, "
            f"{s['write']['records_out']} written to {out} in {report['wall_s']:.1f} s "
            f"(rejects: {report['rejects_by_reason'] or 'none'})")
    again = run_build(None, progress=False, sources=sources, out=str(out), recaptioner="context")
    skipped = sum(a.get("units_skipped", 0) for a in again["stages"].values())
    ctx.say(f"build again: {skipped} (stage, unit) pairs skipped, nothing redone ({again['wall_s']:.2f} s)")
    plan = plan_upload(out)
    ctx.say(f"publish --dry-run: {len(plan.files)} files, {plan.total_bytes / 1e6:.1f} MB would be uploaded")


def main(argv=None) -> int:
    """``python -m s1mmalign.builder.build ...``: the build command alone (same as ``s1mmalign build``)."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(prog="s1mmalign")
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["build", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"s1mmalign build: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
