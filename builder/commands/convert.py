"""``s1mmalign convert RELEASE OUT``: the published release into this project's dataset folder.

A preset of the one pipeline (:mod:`s1mmalign.builder.pipeline`): the release as the source,
the stages ``ingest -> classify -> write -> card`` streamed per unit (one archive with its jsonl
partition, see :mod:`s1mmalign.builder.sources.release`) on every CPU, with the same resume
state as ``build`` (``OUT/.build``: a unit finished with the same options and input is
skipped; any other is redone from scratch). ``build --source RELEASE`` with the same stages
gives the same records. Shards are deterministic, so a resumed run gives the same keys and
bytes as an uninterrupted one.

Report: ``reports/convert.json`` (counts per source, per modality and per reason),
``reports/build.json`` (per stage) and ``reports/rejects.jsonl`` (one row per record or file
that did not come out).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from s1mmalign.builder.commands.write import add_shard_arguments, shard_options_from_args
from s1mmalign.builder.shards.write import REPORTS_DIR
from s1mmalign.builder.shards.writers import MiB, ShardOptions
from s1mmalign.core.atomic import write_text_atomic
from s1mmalign.core.cli_args import add_filter_arguments, positive
from s1mmalign.core.images import DEFAULT_MAX_PIXELS

WORK_DIR = ".build"  # the pipeline's resume state (builder.pipeline.resume.WorkDir)
REPORT_FILE = f"{REPORTS_DIR}/convert.json"
#: The stages of a conversion: no filter, dedup, recaption or score (the release has recaptions).
STAGES = ["ingest", "classify", "write", "card"]


def convert_config(release: str, out: str, *, sources: Optional[Sequence[str]] = None,
                   disciplines: Optional[Sequence[str]] = None, limit: Optional[int] = None,
                   options: Optional[ShardOptions] = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                   image_check: str = "fast", classifier: Optional[str] = "rules") -> dict[str, Any]:
    """The build config a conversion runs (what ``build CONFIG`` runs to the same records)."""
    options = options or ShardOptions()
    ingest = {k: v for k, v in (("sources", list(sources) if sources else None),
                                ("disciplines", list(disciplines) if disciplines else None), ("limit", limit))
              if v is not None}
    return {
        "sources": [{"path": release, "kind": "release"}], "out": out, "stream": True,
        "stages": [s for s in STAGES if classifier or s != "classify"],
        # The caption and recaption decide; the image layout check (a full decode) is left to build.
        "ingest": ingest, "classify": {"name": classifier, "layout": False} if classifier == "rules" else
                                     ({"name": classifier} if classifier else {}),
        "write": {"max_pixels": max_pixels, "image_check": image_check},
        "shards": {"formats": list(options.formats), "parquet_shard_mb": options.parquet_shard_bytes / MiB,
                   "tar_shard_mb": options.tar_shard_bytes / MiB, "row_group_mb": options.row_group_bytes / MiB},
    }


def convert_release(
    release: str | Path,
    out: str | Path,
    *,
    sources: Optional[Sequence[str]] = None,
    disciplines: Optional[Sequence[str]] = None,
    limit: Optional[int] = None,
    options: Optional[ShardOptions] = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    image_check: str = "fast",
    classifier: Optional[str] = "rules",
    progress: bool = True,
    workers: Optional[int] = None,
) -> dict[str, Any]:
    """Convert (or resume converting) ``release`` into the dataset folder ``out``; returns the report.

    ``limit`` stops after that many joined records (over all units, in unit order; it implies
    one worker). ``workers`` units are converted at once, each in its own process (default:
    one per CPU, at most one per unit; 1 runs everything in this process). ``classifier``:
    the modality classifier (``rules``, ``clip``; None leaves every record ``other``).
    """
    from s1mmalign.builder.commands.build import run_build

    release = check_release(release)
    started, cpu_started = time.perf_counter(), time.process_time()
    cfg = convert_config(str(Path(release).resolve()) if "://" not in release else release, str(Path(out).resolve()),
                         sources=sources, disciplines=disciplines, limit=limit, options=options,
                         max_pixels=max_pixels, image_check=image_check, classifier=classifier)
    built = run_build(cfg, progress=progress, workers=1 if limit is not None else workers)
    write = built["stages"]["write"]
    report = {
        "release": release,
        "out": str(out),
        "written": write["records_out"],
        "filtered": sum(s["filtered"] for s in built["sources"].values()),
        "rejected": sum(built["rejects_by_reason"].values()),
        "rejects_by_reason": built["rejects_by_reason"],
        "sources": built["sources"],
        "modalities": built.get("modalities", {}),
        "units": write["units"],
        "units_done": write["units_done"],
        "limited": bool(write.get("limited")),
        "duplicate_keys": built.get("duplicate_keys", {"count": 0, "examples": []}),
        "seconds": round(time.perf_counter() - started, 3),
        # this process and the pool's workers, this run
        "cpu_seconds": round(time.process_time() - cpu_started + write.get("worker_cpu_seconds", 0.0), 3),
        "peak_rss_mb": write.get("peak_rss_mb", 0.0),  # the largest process's
        "archive_bytes_read_this_run": write.get("bytes_read", 0),
    }
    secs = report["seconds"]
    report["mb_per_s_this_run"] = round(report["archive_bytes_read_this_run"] / 1e6 / secs, 2) if secs > 0 else None
    write_text_atomic(Path(out) / REPORT_FILE, json.dumps(report, indent=1))
    return report


def format_summary(report: dict) -> str:
    """One readable summary: totals, then one line per source with its reasons."""
    lines = [
        f"converted {report['written']} records into {report['out']} "
        f"({report['units_done']}/{report['units']} units, {report['seconds']} s"
        + (f", {report['mb_per_s_this_run']} MB/s of archives" if report.get("mb_per_s_this_run") else "") + ")"
    ]
    if report["filtered"]:
        lines.append(f"skipped {report['filtered']} records outside --disciplines")
    if report["limited"]:
        lines.append("stopped at --limit")
    if report.get("modalities"):
        lines.append("modality: " + ", ".join(f"{m} {n}" for m, n in report["modalities"].items()))
    dup = report.get("duplicate_keys") or {}
    if dup.get("count"):
        lines.append(f"warning: {dup['count']} keys were written by more than one archive (e.g. {', '.join(dup['examples'][:3])}): "
                     "the release holds those images in two archives; both copies are in the output (index/shards.json lists them)")
    width = max([len(s) for s in report["sources"]] + [6])
    lines.append(f"  {'source':<{width}}  {'written':>8}  {'rejected':>8}  reasons")
    for source, s in sorted(report["sources"].items()):
        reasons = ", ".join(f"{r}: {n}" for r, n in s["rejected"].items()) or "-"
        lines.append(f"  {source:<{width}}  {s['written']:>8}  {sum(s['rejected'].values()):>8}  {reasons}")
    if report["rejected"]:
        lines.append(f"rejects: {Path(report['out']) / REPORTS_DIR / 'rejects.jsonl'}; report: {Path(report['out']) / REPORT_FILE}")
    return "\n".join(lines)


# -- CLI ------------------------------------------------------------------------------------


def add_cli(sub) -> None:
    p = sub.add_parser(
        "convert",
        help="the published release (jsonl + split tar.gz archives) into a dataset folder",
        description="Join the published S1-MMAlign release (a local folder or hf://datasets/ScienceOne-AI/S1-MMAlign) "
        "and write Parquet + WebDataset shards, the index and the card. Rerun the same command to resume.",
    )
    p.add_argument("release", help="release root: a folder or an fsspec URL such as hf://datasets/ScienceOne-AI/S1-MMAlign")
    p.add_argument("out", help="output dataset folder")
    add_filter_arguments(p, disciplines=True, sources=True, sources_help="convert this release source, e.g. arxiv (default: all)")
    p.add_argument("--limit", type=int, help="stop after this many joined records (a quick slice; one worker)")
    p.add_argument("--workers", type=positive(int), help="archives converted at once, one process each (default: one per CPU)")
    p.add_argument("--classifier", default="rules", help="modality classifier: rules (default), clip, none")
    add_shard_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_convert)


def check_release(release) -> str:
    """``release`` as a string; a local one must be a folder (checked before OUT is looked at, so a
    mistyped release is named as such, not as an OUT that holds another run)."""
    release = str(release)
    if "://" not in release and not Path(release).is_dir():
        raise FileNotFoundError(f"{release}: not a folder (give the release's root folder or an hf:// URL)")
    return release


def _cli_convert(args) -> int:
    from s1mmalign.builder.commands.write import check_outcome
    from s1mmalign.builder.shards.target import args_fingerprint, open_target

    check_release(args.release)
    target = open_target(args.out, "convert", args_fingerprint(args, paths=["release"]), overwrite=args.overwrite, resumable=True)
    try:
        report = convert_release(
            args.release, target.path, sources=args.sources, disciplines=args.disciplines, limit=args.limit,
            options=shard_options_from_args(args), max_pixels=args.max_pixels, image_check=args.image_check,
            classifier=None if args.classifier == "none" else args.classifier,
            progress=not args.no_progress, workers=args.workers,
        )
    except Exception:
        target.abandon()  # a mistyped release leaves no unfinished run behind that refuses the corrected command
        raise
    report["out"] = args.out
    print(format_summary(report))
    try:
        check_outcome(report["written"], report["rejected"], args.max_reject_rate, where=str(target.path / REPORTS_DIR / "rejects.jsonl"))
    except RuntimeError:
        target.fail()
        raise
    target.commit()
    return 0
