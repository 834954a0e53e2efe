"""Checking ``index/shards.json`` before anything in it is used: types, paths, digests.

The index comes from wherever the dataset does (a Hub repository anyone can push to, a mirror),
so nothing in it is trusted: every shard and sidecar path must be a relative path that stays
inside the dataset root (no ``..``, no absolute path, no backslash, no drive), every ``sha256``
a 64-digit hex digest (it names a file in the cache), every count a non-negative integer below
2**53, every shard listed once. A per-shard sidecar must parse, carry the columns it is read for
with their types, one row per sample of the shard and, for tar, sample ranges in order inside
the shard (:func:`check_sample_index`). A malformed index is one :class:`IndexFormatError`
naming the field, whatever ``check_index`` says; symlinks that leave a local root are refused
when a file is opened (:func:`inside_root`).
"""

from __future__ import annotations

import os
import re
from typing import Any, Optional, Sequence

import numpy as np
from pyarrow import types as pa_types

from s1mmalign.core.layout import SAMPLE_INDEX_SCHEMA, sidecar_rel

HEX64 = re.compile(r"[0-9a-f]{64}")
FORMATS = ("wds", "parquet")
SUFFIX = {"wds": ".tar", "parquet": ".parquet"}
COUNT_FIELDS = ("modalities", "sources", "licenses")
MAX_PATH = 1024  # characters of a shard or sidecar path (a file name: 255 bytes)
MAX_COUNT = 2**53  # no real shard comes near; offsets + sizes below it cannot overflow int64
#: Sidecar columns an index written before them lacks (the loader's where= says so when asked for).
OPTIONAL_COLUMNS = ("width", "height", "multi_panel", "year", "image_offset", "image_size")


class IndexFormatError(ValueError):
    """``index/shards.json`` is malformed or names a path outside the dataset root."""


def is_digest(value: Any) -> bool:
    """A lowercase 64-digit hex sha256 (what may name a file in the cache)."""
    return isinstance(value, str) and HEX64.fullmatch(value) is not None


def check_rel_path(rel: Any) -> Optional[str]:
    """Why ``rel`` is not a safe relative path inside a dataset root (None when it is)."""
    if not isinstance(rel, str) or not rel:
        return f"must be a non-empty string, got {type(rel).__name__} {rel!r:.80}"
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return f"{rel!r:.120} is not valid text (a lone surrogate)"
    if len(rel) > MAX_PATH or any(len(part.encode()) > 255 for part in rel.split("/")):
        return f"{rel[:60]!r}... is longer than a path may be"
    if "\\" in rel or "\x00" in rel or ":" in rel.split("/", 1)[0]:
        return f"{rel!r:.120} has a backslash, NUL or drive/scheme"
    if rel.startswith("/"):
        return f"{rel!r:.120} is absolute"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return f"{rel!r:.120} has an empty, '.' or '..' component"
    return None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_COUNT


def _rebuild(where: str, what: str) -> IndexFormatError:
    return IndexFormatError(
        f"{where}: {what}. The index cannot be trusted: "
        f"rebuild it (s1mmalign reindex DATASET) or use a consistent copy of the dataset")


def validate_index(index: Any, where: str) -> dict:
    """``index`` itself when well formed; else :class:`IndexFormatError` naming the first bad field."""

    def bad(field: str, why: str) -> IndexFormatError:
        return _rebuild(where, f"index/shards.json is malformed: {field} {why}")

    if not isinstance(index, dict) or not isinstance(index.get("shards"), list):
        raise bad("the top level", "must be an object with a 'shards' list")
    seen: set[str] = set()
    for i, s in enumerate(index["shards"]):
        name = f"shards[{i}]"
        if not isinstance(s, dict):
            raise bad(name, f"must be an object, got {type(s).__name__}")
        why = check_rel_path(s.get("path"))
        if why:
            raise bad(f"{name}.path", why)
        if s["path"] in seen:
            raise bad(f"{name}.path", f"{s['path']!r:.120} is listed twice")
        seen.add(s["path"])
        if s.get("format") not in FORMATS:
            raise bad(f"{name}.format", f"must be one of {FORMATS}, got {s.get('format')!r:.40}")
        if not s["path"].endswith(SUFFIX[s["format"]]):
            raise bad(f"{name}.path", f"{s['path']!r:.120} does not end in {SUFFIX[s['format']]}")
        if not isinstance(s.get("discipline"), str):
            raise bad(f"{name}.discipline", "must be a string")
        for field in ("num_samples", "bytes"):
            if not _int(s.get(field)):
                raise bad(f"{name}.{field}", f"must be a non-negative integer below 2**53, got {s.get(field)!r:.40}")
        if s.get("sample_index") is not None:
            why = check_rel_path(s["sample_index"])
            if why:
                raise bad(f"{name}.sample_index", why)
            if s["sample_index"] != sidecar_rel(s["path"]):
                raise bad(f"{name}.sample_index", f"{s['sample_index']!r:.120} is not the shard's sidecar {sidecar_rel(s['path'])!r:.120}")
        if s.get("sha256") is not None and not is_digest(s["sha256"]):
            raise bad(f"{name}.sha256", f"must be 64 lowercase hex digits, got {s['sha256']!r:.80}")
        for field in COUNT_FIELDS:
            counts = s.get(field)
            if counts is not None and not (isinstance(counts, dict)
                                           and all(isinstance(k, str) and _int(v) for k, v in counts.items())):
                raise bad(f"{name}.{field}", "must map names to non-negative integers")
        groups = s.get("row_groups")
        if groups is not None and not (isinstance(groups, list)
                                       and all(isinstance(g, dict) and _int(g.get("num_rows")) for g in groups)):
            raise bad(f"{name}.row_groups", "must be a list of {\"num_rows\": n}")
    return index


#: Arrow types read from their buffers (:func:`column_values`), as numpy dtypes.
NUMPY_TYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "float": np.float32,
               "double": np.float64}


def _bits(buf, offset: int, n: int) -> np.ndarray:
    """``n`` bits of an Arrow bitmap from bit ``offset``, as booleans."""
    return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")[offset:offset + n].astype(bool)


def column_chunks(column) -> list:
    """The non-empty chunks of a sidecar column, in order."""
    return [c for c in column.chunks if len(c)]


def column_valid(column) -> np.ndarray:
    """Where a sidecar column holds a value (not null)."""
    parts = [_bits(c.buffers()[0], c.offset, len(c)) if c.null_count and c.buffers()[0] is not None
             else np.ones(len(c), dtype=bool) for c in column_chunks(column)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def column_values(column) -> np.ndarray:
    """A numeric or boolean sidecar column as numpy (a null: any value, see :func:`column_valid`),
    read from its buffers: pyarrow's own ``to_numpy`` imports pandas on first use (~0.12 s of CPU in
    every process that filters, or DataLoader worker that enters a tar shard mid-way)."""
    t = column.type
    if not pa_types.is_boolean(t) and str(t) not in NUMPY_TYPES:
        raise ValueError(f"a sidecar column of type {t} has no numpy values")
    parts = []
    for c in column_chunks(column):
        if pa_types.is_boolean(t):
            parts.append(_bits(c.buffers()[1], c.offset, len(c)))
        else:
            dtype = np.dtype(NUMPY_TYPES[str(t)])
            parts.append(np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c), offset=dtype.itemsize * c.offset))
    if parts:
        return np.concatenate(parts)
    return np.zeros(0, dtype=bool if pa_types.is_boolean(t) else NUMPY_TYPES[str(t)])


def int64_values(column) -> np.ndarray:
    """A non-null int64 sidecar column (``offset``, ``size``) as numpy (:func:`column_values`)."""
    if column.null_count:
        raise ValueError("a null in an int64 sidecar column")
    return column_values(column)


def check_sample_index(table, entry: dict, where: str, columns: Optional[Sequence[str]] = None):
    """``table``, the sidecar of index entry ``entry`` read for ``columns`` (None: all), when it
    fits the entry; else :class:`IndexFormatError` naming the sidecar."""

    def bad(why: str) -> IndexFormatError:
        return _rebuild(where, f"the sample index {entry.get('sample_index')!r:.120} of shard {entry['path']!r:.120} {why}")

    names = table.column_names
    if len(set(names)) != len(names):
        raise bad("repeats a column")
    for field in table.schema:
        want = SAMPLE_INDEX_SCHEMA.field(field.name).type if field.name in SAMPLE_INDEX_SCHEMA.names else None
        got = field.type.value_type if pa_types.is_dictionary(field.type) else field.type  # strings: read as dictionaries
        if want is not None and got != want:
            raise bad(f"has column {field.name!r} of type {field.type}, not {want}")
    missing = [n for n in (columns or SAMPLE_INDEX_SCHEMA.names) if n not in names and n not in OPTIONAL_COLUMNS]
    if missing:
        raise bad(f"lacks the columns {missing}")
    if table.num_rows != entry["num_samples"]:
        raise bad(f"has {table.num_rows} rows for the {entry['num_samples']} samples the index gives the shard")
    ranges, what, min_size = None, "sample", 1
    if entry.get("format") == "wds" and "offset" in names and "size" in names and table.num_rows:
        if table["offset"].null_count or table["size"].null_count:
            raise bad("has null sample offsets or sizes")
        ranges = int64_values(table["offset"]), int64_values(table["size"])
    elif entry.get("format") == "parquet":
        ranges, what, min_size = image_ranges(table), "image", 0  # an empty image is a rejected sample, not a bad index
    if ranges is not None:
        off, size = ranges
        if off.min() < 0 or size.min() < min_size or off.max() >= MAX_COUNT or size.max() >= MAX_COUNT:
            raise bad(f"has negative or out-of-range {what} offsets or sizes")
        end = off + size
        if np.any(off[1:] < end[:-1]) or end[-1] > entry["bytes"]:
            raise bad(f"has {what} ranges out of order, overlapping or past the shard's {entry['bytes']} bytes")
    return table


def image_ranges(table) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(offsets, sizes) of every row's image bytes in a Parquet shard, from its checked sidecar;
    None when the sidecar has none (written before them, or pages that cannot be addressed)."""
    names = table.column_names
    if "image_offset" not in names or "image_size" not in names or not table.num_rows:
        return None
    if table["image_offset"].null_count or table["image_size"].null_count:
        return None
    return int64_values(table["image_offset"]), int64_values(table["image_size"])


def inside_root(root: str, path: str) -> bool:
    """Whether local ``path`` resolves (symlinks followed) to a place under local ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)
