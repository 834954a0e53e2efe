"""Duplicate figures: exact (sha256 of the image bytes) and near (perceptual hashes), first kept.

``Deduplicator`` is a stage holding state across batches: the first occurrence of an image is
kept, every later one becomes a reject naming the key it duplicates::

    dedup = Deduplicator()
    for batch in batches:
        batch = dedup(batch, rejects)   # reasons: exact_duplicate, near_duplicate

Each record becomes a :class:`Signature` (:func:`signature`): sha256, a 63-bit DCT pHash (32x32
grey, 8x8 lowest frequencies without DC, median threshold), a finer 255-bit pHash (64x64, 16x16
frequencies), the image size, the paper and a sketch of the caption's words. The near rule
(:class:`NearRule`, used by this stage and by the partitioned dedup alike):

- the 63-bit distance is within ``max_distance`` and the fine distance within ``max_fine_distance``;
- and, when the two records come from **different papers** (both ``paper_id`` known and unequal),
  a second signal: the same width x height with the fine distance within
  ``max_fine_distance_same_size`` (a re-encoding keeps the size and moves the fine hash by <= 10
  bits; two plots of one matplotlib style, different data, are 12-40 apart), or captions whose
  word sets overlap by at least ``min_caption_similarity`` (Jaccard; a resized copy of a paper's
  figure in another version of it keeps its caption).

Candidates are found by multi-index hashing (:class:`NearIndex`: 4 bands of 16 bits, each probed
at its value and its 16 one-bit neighbours: any hash within 7 bits differs by at most one bit in
some band, so none is missed; a lookup touches about ``68 * n / 65536`` of ``n`` stored hashes).
Among kept images passing the rule, the one at the smallest 63-bit distance (then the earliest) is
named.

Guard against degenerate hashes: a near-blank image (an empty plot, a white page with a thin
line) has almost no low-frequency energy, so its hash bits are set by noise. Images whose 32x32
grey standard deviation is under ``min_std`` or whose "ink" (pixels differing from the border
colour) covers less than ``min_ink`` of the area are checked for exact duplicates only
(``stats["degenerate"]``).

State is bounded: at most ``max_entries`` images are remembered for each kind (oldest forgotten
first, FIFO; ``benchmarks/bench_dedup.py`` prints the bytes per image). An image whose first
occurrence was forgotten is kept again. For the whole corpus without a window, the Ray runner
partitions the work (``builder/stages/dedup_partitioned.py``: same decisions).
"""

from __future__ import annotations

import collections
import hashlib
import re
import zlib
from array import array
from dataclasses import dataclass
from typing import Optional

import numpy as np

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.core.images import ImageRejected, decode_image

STAGE = "dedup"
_BANDS, _BAND_BITS = 4, 16  # 63-bit hash -> 4 bands of 16 bits
_PROBES = [0] + [1 << b for b in range(_BAND_BITS)]  # each band value and its 16 one-bit neighbours
CAPTION_SKETCH = 32  # bottom-k sketch of a caption's word hashes: exact Jaccard up to 32 distinct words
_WORD = re.compile(r"[^\W\d_]{3,}|\d+[^\W\d_]+\w*")
_STOP = frozenset("fig figure figures the and for with from this that are was were its".split())


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


def fine_distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def caption_sketch(caption: object) -> bytes:
    """The ``CAPTION_SKETCH`` smallest crc32 hashes of the caption's distinct words (lower case,
    3+ letters, a few stop words and figure labels left out), as uint32 bytes."""
    words = {w for w in _WORD.findall(caption.lower())} - _STOP if isinstance(caption, str) else set()
    return array("I", sorted(zlib.crc32(w.encode()) for w in words)[:CAPTION_SKETCH]).tobytes()


def caption_similarity(a: bytes, b: bytes) -> float:
    """Jaccard similarity of two caption word sets estimated from their bottom-k sketches
    (exact when both captions have at most ``CAPTION_SKETCH`` distinct words); 0 when one is empty."""
    if not a or not b:
        return 0.0
    sa, sb = set(array("I", a)), set(array("I", b))
    union = sorted(sa | sb)[:CAPTION_SKETCH]
    return sum(x in sa and x in sb for x in union) / len(union)


@dataclass(frozen=True)
class Signature:
    """What dedup knows of one record; ``fine`` is None for a degenerate (near-blank) image or
    when near duplicates are off (exact only)."""
    key: str
    sha: bytes
    h: int = 0
    fine: Optional[bytes] = None
    size: tuple[int, int] = (0, 0)
    paper: int = 0  # 64-bit hash of paper_id, 0 when unknown
    words: bytes = b""


@dataclass(frozen=True)
class NearRule:
    """When two hashed images are near duplicates (see the module docstring)."""
    max_distance: int = 5
    max_fine_distance: int = 40
    max_fine_distance_same_size: int = 10
    min_caption_similarity: float = 0.5

    def __post_init__(self):
        if not 0 <= self.max_distance <= 2 * _BANDS - 1:
            raise ValueError(f"max_distance must be 0..{2 * _BANDS - 1} (multi-index lookup), got {self.max_distance}")

    def matches(self, a: Signature, b: Signature) -> bool:
        """The fine check and, across papers, the second signal (the 63-bit distance is checked by the lookup)."""
        f = fine_distance(a.fine, b.fine)
        if f > self.max_fine_distance:
            return False
        if not a.paper or not b.paper or a.paper == b.paper:
            return True
        if a.size == b.size and f <= self.max_fine_distance_same_size:
            return True
        return caption_similarity(a.words, b.words) >= self.min_caption_similarity


class NearIndex:
    """63-bit hashes in insertion order, found by multi-index lookup within a distance."""

    def __init__(self) -> None:
        self._entries: "collections.OrderedDict[int, Signature]" = collections.OrderedDict()
        self._bands: list[dict[int, list[int]]] = [dict() for _ in range(_BANDS)]
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _band_values(h: int) -> list[int]:
        return [(h >> (_BAND_BITS * i)) & 0xFFFF for i in range(_BANDS)]

    def add(self, sig: Signature) -> None:
        eid = self._next_id
        self._next_id += 1
        self._entries[eid] = sig
        for band, value in zip(self._bands, self._band_values(sig.h)):
            band.setdefault(value, []).append(eid)

    def forget_oldest(self) -> None:
        old, sig = self._entries.popitem(last=False)
        for band, value in zip(self._bands, self._band_values(sig.h)):
            ids = band.get(value)
            if ids is not None:
                ids.remove(old)  # FIFO: the oldest id is first in its list
                if not ids:
                    del band[value]

    def within(self, h: int, max_distance: int) -> list[tuple[int, int, Signature]]:
        """(63-bit distance, insertion id, signature) of every stored hash within ``max_distance``."""
        seen: set[int] = set()
        entries, out = self._entries, []
        for band, value in zip(self._bands, self._band_values(h)):
            get = band.get
            for flip in _PROBES:
                ids = get(value ^ flip)
                if not ids:
                    continue
                for eid in ids:
                    if eid in seen:
                        continue
                    seen.add(eid)
                    sig = entries[eid]
                    d = (h ^ sig.h).bit_count()
                    if d <= max_distance:
                        out.append((d, eid, sig))
        return out


def _paper_hash(paper_id: object) -> int:
    if not isinstance(paper_id, str) or not paper_id:
        return 0
    return int.from_bytes(hashlib.blake2b(paper_id.encode(), digest_size=8).digest(), "big") or 1


def _image_bytes(rec: dict) -> Optional[bytes]:
    img = rec.get("image")
    data = img.get("bytes") if isinstance(img, dict) else img
    return bytes(data) if isinstance(data, (bytes, bytearray)) and data else None


def image_digest(rec: dict, data: bytes) -> bytes:
    """sha256 of the image bytes (the record's ``image_sha256`` when it has a valid one)."""
    sha = rec.get("image_sha256")
    if isinstance(sha, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha):
        return bytes.fromhex(sha)
    return hashlib.sha256(data).digest()


def signature(rec: dict, *, near: bool = True, min_std: float = 4.0, min_ink: float = 0.02,
              digest: Optional[bytes] = None) -> tuple[Optional[Signature], Optional[tuple[str, str]]]:
    """(signature, None) for a record, or (None, (reason, detail)) when it has no usable image."""
    data = _image_bytes(rec)
    if data is None:
        return None, ("no_image", "no image bytes")
    key = rec.get("key") or ""
    digest = digest or image_digest(rec, data)
    if not near:
        return Signature(key, digest), None
    try:
        im = decode_image(data)
        h, fine, (std, ink) = image_hashes(im)
    except ImageRejected as e:
        return None, (e.reason, e.detail)
    if std < min_std or ink < min_ink:
        fine = None
    return Signature(key, digest, h, fine, im.size, _paper_hash(rec.get("paper_id")),
                     caption_sketch(rec.get("caption"))), None


class Deduplicator:
    """Exact and near duplicate removal across batches (see the module docstring).

    ``partitions``: hash partitions when the Ray runner dedups the corpus partitioned (ignored here).
    """

    def __init__(self, *, near: bool = True, max_distance: int = 5, max_fine_distance: int = 40,
                 max_fine_distance_same_size: int = 10, min_caption_similarity: float = 0.5,
                 min_std: float = 4.0, min_ink: float = 0.02, max_entries: int = 1_000_000, partitions: int = 64):
        self.rule = NearRule(max_distance, max_fine_distance, max_fine_distance_same_size, min_caption_similarity)
        self.near, self.min_std, self.min_ink, self.max_entries = near, min_std, min_ink, max_entries
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be a whole number >= 1, got {partitions!r}")
        self.partitions = partitions
        self._exact: "collections.OrderedDict[bytes, str]" = collections.OrderedDict()
        self._index = NearIndex()
        self.stats = collections.Counter()

    def __len__(self) -> int:
        return len(self._exact)

    def signature(self, rec: dict, digest: Optional[bytes] = None):
        return signature(rec, near=self.near, min_std=self.min_std, min_ink=self.min_ink, digest=digest)

    def _remember_exact(self, digest: bytes, key: str) -> None:
        self._exact[digest] = key
        if len(self._exact) > self.max_entries:
            self._exact.popitem(last=False)
            self.stats["forgotten_exact"] += 1

    def _remember_near(self, sig: Signature) -> None:
        self._index.add(sig)
        if len(self._index) > self.max_entries:
            self._index.forget_oldest()
            self.stats["forgotten_near"] += 1

    def find_near(self, sig: Signature) -> Optional[str]:
        """The key of the kept image ``sig`` near-duplicates (smallest distance, then earliest), or None."""
        best = min(((d, eid, s.key) for d, eid, s in self._index.within(sig.h, self.rule.max_distance)
                    if self.rule.matches(sig, s)), default=None)
        return best[2] if best else None

    def check(self, sig: Signature) -> Optional[tuple[str, str]]:
        """Decide one signed record: (reason, detail) of a duplicate, or None (kept and remembered)."""
        kept = self._exact.get(sig.sha)
        if kept is not None:
            self.stats["exact_duplicate"] += 1
            return "exact_duplicate", f"same bytes as {kept}"
        if sig.fine is None and self.near:
            self.stats["degenerate"] += 1
        elif self.near:
            kept = self.find_near(sig)
            if kept is not None:
                self.stats["near_duplicate"] += 1
                return "near_duplicate", f"looks like {kept}"
            self._remember_near(sig)
        self._remember_exact(sig.sha, sig.key)
        self.stats["kept"] += 1
        return None

    def __call__(self, batch: list[dict], rejects: Rejects) -> list[dict]:
        out = []
        for rec in batch:
            key, src = rec.get("key"), rec.get("source", "")
            data = _image_bytes(rec)
            digest = image_digest(rec, data) if data else None
            if digest in self._exact:  # a known image: no decode
                why = self.check(Signature(key or "", digest))
            else:
                sig, why = self.signature(rec, digest)
                why = why or self.check(sig)
            if why is None:
                out.append(rec)
            else:
                rejects.add(key, "image", why[0], why[1], stage=STAGE, source=src)
        return out
