"""Resume state of a build: each stage's output per unit, with a completion marker written last.

Layout under the work folder (default ``OUT/.build``)::

    <stage>/<unit>.parquet        the stage's output records for the unit (not for write/card)
    <stage>/<unit>.rejects.jsonl  what the stage rejected in that unit
    <stage>/<unit>.done.json      marker, written last: fingerprint, input digest, counts, seconds
    <stage>/<unit>.failed.json    the unit raised (or timed out) in this stage; a rerun retries it
    executions.jsonl              one line per (stage, unit) started / finished, across all runs

A unit is finished for a stage when its marker exists, carries the stage's current
fingerprint (its options chained with the upstream stage's) and names the digest of the input
it was computed from. Everything goes through :mod:`builder.atomic`, so a SIGKILL leaves
either the old state or the new, never half a file under a final name.

Records are stored as three columns: ``key``, ``image`` (struct bytes/path, as in the
contract) and ``record`` (every other field as JSON). That keeps any field a stage adds
without a schema to agree on, and round-trips floats exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Optional

import pyarrow as pa
import pyarrow.parquet as pq

import s1mmalign_dataset as contract
from s1mmalign.builder.atomic import remove_stale_temporaries, write_bytes_atomic, write_text_atomic
from s1mmalign.builder.rejects import Rejects

RECORD_SCHEMA = pa.schema([("key", pa.string()), ("image", contract.IMAGE_STRUCT), ("record", pa.string())])


def records_to_table(records: list[dict]) -> pa.Table:
    keys, images, rest = [], [], []
    for rec in records:
        rec = dict(rec)
        img = rec.pop("image", None)
        if isinstance(img, (bytes, bytearray)):
            img = {"bytes": bytes(img), "path": None}
        keys.append(rec.get("key") if isinstance(rec.get("key"), str) else None)
        images.append(img if isinstance(img, dict) else None)
        rest.append(json.dumps(rec, ensure_ascii=False, sort_keys=True))
    return pa.Table.from_pydict({"key": keys, "image": images, "record": rest}, schema=RECORD_SCHEMA)


def table_to_records(table: pa.Table) -> list[dict]:
    out = []
    for key, img, rest in zip(table.column("key").to_pylist(), table.column("image").to_pylist(),
                              table.column("record").to_pylist()):
        rec = json.loads(rest)
        rec["image"] = img
        out.append(rec)
    return out


def table_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


class WorkDir:
    """The resume state of one build (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, *, clean: bool = True):
        """``clean``: remove temporaries a killed run left (the driver only; workers run side by side)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        if clean:
            remove_stale_temporaries(self.root)

    # -- paths ---------------------------------------------------------------------------
    def path(self, stage: str, unit: str, suffix: str) -> Path:
        return self.root / stage / f"{unit}{suffix}"

    # -- markers -------------------------------------------------------------------------
    def marker(self, stage: str, unit: str) -> Optional[dict]:
        p = self.path(stage, unit, ".done.json")
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def is_done(self, stage: str, unit: str, fingerprint: str, input_digest: Optional[str]) -> bool:
        m = self.marker(stage, unit)
        return bool(m) and m.get("fingerprint") == fingerprint and m.get("input_digest") == input_digest

    def output_digest(self, stage: str, unit: str) -> Optional[str]:
        m = self.marker(stage, unit)
        return m.get("output_digest") if m else None

    def failure(self, stage: str, unit: str) -> Optional[dict]:
        p = self.path(stage, unit, ".failed.json")
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    # -- reading and writing a unit's stage output ------------------------------------------
    def read_records(self, stage: str, unit: str) -> list[dict]:
        return table_to_records(pq.read_table(self.path(stage, unit, ".parquet")))

    def read_rejects(self, stage: str, unit: str) -> Rejects:
        p = self.path(stage, unit, ".rejects.jsonl")
        return Rejects.read_jsonl(p) if p.exists() else Rejects()

    def commit(self, stage: str, unit: str, *, records: Optional[list[dict]], rejects: Rejects,
               fingerprint: str, input_digest: Optional[str], info: dict) -> dict:
        """Write the unit's output, its rejects, then the marker (last). Returns the marker."""
        digest = None
        if records is not None:
            data = table_bytes(records_to_table(records))
            write_bytes_atomic(self.path(stage, unit, ".parquet"), data)
            digest = hashlib.sha256(data).hexdigest()
        else:  # write stage: the output lives in the dataset folder; the info names it
            digest = hashlib.sha256(json.dumps(info, sort_keys=True, default=str).encode()).hexdigest()
        rejects.write_jsonl(self.path(stage, unit, ".rejects.jsonl"))
        marker = {"stage": stage, "unit": unit, "fingerprint": fingerprint, "input_digest": input_digest,
                  "output_digest": digest, "rejected": len(rejects), **info, "committed_at": time.time()}
        write_text_atomic(self.path(stage, unit, ".done.json"), json.dumps(marker, sort_keys=True))
        with contextlib.suppress(FileNotFoundError):
            self.path(stage, unit, ".failed.json").unlink()
        return marker

    def mark_failed(self, stage: str, unit: str, error: str) -> None:
        write_text_atomic(self.path(stage, unit, ".failed.json"),
                          json.dumps({"stage": stage, "unit": unit, "error": error[-2000:], "time": time.time()}))

    # -- the execution log -----------------------------------------------------------------
    def log(self, stage: str, unit: str, event: str, **extra: Any) -> None:
        """Append one line (a single write on an O_APPEND file: whole or absent after a kill)."""
        line = json.dumps({"stage": stage, "unit": unit, "event": event, "pid": os.getpid(), "time": time.time(), **extra})
        fd = os.open(self.root / "executions.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def executions(self) -> list[dict]:
        p = self.root / "executions.jsonl"
        if not p.exists():
            return []
        out = []
        for line in p.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out

    def units_with_output(self, stage: str) -> Iterable[str]:
        return sorted(p.name[: -len(".done.json")] for p in (self.root / stage).glob("*.done.json"))
