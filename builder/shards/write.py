"""Records in, a dataset folder out: validate, normalise images, write shards, index, card.

:func:`write_dataset` is the one entry point every source feeds (``write``, ``convert``,
``build``). Bad records are rejected with a reason and the run goes on; good data already
written is never touched.
"""

from __future__ import annotations

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
from s1mmalign.core.images import DEFAULT_MAX_PIXELS

REPORTS_DIR = "reports"


def _progress(iterable, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from s1mmalign.core.progress import progress

    return progress(iterable, desc=desc, unit=" rec", mininterval=1.0)


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
                digest = contract.key_digest(clean["key"])
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
