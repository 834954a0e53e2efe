"""Records in, a dataset folder out: validate, normalise images, write shards, index, card.

:func:`write_dataset` is the one entry point every source feeds (``write``, ``convert``,
``build``). Bad records are rejected with a reason and the run goes on; good data already
written is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from s1mmalign.builder.records.prepare import prepare_record, reason_of
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.shards.writers import ShardOptions, ShardWriter
from s1mmalign.core import contract
from s1mmalign.core.atomic import remove_stale_temporaries, write_text_atomic
from s1mmalign.core.images import CHECKS, DEFAULT_MAX_PIXELS

REPORTS_DIR = "reports"


def _progress(iterable, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit=" rec", mininterval=1.0)


def write_dataset(
    records: Iterable[dict[str, Any]],
    out: str | os.PathLike,
    *,
    options: Optional[ShardOptions] = None,
    rejects: Optional[Rejects] = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    image_check: str = "fast",
    check_duplicates: bool = True,
    finalize: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Write ``records`` into the dataset folder ``out``; returns the run's report.

    ``check_duplicates`` keeps an 8-byte digest per key (about 70 B per record in memory) to
    reject repeated keys; turn it off when an earlier stage already guarantees unique keys.
    With ``finalize`` (default) the index, ``sizes.json``, reports and README.md are written
    at the end; a caller writing several units calls :func:`finalize_dataset` once instead.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if finalize:  # per-unit writers (finalize=False) may run side by side: their caller cleans once
        remove_stale_temporaries(out)
    rejects = rejects if rejects is not None else Rejects()
    seen: set[bytes] = set()
    written = 0
    started = time.perf_counter()
    with ShardWriter(out, options) as writer:
        for rec in _progress(records, "write", progress):
            try:
                clean, stored = prepare_record(rec, max_pixels=max_pixels, image_check=image_check)
            except contract.RecordError as e:
                rejects.add(e.key, e.field, reason_of(e), e.reason, stage="write", source=str(rec.get("source") or ""))
                continue
            if check_duplicates:
                digest = hashlib.blake2b(clean["key"].encode(), digest_size=8).digest()
                if digest in seen:
                    rejects.add(clean["key"], "key", "duplicate_key", "key already written", stage="write", source=clean["source"])
                    continue
                seen.add(digest)
            writer.add(clean, stored.data, stored.ext)
            written += 1
        shards = writer.close()
    report = {
        "written": written,
        "rejected": len(rejects),
        "rejects_by_reason": rejects.by_reason(),
        "shards": len(shards),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if finalize:
        finalize_dataset(out, rejects=rejects, report=report)
    return report


def finalize_dataset(out: str | os.PathLike, *, rejects: Optional[Rejects] = None, report: Optional[dict] = None) -> dict:
    """Index, ``sizes.json``, reports and README.md for everything under ``out``."""
    from s1mmalign.builder.shards.card import render_card
    from s1mmalign.builder.shards.index import write_index

    out = Path(out)
    index = write_index(out)
    if rejects is not None:
        rejects.write_jsonl(out / REPORTS_DIR / "rejects.jsonl")
    if report is not None:
        write_text_atomic(out / REPORTS_DIR / "write.json", json.dumps(report, indent=1))
    render_card(out, index)
    return index


# -- CLI ------------------------------------------------------------------------------------


def add_shard_arguments(p) -> None:
    """Shard options shared by every command that writes a dataset folder."""
    p.add_argument("--formats", default="parquet,wds", help="comma-separated: parquet, wds (default: both)")
    p.add_argument("--parquet-shard-mb", type=float, default=500, help="target Parquet shard size in MB (default 500)")
    p.add_argument("--tar-shard-mb", type=float, default=1000, help="target tar shard size in MB (default 1000)")
    p.add_argument("--row-group-mb", type=float, default=32, help="target Parquet row group size in MB (default 32)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="decompression-bomb limit in pixels")
    p.add_argument("--image-check", choices=CHECKS, default="fast",
                   help="fast: PNG chunk CRCs and JPEG at 1/8 scale (catches corrupt and truncated files, ~4x cheaper); "
                        "full: decode every pixel (default: fast)")


def shard_options_from_args(args, **overrides) -> ShardOptions:
    return ShardOptions(
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
        parquet_shard_bytes=int(args.parquet_shard_mb * (1 << 20)),
        tar_shard_bytes=int(args.tar_shard_mb * (1 << 20)),
        row_group_bytes=int(args.row_group_mb * (1 << 20)),
        **overrides,
    )


def print_report(report: dict, out: Path) -> None:
    print(f"wrote {report['written']} records in {report['shards']} shards to {out} ({report['seconds']} s)")
    if report["rejected"]:
        reasons = ", ".join(f"{r}: {n}" for r, n in report["rejects_by_reason"].items())
        print(f"rejected {report['rejected']} ({reasons}); see {out / REPORTS_DIR / 'rejects.jsonl'}")


def add_cli(sub) -> None:
    p = sub.add_parser(
        "write",
        help="shards + index + card from a manifest of figure records",
        description="Write WebDataset and Parquet shards, the shard index, sizes.json and README.md "
        "from a JSON Lines manifest (one contract record per line, `image` a path relative to the manifest).",
    )
    p.add_argument("manifest", help="manifest.jsonl")
    p.add_argument("out", help="output dataset folder (a Hub dataset repository as it stands)")
    add_shard_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_write)


def _cli_write(args) -> int:
    from s1mmalign.builder.records.manifest import read_manifest

    out = Path(args.out)
    rejects = Rejects()
    records = read_manifest(args.manifest, rejects)
    report = write_dataset(
        records, out, options=shard_options_from_args(args), rejects=rejects,
        max_pixels=args.max_pixels, image_check=args.image_check, progress=not args.no_progress,
    )
    print_report(report, out)
    return 0
