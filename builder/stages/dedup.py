"""Duplicate figures: exact (sha256 of the image bytes) and near (perceptual hashes).

``Deduplicator`` is a stage holding state across batches: the first occurrence of an image is
kept, every later one becomes a reject naming the key it duplicates::

    dedup = Deduplicator()
    for batch in batches:
        batch = dedup(batch, rejects)   # reasons: exact_duplicate, near_duplicate

Near duplicates (the same figure re-encoded, resized, slightly cropped) are found with a
63-bit DCT perceptual hash (pHash: 32x32 grey, 8x8 lowest frequencies without DC, median
threshold), looked up by multi-index hashing (4 bands of 16 bits, each probed at its value and its 16
one-bit neighbours: any hash within 7 bits differs by at most one bit in some band, so none is
missed; a lookup touches about ``68 * n / 65536`` of the ``n`` stored hashes), then confirmed with a finer 255-bit pHash (64x64, 16x16
frequencies). Both distances must be within their limits.

Guard against degenerate hashes: a near-blank image (an empty or almost empty plot, a white
page with a thin line) has almost no low-frequency energy, so its hash bits are set by noise and
collide with other near-blank images. Images whose 32x32 grey standard deviation is under
``min_std`` or whose "ink" (pixels differing from the border colour) covers less than
``min_ink`` of the area are checked for exact duplicates only (counted as ``degenerate``).

State is bounded: at most ``max_entries`` images are remembered for each kind (oldest forgotten
first, FIFO), about 700 bytes per image for both kinds together in CPython (sha256 digest, two
hashes, key, index entries; measured by ``benchmarks/bench_dedup.py``): the default 1,000,000
is about 0.7 GB. An image whose first
occurrence was forgotten is kept again. For a corpus larger than that, run dedup per shard of
a hash-partitioned stream, or raise ``max_entries``.
"""

from __future__ import annotations

import collections
import hashlib
from typing import Optional

import numpy as np

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.core.images import ImageRejected, decode_image

STAGE = "dedup"
_BANDS, _BAND_BITS = 4, 16  # 63-bit hash -> 4 bands of 16 bits
_PROBES = [0] + [1 << b for b in range(_BAND_BITS)]  # each band value and its 16 one-bit neighbours


def _dct_matrix(n: int) -> np.ndarray:
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_D32, _D64 = _dct_matrix(32), _dct_matrix(64)


def _phash(grey: np.ndarray, dct: np.ndarray, keep: int) -> np.ndarray:
    coeffs = (dct @ grey @ dct.T)[:keep, :keep].ravel()[1:]
    return coeffs > np.median(coeffs)


def image_hashes(img) -> tuple[int, bytes, tuple[float, float]]:
    """(63-bit pHash as int, 255-bit fine pHash packed, (32x32 grey std, ink fraction)) of a PIL image."""
    from PIL import Image

    g = img.convert("L")
    a32 = np.asarray(g.resize((32, 32), Image.LANCZOS), dtype=np.float64)
    a64 = np.asarray(g.resize((64, 64), Image.LANCZOS), dtype=np.float64)
    h64 = int.from_bytes(np.packbits(_phash(a32, _D32, 8)).tobytes(), "big") >> 1  # 63 bits
    fine = np.packbits(_phash(a64, _D64, 16)).tobytes()
    small = np.asarray(g.resize((128, 128)), dtype=np.int16)
    bg = np.median(np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]]))
    ink = float((np.abs(small - bg) > 32).mean())
    return h64, fine, (a32.std(), ink)


def _fine_distance(a: bytes, b: bytes) -> int:
    return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())


class Deduplicator:
    """Exact and near duplicate removal across batches (see the module docstring)."""

    def __init__(
        self,
        *,
        near: bool = True,
        max_distance: int = 5,
        max_fine_distance: int = 40,
        min_std: float = 4.0,
        min_ink: float = 0.02,
        max_entries: int = 1_000_000,
    ):
        if not 0 <= max_distance <= 2 * _BANDS - 1:
            raise ValueError(f"max_distance must be 0..{2 * _BANDS - 1} (multi-index lookup), got {max_distance}")
        self.near, self.max_distance, self.max_fine_distance = near, max_distance, max_fine_distance
        self.min_std, self.min_ink, self.max_entries = min_std, min_ink, max_entries
        self._exact: "collections.OrderedDict[bytes, str]" = collections.OrderedDict()
        self._entries: "collections.OrderedDict[int, tuple[int, bytes, str]]" = collections.OrderedDict()
        self._bands: list[dict[int, list[int]]] = [dict() for _ in range(_BANDS)]
        self._next_id = 0
        self.stats = collections.Counter()

    def __len__(self) -> int:
        return len(self._exact)

    # -- exact ----------------------------------------------------------------------------------

    def _sha(self, rec: dict, data: bytes) -> bytes:
        sha = rec.get("image_sha256")
        if isinstance(sha, str) and len(sha) == 64:
            try:
                return bytes.fromhex(sha)
            except ValueError:
                pass
        return hashlib.sha256(data).digest()

    def _remember_exact(self, digest: bytes, key: str) -> None:
        self._exact[digest] = key
        if len(self._exact) > self.max_entries:
            self._exact.popitem(last=False)
            self.stats["forgotten_exact"] += 1

    # -- near -----------------------------------------------------------------------------------

    @staticmethod
    def _band_values(h: int) -> list[int]:
        return [(h >> (_BAND_BITS * i)) & 0xFFFF for i in range(_BANDS)]

    def _find_near(self, h: int, fine: bytes) -> Optional[str]:
        seen: set[int] = set()
        best: Optional[tuple[int, int, str]] = None
        for band, value in zip(self._bands, self._band_values(h)):
            for eid in (e for flip in _PROBES for e in band.get(value ^ flip, ())):
                if eid in seen:
                    continue
                seen.add(eid)
                h2, fine2, key2 = self._entries[eid]
                d = (h ^ h2).bit_count()
                if d <= self.max_distance and _fine_distance(fine, fine2) <= self.max_fine_distance:
                    if best is None or (d, eid) < best[:2]:
                        best = (d, eid, key2)
        return best[2] if best else None

    def _remember_near(self, h: int, fine: bytes, key: str) -> None:
        eid = self._next_id
        self._next_id += 1
        self._entries[eid] = (h, fine, key)
        for band, value in zip(self._bands, self._band_values(h)):
            band.setdefault(value, []).append(eid)
        if len(self._entries) > self.max_entries:
            old, (h_old, _, _) = self._entries.popitem(last=False)
            for band, value in zip(self._bands, self._band_values(h_old)):
                ids = band.get(value)
                if ids is not None:
                    ids.remove(old)  # FIFO: the oldest id is first in its list
                    if not ids:
                        del band[value]
            self.stats["forgotten_near"] += 1

    # -- the stage ------------------------------------------------------------------------------

    def __call__(self, batch: list[dict], rejects: Rejects) -> list[dict]:
        out = []
        for rec in batch:
            key = rec.get("key")
            src = rec.get("source", "")
            img = rec.get("image")
            data = img.get("bytes") if isinstance(img, dict) else img
            if not isinstance(data, (bytes, bytearray)) or not data:
                rejects.add(key, "image", "no_image", "no image bytes", stage=STAGE, source=src)
                continue
            digest = self._sha(rec, bytes(data))
            kept = self._exact.get(digest)
            if kept is not None:
                rejects.add(key, "image", "exact_duplicate", f"same bytes as {kept}", stage=STAGE, source=src)
                self.stats["exact_duplicate"] += 1
                continue
            if self.near:
                try:
                    h, fine, (std, ink) = image_hashes(decode_image(bytes(data)))
                except ImageRejected as e:
                    rejects.add(key, "image", e.reason, e.detail, stage=STAGE, source=src)
                    continue
                if std < self.min_std or ink < self.min_ink:
                    self.stats["degenerate"] += 1
                else:
                    kept = self._find_near(h, fine)
                    if kept is not None:
                        rejects.add(key, "image", "near_duplicate", f"looks like {kept}", stage=STAGE, source=src)
                        self.stats["near_duplicate"] += 1
                        continue
                    self._remember_near(h, fine, key)
            self._remember_exact(digest, key)
            self.stats["kept"] += 1
            out.append(rec)
        return out
