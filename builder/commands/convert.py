"""``s1mmalign convert RELEASE OUT``: the published release into this project's dataset folder.

The work is cut into units (one archive with its jsonl partition, see
:func:`s1mmalign.builder.sources.release.discover_units`). Each unit is written with its own shard
prefix (``train-<unit>-NNNNN``) and ``finalize=False`` into a staging folder, moved into place
when complete; its rejects and then a completion
marker (``OUT/.convert/convert/<unit>.done.json`` through :class:`~s1mmalign.builder.pipeline.resume.WorkDir`,
written last, carrying the options and the unit's input files) close it. A rerun after a
crash deletes the shards and sidecars of units without a marker, redoes only those, and ends
with :func:`~s1mmalign.builder.shards.write.finalize_dataset` (index, ``sizes.json``, card). Shards
are deterministic, so a resumed run gives the same keys and bytes as an uninterrupted one.

Report: ``reports/convert.json`` (counts per source and per reason) and
``reports/rejects.jsonl`` (one row per record or file that did not come out).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from s1mmalign.builder.pipeline.resume import WorkDir
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.commands.write import add_shard_arguments, shard_options_from_args
from s1mmalign.builder.shards.write import REPORTS_DIR, finalize_dataset, write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.core import contract
from s1mmalign.core.atomic import (
    fsync_tree,
    remove_stale_temporaries,
    write_text_atomic,
)
from s1mmalign.core.images import DEFAULT_MAX_PIXELS

WORK_DIR = ".convert"  # resume state (builder.resume.WorkDir), beside the build's ".build"
STAGE = "convert"
REPORT_FILE = f"{REPORTS_DIR}/convert.json"


def remove_unit_outputs(out: Path, unit_id: str) -> int:
    """Delete the shards and sidecars of one unit (a partial unit before it is redone)."""
    pattern = re.compile(rf"^train-{re.escape(unit_id)}-\d+\.(parquet|tar)(\.idx\.parquet)?$")
    n = 0
    for folder in (out / contract.PARQUET_DIR, out / contract.WDS_DIR, out / contract.INDEX_DIR):
        if not folder.is_dir():
            continue
        for p in folder.rglob("train-*"):
            if p.is_file() and pattern.match(p.name):
                p.unlink()
                n += 1
    return n


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def convert_release(
    release: str | os.PathLike,
    out: str | os.PathLike,
    *,
    sources: Optional[Sequence[str]] = None,
    disciplines: Optional[Sequence[str]] = None,
    limit: Optional[int] = None,
    options: Optional[ShardOptions] = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    image_check: str = "fast",
    progress: bool = True,
    workers: Optional[int] = None,
) -> dict[str, Any]:
    """Convert (or resume converting) ``release`` into the dataset folder ``out``; returns the report.

    ``limit`` stops after that many joined records (over all units, in unit order; it implies
    one worker). ``workers`` units are converted at once, each in its own process (default:
    one per CPU, at most one per unit; 1 runs everything in this process). A unit is
    GIL-bound Python work, so processes, not threads, are what scale it.
    """
    from s1mmalign.builder.sources.release import discover_units

    if disciplines:
        bad = sorted(set(disciplines) - set(contract.DISCIPLINES))
        if bad:
            raise ValueError(f"unknown discipline(s) {bad}; valid: {', '.join(contract.DISCIPLINES)}")
    if limit is not None and limit < 0:
        raise ValueError("--limit must be >= 0")
    out = Path(out)
    options = options or ShardOptions()
    rel = discover_units(release, sources)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    work = WorkDir(out / WORK_DIR)
    # A unit is done when its marker carries these options and the files it was read from;
    # any other unit is redone from scratch (its partial shards removed first).
    fingerprint = _digest({
        "sources": sorted(sources) if sources else None, "disciplines": sorted(disciplines) if disciplines else None,
        "limit": limit, "shards": {k: v for k, v in dataclasses.asdict(options).items() if k not in ("prefix", "fsync")},
        "max_pixels": max_pixels, "image_check": image_check,
    })
    started, cpu_started = time.perf_counter(), time.process_time()
    worker_cpu = 0.0  # CPU seconds of the units converted by worker processes this run
    done: dict[str, dict] = {}
    for unit in rel.units:
        if work.is_done(STAGE, unit.id, fingerprint, unit.digest()):
            done[unit.id] = work.marker(STAGE, unit.id)
        else:
            remove_unit_outputs(out, unit.id)
            shutil.rmtree(_staging(out, unit.id), ignore_errors=True)

    bar = None
    if progress:
        from s1mmalign.core.progress import progress as make_bar

        bar = make_bar(total=sum(u.nbytes for u in rel.units), initial=sum(u.nbytes for u in rel.units if u.id in done),
                   unit="B", unit_scale=True, unit_divisor=1024, desc="convert", mininterval=1.0)
    read_bytes = 0

    def on_bytes(n: int) -> None:
        nonlocal read_bytes
        read_bytes += n
        if bar is not None:
            bar.update(n)

    job = dict(out=out, work=work, options=options, disciplines=disciplines, max_pixels=max_pixels,
               image_check=image_check, fingerprint=fingerprint)
    todo = [u for u in rel.units if u.id not in done]
    try:
        workers = default_workers(len(todo)) if workers is None else workers
        if workers > 1 and limit is None and len(todo) > 1:
            converted, here = _convert_parallel(todo, job, workers, on_bytes)
            worker_cpu = sum(m.get("cpu_seconds", 0.0) for u, m in converted.items() if u not in here)
            done.update(converted)
        else:
            for unit in todo:
                remaining = None if limit is None else limit - sum(d["joined"] for d in done.values())
                if remaining is not None and remaining <= 0:
                    break
                if bar is not None:
                    bar.set_postfix_str(unit.id)
                done[unit.id] = convert_unit(unit, remaining=remaining, on_bytes=on_bytes, **job)
    finally:
        if bar is not None:
            bar.close()

    all_rejects = Rejects()
    all_rejects.extend(rel.problems)
    for unit in rel.units:
        if unit.id in done:
            all_rejects.extend(work.read_rejects(STAGE, unit.id))
    index = finalize_dataset(out, rejects=all_rejects)
    report = build_report(rel, done, all_rejects, seconds=time.perf_counter() - started, read_bytes=read_bytes, out=out,
                          cpu_seconds=time.process_time() - cpu_started + worker_cpu)
    # Units are written apart, so a key repeated across archives is only seen here: counted, kept.
    report["duplicate_keys"] = index.get("duplicate_keys", {"count": 0, "examples": []})
    write_text_atomic(out / REPORT_FILE, json.dumps(report, indent=1))
    return report


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _staging(out: Path, unit_id: str) -> Path:
    return out / WORK_DIR / "staging" / unit_id


def _move_into_place(staging: Path, out: Path) -> None:
    """Sidecars first, then shards: a kill in between leaves sidecars that finalize drops."""
    files = sorted((p for p in staging.rglob("*") if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: (not p.name.endswith(".idx.parquet"), p.as_posix()))
    for p in files:
        target = out / p.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, target)


def convert_unit(unit, *, out: Path, work: WorkDir, options: ShardOptions, disciplines, max_pixels: int,
                 image_check: str, fingerprint: str, remaining: Optional[int] = None, on_bytes=None,
                 read_ahead: bool = True) -> dict:
    """Read, join and write one unit, then commit its rejects and (last) its marker; returns the marker.

    Shards are written into the unit's own staging folder and renamed into ``out`` when the
    unit is complete, so units can run in parallel (the writer cleans temporaries of its folder).
    """
    from s1mmalign.builder.sources.release.join import PREFETCH_RECORDS
    from s1mmalign.core.prefetch import ReadAhead

    rejects, stats = Rejects(), {}
    started, cpu_started = time.perf_counter(), time.process_time()
    work.log(STAGE, unit.id, "started")
    staging = _staging(out, unit.id)
    shutil.rmtree(staging, ignore_errors=True)
    records = unit.read(rejects, disciplines=disciplines, on_bytes=on_bytes, stats=stats)
    if remaining is not None:
        records = itertools.islice(records, remaining)
    # No fsync per shard: the files sit in the unit's staging folder until the unit is complete,
    # then one fsync_tree makes them durable (by then the kernel has written most of them back).
    if read_ahead:  # one process: reading overlaps writing; beside other workers it only adds GIL hand-offs
        records = ReadAhead(records, PREFETCH_RECORDS, name="release-reader")
    rep = write_dataset(records, staging, options=dataclasses.replace(options, prefix=f"train-{unit.id}", fsync=False),
                        rejects=rejects, max_pixels=max_pixels, image_check=image_check, finalize=False)
    fsync_tree(staging)
    _move_into_place(staging, out)
    shutil.rmtree(staging, ignore_errors=True)
    info = {
        "source": unit.source, "archive": unit.archive.name if unit.archive else None,
        "jsonl": [unit.rel(j) for j in unit.jsonl], "archive_bytes": unit.nbytes,
        "joined": stats.get("joined", 0), "written": rep["written"], "filtered": stats.get("filtered", 0),
        "rejects_by_reason": rejects.by_reason(), "shards": rep["shards"],
        "limited": remaining is not None and stats.get("joined", 0) >= remaining,
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(time.process_time() - cpu_started, 3),  # this process, all its threads
        "peak_rss_mb": _peak_rss_mb(),  # of the process that converted it, so far
    }
    marker = work.commit(STAGE, unit.id, records=None, rejects=rejects, fingerprint=fingerprint,
                         input_digest=unit.digest(), info=info)  # the marker is written last
    work.log(STAGE, unit.id, "finished", written=rep["written"])
    return marker


def default_workers(units: int) -> int:
    """One process per CPU this process may use, at most one per unit."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, units))


_progress_queue = None  # set in each worker process by _init_worker


def _init_worker(progress_queue, driver_pid: int) -> None:
    global _progress_queue
    _progress_queue = progress_queue
    import threading

    threading.Thread(target=_exit_with_driver, args=(driver_pid,), name="driver-watch", daemon=True).start()


def _exit_with_driver(driver_pid: int, every: float = 0.2) -> None:
    """End this worker when the driver is gone (killed, OOM): an orphan finishing its unit would
    race the rerun that redoes it. (A worker's parent is the fork server, not the driver.)"""
    while True:
        time.sleep(every)
        try:
            os.kill(driver_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive, owned by someone else: cannot be ours, but not gone
            pass


def _worker_unit(unit, job: dict) -> dict:
    return convert_unit(unit, on_bytes=_progress_queue.put, read_ahead=False, **job)


def _worker_context():
    """A fork server that has imported this module once (workers start in milliseconds, without
    the driver's threads or open files); spawn where there is no fork server (Windows)."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, "s1mmalign.builder.sources.release"])
    return ctx


def _convert_parallel(units, job: dict, workers: int, on_bytes) -> tuple[dict[str, dict], set[str]]:
    """Units on ``workers`` CPUs, the largest first (the last to finish is a small one): this
    process converts one unit at a time in a thread -- it has everything imported, so it starts
    at once -- while ``workers - 1`` fork-server processes take the others. Returns the markers
    and the ids of the units converted here (their CPU time is this process's)."""
    import concurrent.futures as cf
    import threading

    ctx = _worker_context()
    progress = ctx.SimpleQueue()
    todo = sorted(units, key=lambda u: -u.nbytes)
    lock = threading.Lock()
    done: dict[str, dict] = {}
    here: set[str] = set()
    failed: list[BaseException] = []

    def take():
        with lock:
            return todo.pop(0) if todo and not failed else None

    def convert_here() -> None:
        try:
            while (unit := take()) is not None:
                done[unit.id] = convert_unit(unit, on_bytes=progress.put, read_ahead=False, **job)
                here.add(unit.id)
        except BaseException as e:  # re-raised by the main thread
            with lock:
                failed.append(e)

    def drain() -> None:
        while not progress.empty():
            on_bytes(progress.get())

    driver = threading.Thread(target=convert_here, name="convert-here", daemon=True)
    driver.start()  # before the pool: starting the fork server takes a while, and blocks submit()
    with cf.ProcessPoolExecutor(max_workers=workers - 1, mp_context=ctx, initializer=_init_worker,
                                initargs=(progress, os.getpid())) as pool:
        futures: dict = {}
        for _ in range(workers - 1):
            if (unit := take()) is not None:
                futures[pool.submit(_worker_unit, unit, job)] = unit
        pending = set(futures)
        while pending or driver.is_alive():
            if pending:
                finished, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            else:
                finished = set()
                driver.join(0.5)
            drain()
            for f in finished:
                try:
                    done[futures[f].id] = f.result()  # finished units keep their markers whatever happens next
                except BaseException as e:
                    with lock:
                        failed.append(e)
                    continue
                if (unit := take()) is not None:
                    nxt = pool.submit(_worker_unit, unit, job)
                    futures[nxt] = unit
                    pending.add(nxt)
        drain()
    if failed:
        raise failed[0]
    return done, here


def build_report(rel, done: dict[str, dict], rejects: Rejects, *, seconds: float, read_bytes: int, out: Path,
                 cpu_seconds: float = 0.0) -> dict:
    per_source: dict[str, dict] = {}
    for unit in rel.units:
        s = per_source.setdefault(unit.source, {"units": 0, "units_done": 0, "written": 0, "filtered": 0, "rejected": {}})
        s["units"] += 1
        if unit.id in done:
            s["units_done"] += 1
            s["written"] += done[unit.id]["written"]
            s["filtered"] += done[unit.id]["filtered"]
    for source, reasons in rejects.by_source_and_reason().items():
        per_source.setdefault(source, {"units": 0, "units_done": 0, "written": 0, "filtered": 0, "rejected": {}})
        per_source[source]["rejected"] = reasons
    return {
        "release": rel.root,
        "out": str(out),
        "written": sum(d["written"] for d in done.values()),
        "filtered": sum(d["filtered"] for d in done.values()),
        "rejected": len(rejects),
        "rejects_by_reason": rejects.by_reason(),
        "sources": per_source,
        "units": len(rel.units),
        "units_done": len(done),
        "limited": any(d.get("limited") for d in done.values()),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),  # the driver and its worker processes, this run
        "peak_rss_mb": max([_peak_rss_mb()] + [d.get("peak_rss_mb", 0.0) for d in done.values()]),  # largest process
        "archive_bytes_read_this_run": read_bytes,
        "mb_per_s_this_run": round(read_bytes / 1e6 / seconds, 2) if seconds > 0 else None,
    }


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


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def add_cli(sub) -> None:
    p = sub.add_parser(
        "convert",
        help="the published release (jsonl + split tar.gz archives) into a dataset folder",
        description="Join the published S1-MMAlign release (a local folder or hf://datasets/ScienceOne-AI/S1-MMAlign) "
        "and write Parquet + WebDataset shards, the index and the card. Rerun the same command to resume.",
    )
    p.add_argument("release", help="release root: a folder or an fsspec URL such as hf://datasets/ScienceOne-AI/S1-MMAlign")
    p.add_argument("out", help="output dataset folder")
    p.add_argument("--sources", help="comma-separated sources to convert (e.g. arxiv,biorxiv; default: all)")
    p.add_argument("--disciplines", help=f"comma-separated disciplines to keep ({', '.join(contract.DISCIPLINES)})")
    p.add_argument("--limit", type=int, help="stop after this many joined records (a quick slice; one worker)")
    p.add_argument("--workers", type=int, help="archives converted at once, one process each (default: one per CPU)")
    add_shard_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_convert)


def _cli_convert(args) -> int:
    from s1mmalign.builder.commands.write import check_outcome
    from s1mmalign.builder.shards.target import args_fingerprint, open_target

    target = open_target(args.out, "convert", args_fingerprint(args, paths=["release"]), overwrite=args.overwrite, resumable=True)
    report = convert_release(
        args.release, target.path, sources=_csv(args.sources), disciplines=_csv(args.disciplines), limit=args.limit,
        options=shard_options_from_args(args), max_pixels=args.max_pixels, image_check=args.image_check,
        progress=not args.no_progress,
        workers=args.workers,
    )
    report["out"] = args.out
    print(format_summary(report))
    try:
        check_outcome(report["written"], report["rejected"], args.max_reject_rate, where=str(target.path / REPORTS_DIR / "rejects.jsonl"))
    except RuntimeError:
        target.fail()
        raise
    target.commit()
    return 0
