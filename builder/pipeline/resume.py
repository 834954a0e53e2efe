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

Records are stored as columns ``key``, ``image`` (struct bytes/path, as in the contract),
``image_ref`` and ``record`` (every other field as JSON): that keeps any field a stage adds
without a schema to agree on, and round-trips floats exactly. Stages after the first store an
image they did not change as a reference to the first stage's copy (``image_ref``), so the
state holds each image once rather than once per stage.
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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.core import contract
from s1mmalign.core.atomic import remove_stale_temporaries, write_bytes_atomic, write_text_atomic

RECORD_SCHEMA = pa.schema([("key", pa.string()), ("image", contract.IMAGE_STRUCT), ("image_ref", pa.bool_()),
                           ("record", pa.string())])


def records_to_table(records: list[dict], images_of: Optional[dict] = None) -> pa.Table:
    """``images_of`` (key -> bytes of the first stage's image): an image equal to it is stored
    as a reference (``image_ref``), so the state holds each image once, not once per stage."""
    keys, images, refs, rest = [], [], [], []
    for rec in records:
        rec = dict(rec)
        img = rec.pop("image", None)
        if isinstance(img, (bytes, bytearray)):
            img = {"bytes": bytes(img), "path": None}
        key = rec.get("key") if isinstance(rec.get("key"), str) else None
        ref = False
        if images_of is not None and isinstance(img, dict) and key in images_of:
            data = img.get("bytes")
            ref = data is images_of[key] or (data is not None and data == images_of[key])
            if ref:
                img = {"bytes": None, "path": img.get("path")}
        keys.append(key)
        images.append(img if isinstance(img, dict) else None)
        refs.append(ref)
        rest.append(json.dumps(rec, ensure_ascii=False, sort_keys=True))
    return pa.Table.from_pydict({"key": keys, "image": images, "image_ref": refs, "record": rest}, schema=RECORD_SCHEMA)


def table_to_records(table: pa.Table, images_of: Optional[dict] = None) -> list[dict]:
    out = []
    for key, img, ref, rest in zip(table.column("key").to_pylist(), table.column("image").to_pylist(),
                                   table.column("image_ref").to_pylist(), table.column("record").to_pylist()):
        rec = json.loads(rest)
        if ref:
            if images_of is None or key not in images_of:
                raise RuntimeError(f"resume state: the image of {key!r} refers to the first stage's output, which is gone; "
                                   "delete the work folder to rebuild")
            img = {"bytes": images_of[key], "path": img.get("path") if img else None}
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
    def read_records(self, stage: str, unit: str, base: Optional[str] = None) -> list[dict]:
        """A unit's output of ``stage``; images stored as references come from ``base``'s output."""
        table = pq.read_table(self.path(stage, unit, ".parquet"))
        images_of = None
        if base and base != stage and pc.any(table.column("image_ref")).as_py():
            images_of = self.base_images(base, unit)
        return table_to_records(table, images_of)

    def base_images(self, base: str, unit: str) -> dict:
        """key -> image bytes of ``base``'s output for ``unit`` (the last one asked is cached)."""
        cached = getattr(self, "_base_cache", None)
        if cached and cached[0] == (base, unit):
            return cached[1]
        bt = pq.read_table(self.path(base, unit, ".parquet"), columns=["key", "image"])
        images = {k: (i or {}).get("bytes") for k, i in zip(bt.column("key").to_pylist(), bt.column("image").to_pylist())}
        self._base_cache = ((base, unit), images)
        return images

    def read_rejects(self, stage: str, unit: str) -> Rejects:
        p = self.path(stage, unit, ".rejects.jsonl")
        return Rejects.read_jsonl(p) if p.exists() else Rejects()

    def commit(self, stage: str, unit: str, *, records: Optional[list[dict]], rejects: Rejects,
               fingerprint: str, input_digest: Optional[str], info: dict, images_of: Optional[dict] = None) -> dict:
        """Write the unit's output, its rejects, then the marker (last). Returns the marker."""
        digest = None
        if records is not None:
            data = table_bytes(records_to_table(records, images_of))
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
