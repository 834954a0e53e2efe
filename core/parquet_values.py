"""Byte ranges of the values of a plain, uncompressed Parquet BYTE_ARRAY column.

The loader reads one image of a Parquet row group with one ranged read (``file[offset:offset+size]``)
instead of decoding the whole column chunk with pyarrow; the writer records these ranges in each
shard's sidecar index. Only PLAIN data pages of an UNCOMPRESSED, non-repeated column with no null
values can be addressed that way; anything else, or anything malformed, gives None and the caller
reads with pyarrow. Page headers are Thrift compact-protocol structs, read by the small reader below.
"""

from __future__ import annotations

import mmap
import os
import struct
from typing import Optional

import numpy as np
import pyarrow.parquet as pq

__all__ = ["value_ranges"]

_DATA_PAGE, _DATA_PAGE_V2 = 0, 3  # PageHeader.type
_PLAIN, _RLE = 0, 3  # Encoding


class _Malformed(ValueError):
    pass


class _Compact:
    """A Thrift compact-protocol reader of ``buf[pos:end]``; it keeps integers, bools, lists and
    structs (as {field id: value}) and skips binaries, doubles and maps."""

    def __init__(self, buf, pos: int, end: int):
        self.buf, self.pos, self.end = buf, pos, end

    def skip(self, n: int) -> int:
        if n < 0 or self.pos + n > self.end:
            raise _Malformed("truncated")
        self.pos += n
        return self.pos - n

    def byte(self) -> int:
        return self.buf[self.skip(1)]

    def varint(self) -> int:
        out = shift = 0
        while shift < 64:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if b < 0x80:
                return out
            shift += 7
        raise _Malformed("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, ctype: int, depth: int = 0, element: bool = False):
        if ctype in (1, 2):  # bool: the type nibble of a field header, a byte of its own in a collection
            return self.byte() == 1 if element else ctype == 1
        if ctype == 3:
            return self.byte()
        if ctype in (4, 5, 6):
            return self.zigzag()
        if ctype in (7, 8, 13):  # double, binary, uuid
            self.skip(8 if ctype == 7 else 16 if ctype == 13 else self.varint())
            return None
        if depth > 32:
            raise _Malformed("nested too deep")
        if ctype in (9, 10):  # list, set: size in the high nibble (15: a varint follows), element type low
            head = self.byte()
            n = head >> 4 if head >> 4 != 15 else self.varint()
            return [self.value(head & 15, depth + 1, True) for _ in range(n)]
        if ctype == 11:  # map: varint size, then (if any) one byte of key and value types
            n = self.varint()
            kinds = self.byte() if n else 0
            for _ in range(n):
                self.value(kinds >> 4, depth + 1, True), self.value(kinds & 15, depth + 1, True)
            return None
        if ctype == 12:
            return self.struct(depth + 1)
        raise _Malformed(f"unknown compact type {ctype}")

    def struct(self, depth: int = 0) -> dict:
        fields: dict = {}
        fid = 0
        while head := self.byte():  # 0: stop
            fid = fid + (head >> 4) if head >> 4 else self.zigzag()  # delta id, or the id as a zigzag i16
            fields[fid] = self.value(head & 15, depth)
        return fields


def _check_levels(buf, pos: int, end: int, n: int, max_def: int) -> None:
    """Raise unless the RLE/bit-packed hybrid levels in buf[pos:end] start with n values all max_def."""
    bw = max_def.bit_length()
    r = _Compact(buf, pos, end)
    while n > 0:
        head = r.varint()
        if head & 1:  # bit-packed: (head >> 1) groups of 8 values, bw bytes a group, LSB first
            count, nbytes = (head >> 1) * 8, (head >> 1) * bw
            bits = int.from_bytes(buf[r.skip(nbytes) : r.pos], "little")
            k = min(count, n) * bw
            ok = (bits & ((1 << k) - 1)) == max_def * ((1 << k) - 1) // ((1 << bw) - 1)  # k/bw copies of max_def
        else:  # run: (head >> 1) copies of one value in ceil(bw / 8) bytes
            count = head >> 1
            ok = int.from_bytes(buf[r.skip((bw + 7) // 8) : r.pos], "little") == max_def
        if not ok or count == 0:
            raise _Malformed("a null value")
        n -= count


def _walk(buf, pos: int, end: int, max_def: int, max_header: int, offsets: list, sizes: list) -> int:
    """Append the ranges of the values in the column chunk buf[pos:end]; return how many there were."""
    rows = 0
    while pos < end:
        r = _Compact(buf, pos, min(end, pos + max_header))
        header = r.struct()
        data, size = r.pos, header.get(3)
        if not isinstance(size, int) or size < 0 or data + size > end:
            raise _Malformed("bad page size")
        pos = data + size
        kind, v1, v2 = header.get(1), header.get(5), header.get(8)
        if kind == _DATA_PAGE and isinstance(v1, dict):  # levels: a 4-byte length, then RLE/bit-packed
            n = v1.get(1)
            if v1.get(2) != _PLAIN or (max_def and (v1.get(3) != _RLE or data + 4 > pos)):
                raise _Malformed("not PLAIN, or levels")
            levels = data + 4 if max_def else data
            if max_def:
                data = levels + struct.unpack_from("<I", buf, data)[0]
        elif kind == _DATA_PAGE_V2 and isinstance(v2, dict):  # levels: repetition (none), definition
            n, rep, levels = v2.get(1), v2.get(6), data
            if v2.get(4) != _PLAIN or v2.get(2) != 0 or v2.get(3) != n or rep != 0 or not isinstance(v2.get(5), int):
                raise _Malformed("not PLAIN, nulls, or levels")
            data += v2[5]
        else:  # a dictionary page (dictionary-encoded), an index page, or a type it does not know
            raise _Malformed(f"page type {kind}")
        if not isinstance(n, int) or n < 0 or not levels <= data <= pos:
            raise _Malformed("num_values or levels")
        if max_def:
            _check_levels(buf, levels, data, n, max_def)
        for _ in range(n):  # PLAIN BYTE_ARRAY: a 4-byte little-endian length, then the bytes
            if data + 4 > pos:
                raise _Malformed("value past its page")
            offsets.append(data + 4)
            sizes.append(struct.unpack_from("<I", buf, data)[0])
            data += 4 + sizes[-1]
        if data != pos:
            raise _Malformed("values do not fill their page")
        rows += n
    return rows


def value_ranges(path: str | os.PathLike, column: str = "image.bytes", *, max_header: int = 1 << 16) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(offsets, sizes), int64 arrays with one entry per row of the file, of the bytes of each
    value of a BYTE_ARRAY leaf column stored PLAIN and uncompressed: file[offsets[i]:offsets[i]+sizes[i]]
    is row i's value. None when the column's pages cannot be addressed that way (compressed,
    dictionary-encoded, a null value, a repeated column, a page type or encoding it does not know)."""
    try:
        with open(path, "rb") as f:
            meta = pq.ParquetFile(f).metadata
            schema = meta.schema
            leaf = next((i for i in range(meta.num_columns) if schema.column(i).path == column), None)
            if leaf is None or schema.column(leaf).physical_type != "BYTE_ARRAY" or schema.column(leaf).max_repetition_level != 0:
                return None
            chunks = [meta.row_group(g).column(leaf) for g in range(meta.num_row_groups)]
            if any(c.compression != "UNCOMPRESSED" or c.has_dictionary_page or c.file_path for c in chunks):
                return None
            max_def, offsets, sizes = schema.column(leaf).max_definition_level, [], []
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                for g, c in enumerate(chunks):
                    start = c.dictionary_page_offset or c.data_page_offset
                    end = start + c.total_compressed_size
                    if not 0 <= start <= end <= len(buf):
                        return None
                    if _walk(buf, start, end, max_def, max_header, offsets, sizes) != meta.row_group(g).num_rows:
                        return None
        return np.asarray(offsets, np.int64), np.asarray(sizes, np.int64)
    except Exception:  # malformed input of any kind: the caller reads with pyarrow
        return None
