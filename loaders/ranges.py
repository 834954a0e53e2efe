"""Byte ranges of a shard to read: the selected samples' ranges grouped into runs (one read, or
one remote request, per run), and the bytes at given ranges read that way."""

from __future__ import annotations

import numpy as np


def runs(offsets: np.ndarray, sizes: np.ndarray, gap: int) -> list[tuple[int, int, int]]:
    """Group consecutive selected samples into contiguous reads: (first index, count, byte offset)."""
    out = []
    i, n = 0, len(offsets)
    while i < n:
        j = i + 1
        end = offsets[i] + sizes[i]
        while j < n and offsets[j] >= end and offsets[j] - end <= gap:
            end = offsets[j] + sizes[j]
            j += 1
        out.append((i, j - i, int(offsets[i])))
        i = j
    return out


def read_ranges(f, offsets: np.ndarray, sizes: np.ndarray, gap: int) -> list[bytes]:
    """The bytes at ``offsets``/``sizes`` of ``f``, neighbours within ``gap`` bytes in one read."""
    out: list[bytes] = []
    for first, count, start in runs(offsets, sizes, gap):
        offs, lens = offsets[first : first + count].tolist(), sizes[first : first + count].tolist()
        length = offs[-1] + lens[-1] - start
        f.seek(start)
        data = f.read(length)
        if len(data) < length:
            raise EOFError("the shard ended before an image its index locates")
        out += [data] if count == 1 else [bytes(memoryview(data)[o - start : o - start + n]) for o, n in zip(offs, lens)]
    return out
