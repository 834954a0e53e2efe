"""Shard writers: one stream of validated records -> WebDataset tars and Parquet files.

Layout (relative to the dataset folder)::

    data/<discipline>/<name>.parquet     rows clustered by modality (one modality per row group)
    wds/<discipline>/<name>.tar          <key>.png|jpg, <key>.json, <key>.txt
    index/<shard path>.idx.parquet       per-sample index of that shard (+ shard facts in its metadata)

A writer names its shards ``part[-<unit>]-NNNNN`` and records ``unit`` and ``part`` in each
sidecar; the final names (``<d>-NNNNN``, numbered
per discipline) are given once all units are written (:mod:`s1mmalign.builder.shards.names`).

Memory is bounded whatever the dataset size: a tar sample is streamed to disk at once;
Parquet rows wait in per-(discipline, modality) buffers that are flushed as a row group
when they reach ``row_group_bytes``, and the largest buffer is flushed early whenever all
buffers together pass ``buffer_bytes``. The per-sample index of the open shards is the only
other state (a few dozen bytes per sample of one shard).

Each shard is written under a temporary name; its index sidecar is written next, and the
shard is renamed into place last. A killed writer leaves no file under a final shard name.
"""

from __future__ import annotations

import collections
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from s1mmalign.builder.shards.names import shard_facts, working_prefix
from s1mmalign.core import contract, layout
from s1mmalign.core.atomic import HashingWriter, atomic_file, fsync_and_hash, temporary_name
from s1mmalign.core.layout import SAMPLE_INDEX_SCHEMA, note_image_ranges, note_sample

MiB = 1 << 20

@dataclass
class ShardOptions:
    """Where and how big. Defaults suit the Hub (~500 MB Parquet, ~1 GB tar shards)."""

    formats: tuple[str, ...] = ("parquet", "wds")
    parquet_shard_bytes: int = 500 * MiB
    tar_shard_bytes: int = 1000 * MiB
    row_group_bytes: int = 32 * MiB  # the Hub viewer needs row groups well under 286 MiB
    buffer_bytes: int = 256 * MiB  # all Parquet buffers together
    unit: str = ""  # the build unit writing (names its shards until the names are settled)
    compression: str = "zstd"  # metadata columns; image bytes are stored uncompressed
    fsync: bool = True  # False: the caller makes the files durable at once (convert: fsync_tree per unit)

    def __post_init__(self):
        bad = set(self.formats) - {"parquet", "wds"}
        if bad or not self.formats:
            raise ValueError(f"formats must be a non-empty subset of ('parquet', 'wds'), got {self.formats}")
        if not all(c.isalnum() or c in "-_." for c in self.unit):
            raise ValueError(f"unit must be [A-Za-z0-9_.-], got {self.unit!r}")
        for name in ("parquet_shard_bytes", "tar_shard_bytes", "row_group_bytes", "buffer_bytes"):
            if not getattr(self, name) > 0:  # 0 or less would make a shard of every record
                raise ValueError(f"{name.replace('_bytes', '')} size must be > 0, got {getattr(self, name)} bytes")
        if self.row_group_bytes > 200 * MiB:
            raise ValueError("row_group_bytes above 200 MiB breaks the Hub viewer (limit ~286 MiB)")


def parquet_schema() -> pa.Schema:
    """The contract schema with the ``huggingface`` features metadata that ``datasets`` reads."""
    meta = {"huggingface": json.dumps({"info": {"features": contract.features_dict()}})}
    return contract.SCHEMA.with_metadata(meta)


def sidecar_path(out: Path, shard_rel: str) -> Path:
    return out / layout.sidecar_rel(shard_rel)


class _Shard:
    """State common to both formats: temporary name, per-sample index rows, commit."""

    def __init__(self, out: Path, rel: str, fmt: str, discipline: str, durable: bool = True, origin: Optional[dict] = None):
        self.out, self.rel, self.format, self.discipline, self.durable = out, rel, fmt, discipline, durable
        self.origin = origin or {}  # unit and part: what settles the final name
        self.final = out / rel
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temporary_name(self.final)
        self.index: dict[str, list] = {n: [] for n in SAMPLE_INDEX_SCHEMA.names}

    def _close(self) -> tuple[int, str]:
        """Close the temporary file, durably; (bytes, sha256 hex) of what it holds."""
        raise NotImplementedError

    def note(self, rec: dict, offset: int, size: int, row_group: int) -> None:
        note_sample(self.index, rec, offset, size, row_group)

    @property
    def num_samples(self) -> int:
        return len(self.index["key"])

    def commit(self) -> dict:
        """Close the temp file, write the sidecar, rename the shard into place."""
        nbytes, sha256 = self._close()
        facts = {
            "path": self.rel,
            "format": self.format,
            "discipline": self.discipline,
            "num_samples": self.num_samples,
            "bytes": nbytes,
            "sha256": sha256,
            **self.origin,
        }
        table = pa.table(self.index, schema=SAMPLE_INDEX_SCHEMA).replace_schema_metadata(
            {"s1mmalign_shard": json.dumps(facts)}
        )
        with atomic_file(sidecar_path(self.out, self.rel), durable=self.durable) as f:
            pq.write_table(table, f, compression="zstd")
        os.replace(self.tmp, self.final)
        return facts

    def abort(self) -> None:
        if self.tmp.exists():
            self.tmp.unlink()


_MEMBER_FIXED = (  # the ustar fields every member shares: mode 0444, uid/gid 0, mtime 0 (deterministic)
    b"%07o\0" % 0o444 + b"%07o\0" % 0 + b"%07o\0" % 0,
    b"%011o\0" % 0 + b"        " + tarfile.REGTYPE + b"\0" * 100 + tarfile.POSIX_MAGIC + b"\0" * (32 + 32 + 8 + 8 + 155),
)


def member_header(name: str, size: int) -> bytes:
    """The tar header of one member, byte for byte what ``tarfile`` writes in PAX format.

    Written by hand for the common case (an ASCII name of at most 100 bytes): tarfile's
    generic path costs ~35 us per member, a third of the per-record cost of writing a tar.
    """
    raw = name.encode("ascii", "ignore") if name.isascii() else None
    if raw is None or len(raw) > 100 or size >= 8**11:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o444, 0
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")  # pax records for long names
    buf = raw.ljust(100, b"\0") + _MEMBER_FIXED[0] + b"%011o\0" % size + _MEMBER_FIXED[1]
    buf = buf.ljust(tarfile.BLOCKSIZE, b"\0")
    return buf[:148] + b"%06o\0" % sum(buf) + buf[155:]  # the checksum counts its own field as spaces


class _TarShard(_Shard):
    """Members written straight to the file (header, payload, padding): no per-member objects."""

    def __init__(self, out: Path, rel: str, discipline: str, durable: bool = True, origin: Optional[dict] = None):
        super().__init__(out, rel, "wds", discipline, durable, origin)
        self.file = open(self.tmp, "wb")
        self.hw = HashingWriter(self.file)

    def add(self, rec: dict, image: bytes, ext: str) -> None:
        start = self.hw.bytes
        key = rec["key"]
        parts = []
        for name, payload in (
            (f"{key}.{ext}", image),
            (f"{key}.json", contract.metadata_json(rec)),
            (f"{key}.txt", contract.training_text(rec).encode("utf-8")),
        ):
            parts += (member_header(name, len(payload)), payload, b"\0" * (-len(payload) % tarfile.BLOCKSIZE))
        self.hw.write(b"".join(parts))  # one write and one hash update per sample
        self.note(rec, start, self.hw.bytes - start, -1)

    @property
    def size(self) -> int:
        return self.hw.bytes

    def commit(self) -> dict:
        # tarfile's end of archive: two zero blocks, then zeros up to a whole 10240-byte record
        end = self.hw.bytes + 2 * tarfile.BLOCKSIZE
        self.hw.write(b"\0" * (2 * tarfile.BLOCKSIZE + (-end % tarfile.RECORDSIZE)))
        return super().commit()

    def _close(self) -> tuple[int, str]:
        self.file.flush()
        if self.durable:
            os.fsync(self.file.fileno())
        self.file.close()
        return self.hw.bytes, self.hw.sha256.hexdigest()

    def abort(self) -> None:
        self.file.close()
        super().abort()


#: Columns whose min/max statistics prune nothing (image bytes, long texts) and cost a compare
#: of every value; every scalar column keeps its statistics for ``filters=`` pushdown.
_NO_STATISTICS = frozenset({"image", "caption", "recaption", "title", "abstract", "citation_contexts", "recaption_info"})


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows -> a table, column by column (~1.6x faster than ``Table.from_pylist``)."""
    columns = []
    for f in schema:
        if f.name == "image":
            images = [r["image"] for r in rows]
            columns.append(pa.StructArray.from_arrays(
                [pa.array([i["bytes"] for i in images], pa.binary()), pa.array([i.get("path") for i in images], pa.string())],
                fields=list(f.type)))
        else:
            columns.append(pa.array([r.get(f.name) for r in rows], type=f.type))
    return pa.Table.from_arrays(columns, schema=schema)


class _ParquetShard(_Shard):
    def __init__(self, out: Path, rel: str, discipline: str, opts: ShardOptions, origin: Optional[dict] = None):
        super().__init__(out, rel, "parquet", discipline, opts.fsync, origin)
        self.row_groups = 0
        self.image_sizes: list[int] = []  # checked against the image ranges read back at commit
        schema = parquet_schema()
        compression = {n: ("none" if n == "image" else opts.compression) for n in schema.names}
        # A native file: pyarrow writes without the GIL and without copying pages into Python
        # bytes; the sha256 is read back from the page cache at commit (half the CPU of
        # hashing through a Python file object).
        self.sink = pa.OSFile(str(self.tmp), "wb")
        self.writer = pq.ParquetWriter(
            self.sink,
            schema,
            compression=compression,
            write_page_index=True,
            use_dictionary=["discipline", "modality", "source", "license", "recaption_model"],
            write_statistics=[n for n in schema.names if n not in _NO_STATISTICS],
            store_schema=True,
        )

    def add_row_group(self, rows: list[dict]) -> None:
        self.writer.write_table(_table(rows, self.writer.schema), row_group_size=len(rows))
        base = self.num_samples
        for i, rec in enumerate(rows):
            self.note(rec, base + i, 1, self.row_groups)
            self.image_sizes.append(len(rec["image"]["bytes"]))
        self.row_groups += 1

    @property
    def size(self) -> int:
        return self.sink.tell()

    def _close(self) -> tuple[int, str]:
        self.writer.close()
        self.sink.close()
        note_image_ranges(self.index, self.tmp, self.image_sizes)  # from the page cache, like the hash
        return fsync_and_hash(self.tmp, durable=self.durable)

    def abort(self) -> None:
        try:
            self.writer.close()
        except Exception:
            pass
        self.sink.close()
        super().abort()


@dataclass
class _Buffer:
    rows: list = field(default_factory=list)
    nbytes: int = 0


class ShardWriter:
    """Route records to per-discipline shards in both formats; rotate shards by size.

    ``add(record, image_bytes, ext)`` takes a record that already passed
    ``contract.validate_record`` (image bytes are passed apart so they are not copied).
    ``close()`` flushes everything and returns the facts of every shard written.
    Use as a context manager: on an exception, open shards are removed, never renamed.
    """

    def __init__(self, out: str | os.PathLike, options: Optional[ShardOptions] = None):
        self.out = Path(out)
        self.opts = options or ShardOptions()
        self._tars: dict[str, _TarShard] = {}
        self._parquets: dict[str, _ParquetShard] = {}
        self._buffers: dict[tuple[str, str], _Buffer] = collections.defaultdict(_Buffer)
        self._buffered = 0
        self._prefix = working_prefix(self.opts.unit)
        self._next = self._first_free_parts()
        self.shards: list[dict] = []

    # -- naming ---------------------------------------------------------------------------
    def _first_free_parts(self) -> dict[str, int]:
        """Per format, the part after the last one this unit has in the folder (a second
        ``write_dataset`` call into one folder adds shards after the first's)."""
        nxt = {"wds": 0, "parquet": 0}
        for _, facts in shard_facts(self.out):
            if facts.get("unit") == self.opts.unit and "part" in facts:
                nxt[facts["format"]] = max(nxt[facts["format"]], facts["part"] + 1)
        return nxt

    def _new_name(self, fmt: str, discipline: str) -> tuple[str, dict]:
        """(working path, origin facts) of the next shard of a format."""
        n = self._next[fmt]
        self._next[fmt] += 1
        folder, ext = (contract.WDS_DIR, "tar") if fmt == "wds" else (contract.PARQUET_DIR, "parquet")
        origin = {"unit": self.opts.unit, "part": n}
        return f"{folder}/{discipline}/{self._prefix}-{n:05d}.{ext}", origin

    # -- writing --------------------------------------------------------------------------
    def add(self, rec: dict, image: bytes, ext: str) -> None:
        d = rec["discipline"]
        if "wds" in self.opts.formats:
            shard = self._tars.get(d)
            if shard is None:
                rel, origin = self._new_name("wds", d)
                shard = self._tars[d] = _TarShard(self.out, rel, d, self.opts.fsync, origin)
            shard.add(rec, image, ext)
            if shard.size >= self.opts.tar_shard_bytes:
                self.shards.append(self._tars.pop(d).commit())
        if "parquet" in self.opts.formats:
            row = dict(rec)
            row["image"] = {"bytes": image, "path": f"{rec['key']}.{ext}"}
            nbytes = len(image) + sum(len(v) for v in (rec["caption"], rec.get("recaption") or "", rec["abstract"]))
            buf = self._buffers[(d, rec["modality"])]
            buf.rows.append(row)
            buf.nbytes += nbytes
            self._buffered += nbytes
            if buf.nbytes >= self.opts.row_group_bytes:
                self._flush((d, rec["modality"]))
            while self._buffered > self.opts.buffer_bytes:
                self._flush(max(self._buffers, key=lambda k: self._buffers[k].nbytes))

    def _flush(self, bkey: tuple[str, str]) -> None:
        buf = self._buffers.pop(bkey)
        self._buffered -= buf.nbytes
        if not buf.rows:
            return
        d = bkey[0]
        shard = self._parquets.get(d)
        if shard is None:
            rel, origin = self._new_name("parquet", d)
            shard = self._parquets[d] = _ParquetShard(self.out, rel, d, self.opts, origin)
        shard.add_row_group(buf.rows)
        if shard.size >= self.opts.parquet_shard_bytes:
            self.shards.append(self._parquets.pop(d).commit())

    def close(self) -> list[dict]:
        # Flush by (discipline, modality) so each shard's remaining row groups come out grouped.
        for bkey in sorted(self._buffers):
            self._flush(bkey)
        for d in sorted(self._tars):
            self.shards.append(self._tars.pop(d).commit())
        for d in sorted(self._parquets):
            self.shards.append(self._parquets.pop(d).commit())
        return self.shards

    def abort(self) -> None:
        for shard in [*self._tars.values(), *self._parquets.values()]:
            shard.abort()
        self._tars.clear()
        self._parquets.clear()
        self._buffers.clear()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
