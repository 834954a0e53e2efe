"""Tar and Parquet readers: selected samples of a shard in, one raw sample dict shape out.

:func:`read_segment` yields exactly ``hi - lo`` items for selected samples ``lo..hi-1`` of a
shard pick: a :class:`Raw` (undecoded) or a :class:`Failed` (why it could not be read). A
truncated or corrupt shard costs only the samples from the damage on; the stream keeps its
promised sample count whatever fails. :func:`decode` turns a :class:`Raw` into the sample
dict (metadata fields of the contract + ``image`` as RGB PIL).

Safety: member bytes are only ever decoded as an image by PIL (through
``s1mmalign.core.images.decode_image``, with the decompression-bomb limit), as JSON, or as UTF-8
text; any other member (``.pyd``, ``.pth``, ``.pickle`` ...) is ignored, never unpickled.
"""

from __future__ import annotations

import json
import logging
import tarfile
from dataclasses import dataclass
from typing import Iterator, Optional, Union
from zlib import adler32

import numpy as np

from s1mmalign.core import contract
from s1mmalign.core.images import DEFAULT_MAX_PIXELS, ImageRejected, decode_image
from s1mmalign.core.layout import split_member
from s1mmalign.core.prefetch import ReadAhead
from s1mmalign.loaders.ranges import read_ranges, runs
from s1mmalign.loaders.remote import SourceStalled, transient_errors
from s1mmalign.loaders.select import TEXT_FIELDS

ALL_FIELDS = frozenset([*contract.METADATA_FIELDS, *TEXT_FIELDS])
FLOAT32_FIELDS = tuple(n for n, t, _, _ in contract.FIELDS if str(t) == "float")
IMAGE_EXTS = ("png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp", "gif")
COALESCE_GAP = 256 << 10  # remote: one request across gaps up to 256 KiB (latency beats bandwidth)
READ_CHUNK = 4 << 20  # tar runs: one read (remote: one request) per 4 MiB, or up to the run's end
PARQUET_LOCAL_GAP = 4 << 10  # local Parquet images: one read across the 4-byte length prefixes and small page headers
FIRST_CHUNK = 256 << 10  # ... starting at 256 KiB and doubling, so the first samples arrive early
DEFAULT_READ_AHEAD = 32 << 20  # bytes of raw samples a stream may hold ahead of its consumer
ITEM_OVERHEAD = 1024  # bytes counted per item besides its image (metadata, captions)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Raw:
    """An undecoded sample. Tar keeps its ``.json`` and ``.txt`` members as bytes until it is decoded
    (:func:`metadata`): a sample waiting in a buffer is one object for the garbage collector, not a
    dict of lists, so a long-lived shuffle buffer does not set off full collections."""

    key: str
    meta: Optional[dict]  # contract metadata fields (Parquet: the row; tar: None until decoded)
    image: Optional[bytes]
    shard: str
    json: Optional[bytes] = None  # tar: the .json member
    txt: Optional[bytes] = None  # tar: the .txt member (the caption trained on)


@dataclass
class Failed:
    key: Optional[str]
    reason: str
    detail: str
    shard: str


Item = Union[Raw, Failed]


class SampleError(ValueError):
    def __init__(self, key, reason: str, detail: str = ""):
        self.key, self.reason, self.detail = key, reason, detail
        super().__init__(f"sample {key!r}: {reason}: {detail}")


class _Pieces:
    """Bytes of a file from its current position, at most ``length`` of them (None: unbounded).

    With ``chunk``, the file is read in pieces of up to ``chunk`` bytes (never past the window;
    the first ``FIRST_CHUNK``, then doubling), whatever sizes the parser takes: over a network one
    request per piece, and nothing fetched beyond the samples wanted; without, exactly what is taken.
    What is taken is sliced from the piece: only a member that straddles two pieces is joined.
    """

    def __init__(self, f, length: Optional[int], chunk: Optional[int] = None):
        self.f, self.left, self.chunk = f, length, chunk
        self.piece = min(FIRST_CHUNK, chunk) if chunk else None
        self.buf, self.at = b"", 0

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer only where the window or the file ends)."""
        at, end = self.at, self.at + n
        if end <= len(self.buf):
            self.at = end
            return self.buf[at:end]
        tail = self.buf[at:]
        self.buf = self._read(n - len(tail))
        self.at = min(n - len(tail), len(self.buf))
        return tail + self.buf[: self.at]

    def _read(self, need: int) -> bytes:
        parts, got = [], 0
        while got < need:
            n = self.piece or need - got
            if self.left is not None:
                n = min(n, self.left)
                if n <= 0:
                    break
            data = self.f.read(n)
            if not data:
                break
            if self.left is not None:
                self.left -= len(data)
            if self.piece:
                self.piece = min(2 * self.piece, self.chunk)
            parts.append(data)
            got += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)


ZERO_BLOCK = bytes(512)
FILE_TYPES = (b"0", b"\0", b"7")


def _checksum_ok(block: bytes, stored: int) -> bool:
    """Whether ``stored`` is the block's tar checksum (its bytes summed, the checksum field as spaces).
    Adler-32's low half is 1 + that sum modulo 65,521: one C call instead of a Python ``sum`` over 512
    bytes (~6x); historic signed-byte checksums are tried only where that fails."""
    unsigned = stored - 256 + sum(block[148:156])  # the sum the whole block must have
    if (adler32(block) & 0xFFFF) == (1 + unsigned) % 65521:
        return True
    return stored == 256 + sum(b - 256 if b > 127 else b for b in block[:148] + block[156:])


def _header(block: bytes) -> Optional[tuple[str, int, bytes]]:
    """(name, size, type) of a tar header block; None when its checksum is wrong (not a header)."""
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        return None
    if not _checksum_ok(block, stored):
        return None
    field = block[124:136]
    if field[0] & 0x80:  # base-256 (GNU): sizes over 8 GiB
        size = int.from_bytes(field[1:], "big")
    else:
        try:
            size = int(field.split(b"\0", 1)[0].strip() or b"0", 8)
        except ValueError:
            return None
    name = block[:100].split(b"\0", 1)[0]
    if block[257:265] == b"ustar\x0000" and block[345]:  # POSIX ustar: a prefix of long paths
        name = block[345:500].split(b"\0", 1)[0] + b"/" + name
    return name.decode("utf-8", "surrogateescape"), size, block[156:157]


def _pax_path(data: bytes) -> Optional[str]:
    """The ``path`` record of a pax extended header (``"<len> path=<value>\\n"`` records)."""
    at = 0
    while at < len(data):
        length = int(data[at:data.index(b" ", at)])
        record = data[data.index(b" ", at) + 1: at + length - 1]
        name, _, value = record.partition(b"=")
        if name == b"path":
            return value.decode("utf-8", "surrogateescape")
        at += length
    return None


def _tar_members(f, length: Optional[int] = None, chunk: Optional[int] = None) -> Iterator[tuple[int, str, bytes]]:
    """(header offset, name, bytes) of the regular files of a tar stream, read front to back (``length``,
    ``chunk``: see :class:`_Pieces`).

    What ``tarfile``'s stream mode does for these shards, without building a ``TarInfo`` per member:
    ustar, GNU long names and pax ``path`` records; the archive ends at a zero or invalid header
    (the first one invalid: ``ReadError``) or at the end of the window; a member cut short raises
    ``ReadError`` ("unexpected end of data")."""
    src = _Pieces(f, length, chunk)
    at, long_name, start = 0, None, None
    while True:
        block = src.take(512)
        if len(block) < 512 or block == ZERO_BLOCK:
            if at == 0 and len(block) and block != ZERO_BLOCK[:len(block)]:
                raise tarfile.ReadError("truncated header")
            return
        parsed = _header(block)
        if parsed is None:
            if at == 0:
                raise tarfile.ReadError("invalid header")
            return
        name, size, kind = parsed
        start = at if start is None else start
        data = src.take(size) if size else b""
        if len(data) < size:
            raise tarfile.ReadError("unexpected end of data")
        pad = -size % 512
        if pad and len(src.take(pad)) < pad:
            pad = 0  # the window ends here: the next header read ends the archive
        at += 512 + size + pad
        if kind in (b"L", b"x"):  # the next header's name, from a GNU long name or a pax record
            long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape") if kind == b"L" else (
                _pax_path(data) or long_name)
            continue
        if kind in FILE_TYPES:
            yield start, long_name or name, data
        long_name, start = None, None


def _tar_samples(f, length: Optional[int], chunk: Optional[int] = None) -> Iterator[tuple[int, str, dict[str, bytes]]]:
    """(offset from ``f``'s position, key, {extension: bytes}) of consecutive samples of a tar stream."""
    key, start, members = None, 0, {}
    for offset, name, data in _tar_members(f, length, chunk):
        k, ext = split_member(name)
        if k != key:
            if key is not None:
                yield start, key, members
            key, start, members = k, offset, {}
        members[ext.lower()] = data
    if key is not None:
        yield start, key, members


def needs_json(columns: Optional[frozenset]) -> bool:
    """Tar: whether the ``.json`` member is parsed; not when only ``key``/``image`` are wanted (the
    text then comes from the ``.txt`` member, the caption trained on: ``caption="recaption"``'s choice)."""
    return columns is None or not columns <= {"key", "image"}


def _raw_from_members(key: str, members: dict[str, bytes], shard: str, parse_json: bool = True) -> Item:
    image = next((members[e] for e in IMAGE_EXTS if e in members), None)
    txt = members.get("txt")
    raw = Raw(key, None, image, shard, members.get("json") if parse_json or txt is None else None, txt)
    if image is None:
        try:  # a bad .json is the reason given first
            metadata(raw)
        except SampleError as e:
            return Failed(key, e.reason, e.detail, shard)
        return Failed(key, "no_image", f"members: {sorted(members)}", shard)
    return raw


def metadata(raw: Raw) -> dict:
    """The metadata fields of ``raw``: Parquet's row; tar's ``.json`` member parsed (kept only when a
    metadata column is wanted, :func:`needs_json`, or there is no ``.txt``), with the ``.txt`` member as
    the caption where it gives none. A ``.json`` that is no JSON object raises :class:`SampleError` ``bad_json``."""
    if raw.meta is not None:
        return raw.meta
    meta = {}
    if raw.json is not None:
        try:
            meta = json.loads(raw.json)
        except ValueError as e:
            raise SampleError(raw.key, "bad_json", str(e)) from None
        if not isinstance(meta, dict):
            raise SampleError(raw.key, "bad_json", "not a JSON object")
    if raw.txt is not None and not meta.get("caption") and not meta.get("recaption"):
        meta["caption"] = raw.txt.decode("utf-8", "replace")
    meta.setdefault("key", raw.key)
    raw.meta = meta
    return meta


def _read_tar(source, pick, lo: int, hi: int, offsets, sizes, parse_json: bool = True) -> Iterator[Item]:
    """Samples lo..hi-1 of a tar pick; ``offsets``/``sizes`` of the selected samples (or None)."""
    if offsets is None:  # whole shard from its first sample: one sequential read
        reads = [(lo, hi - lo, 0)]
        lengths = [None if source.is_local else pick.bytes]
    else:
        sel_off, sel_size = offsets[lo:hi], sizes[lo:hi]
        reads = [(lo + i, c, off) for i, c, off in runs(sel_off, sel_size, 0 if source.is_local else COALESCE_GAP)]
        lengths = [int(sel_off[i - lo + c - 1] + sel_size[i - lo + c - 1] - off) for i, c, off in reads]
    chunk = READ_CHUNK  # local too: one read call per piece, not three per member (header, data, padding)
    with source.open(pick.path, exact=True) as f:
        for (first, count, offset), length in zip(reads, lengths):
            # coalesced runs may span unselected samples: keep only the selected starts
            wanted = None if offsets is None else {int(x) - offset for x in offsets[first : first + count]}
            got = 0
            try:
                f.seek(offset)
                for start, key, members in _tar_samples(f, length, chunk):
                    if wanted is not None and start not in wanted:
                        continue
                    yield _raw_from_members(key, members, pick.path, parse_json)
                    got += 1
                    if got == count:
                        break
            except SourceStalled:
                raise  # the source, not this shard: reported, not counted per sample
            except (tarfile.TarError, EOFError, *transient_errors()) as e:
                reason = "truncated_shard" if isinstance(e, (tarfile.ReadError, EOFError)) else "read_error"
                detail = f"{type(e).__name__}: {e}"
            else:
                reason, detail = "truncated_shard", "the shard ended before the samples the index lists"
            for _ in range(count - got):
                yield Failed(None, reason, detail, pick.path)


def _read_parquet(source, pick, lo: int, hi: int, columns: Optional[frozenset] = None) -> Iterator[Item]:
    positions = pick.positions(lo, hi)
    bounds = np.cumsum([0, *pick.row_groups]) if pick.row_groups else None
    with source.open(pick.path, exact=True) as f:
        try:
            import pyarrow.parquet as pq  # on first use: a tar stream never loads it

            pf = pq.ParquetFile(f)
            if bounds is None or bounds[-1] != pf.metadata.num_rows:
                bounds = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
        except SourceStalled:
            raise
        except Exception as e:  # unreadable footer: the whole shard is lost
            for _ in range(len(positions)):
                yield Failed(None, "unreadable_shard", f"{type(e).__name__}: {e}", pick.path)
            return
        groups = np.searchsorted(bounds, positions, side="right") - 1
        names = None if columns is None else [n for n in pf.schema_arrow.names if n in columns or n in TEXT_FIELDS]
        # a slice whose sidecar locates each image: images by ranged reads (a row group's image column
        # chunk is most of its bytes; a slice wants a few of its rows), the rest by pyarrow
        if by_range := pick.offsets is not None and (names is None or "image" in names):
            names = [n for n in (names or pf.schema_arrow.names) if n != "image"]
            gap = PARQUET_LOCAL_GAP if source.is_local else COALESCE_GAP
        i = 0
        while i < len(positions):
            g = int(groups[i])
            j = i
            while j < len(positions) and groups[j] == g:
                j += 1
            try:
                rows = _rows(pf.read_row_group(g, columns=names, use_threads=False), positions[i:j] - bounds[g])
                if by_range:
                    images = read_ranges(f, pick.offsets[lo + i : lo + j], pick.sizes[lo + i : lo + j], gap)
                    rows = [(row, image) for (row, _), image in zip(rows, images)]
            except SourceStalled:
                raise
            except Exception as e:
                for _ in range(j - i):
                    yield Failed(None, "bad_row_group", f"row group {g}: {type(e).__name__}: {e}", pick.path)
            else:
                for row, image in rows:
                    yield Raw(row["key"], row, image, pick.path)
            i = j


def _rows(table, rows: np.ndarray) -> list[tuple[dict, Optional[bytes]]]:
    """(metadata row, image bytes) of rows ``rows`` of ``table``, in that order: taken as zero-copy slices of
    its runs, converted column by column (``Table.to_pylist`` builds its row dicts in Python, and a dict
    per image struct), then zipped."""
    import pyarrow as pa

    if not len(rows):
        table = table.slice(0, 0)
    elif rows[-1] - rows[0] == len(rows) - 1 and np.all(np.diff(rows) == 1):
        table = table.slice(int(rows[0]), len(rows))
    else:  # each run of rows a zero-copy slice: ``Table.take`` imports pyarrow.compute (~0.1 s of CPU in every
        # process that reads a scattered slice), and its numpy index conversion pandas (~0.3 s)
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
        ends = np.append(starts[1:], len(rows))
        table = pa.concat_tables([table.slice(int(rows[a]), int(b - a)) for a, b in zip(starts, ends)])
    names = [n for n in table.column_names if n != "image"]
    columns = [table.column(n).to_pylist() for n in names]
    images = [None] * table.num_rows
    if "image" in table.column_names:
        image = table.column("image").combine_chunks()
        if pa.types.is_struct(image.type) and image.type.get_field_index("bytes") >= 0:
            images = image.flatten()[image.type.get_field_index("bytes")].to_pylist()  # flatten: a null struct's bytes are null
    if "key" not in names:
        raise ValueError("no key column")
    return [(dict(zip(names, values)), img) for values, img in zip(zip(*columns), images)]


def read_segment(source, pick, lo: int, hi: int, columns: Optional[frozenset] = None) -> Iterator[Item]:
    """Exactly ``hi - lo`` items for selected samples ``lo..hi-1`` of ``pick`` (``columns``: the fields wanted)."""
    if pick.format == "parquet":
        yield from _read_parquet(source, pick, lo, hi, columns)
        return
    if pick.rows is None and lo == 0:
        yield from _read_tar(source, pick, lo, hi, None, None, needs_json(columns))
        return
    offsets, sizes = pick.offsets, pick.sizes
    if offsets is None:  # a whole shard entered mid-way (rank/worker split or resume): ranges from its sidecar
        offsets, sizes = source.tar_ranges({"path": pick.path, "format": "wds", "sample_index": pick.sample_index,
                                            "num_samples": pick.num_samples, "bytes": pick.bytes})
        if pick.rows is not None:  # a pick of some of its samples (an elastic resume's rest)
            offsets, sizes = offsets[pick.rows], sizes[pick.rows]
    yield from _read_tar(source, pick, lo, hi, offsets, sizes, needs_json(columns))


def read_plan(sources, picks, segments, pos: int = 0, columns: Optional[frozenset] = None) -> Iterator[Item]:
    """Items of ``segments`` (``(pick index, lo, hi)``, in order) from position ``pos`` of their concatenation on;
    pick ``p`` is read from ``sources[p.src]``."""
    base = 0
    for i, lo, hi in segments:
        n = hi - lo
        if pos < base + n:
            yield from read_segment(sources[picks[i].src], picks[i], lo + max(pos - base, 0), hi, columns)
        base += n


def item_bytes(item: Item) -> int:
    """What an item counts against the read-ahead bound: its image bytes plus :data:`ITEM_OVERHEAD`."""
    return ITEM_OVERHEAD + (len(item.image or b"") if isinstance(item, Raw) else 0)


def reader(sources, picks, segments, pos: int = 0, read_ahead: int = DEFAULT_READ_AHEAD,
           columns: Optional[frozenset] = None) -> Iterator[Item]:
    """:func:`read_plan`, through a :class:`ReadAhead` of ``read_ahead`` bytes (0: read in the caller's thread)."""
    items = read_plan(sources, picks, segments, pos, columns)
    return ReadAhead(items, read_ahead, size=item_bytes) if read_ahead > 0 else items


def decode(raw: Raw, *, max_pixels: int = DEFAULT_MAX_PIXELS, columns: Optional[frozenset] = None,
           images: bool = True) -> dict:
    """The sample dict: the contract's metadata fields (``columns``: those only), plus ``image`` (RGB PIL;
    ``images=False``: the stored PNG/JPEG bytes, undecoded)."""
    meta = metadata(raw)
    image = None
    if columns is None or "image" in columns:
        if not raw.image:
            raise SampleError(raw.key, "no_image", "empty image bytes")
        try:
            image = decode_image(raw.image, max_pixels=max_pixels) if images else bytes(raw.image)
        except ImageRejected as e:
            raise SampleError(raw.key, e.reason, e.detail) from None
    if columns is None and meta.keys() == ALL_FIELDS:
        sample = meta  # already the sample's fields, no more: a Raw is decoded once
    else:
        names = contract.METADATA_FIELDS if columns is None else [n for n in contract.METADATA_FIELDS if n in columns]
        sample = {name: meta.get(name) for name in [*names, *TEXT_FIELDS]}
    for name in FLOAT32_FIELDS:  # stored as float32: the same value from JSON (tar) and Parquet
        if isinstance(sample.get(name), float):
            sample[name] = float(str(np.float32(sample[name])))
    sample["key"] = meta.get("key") or raw.key
    if image is not None:
        sample["image"] = image
    sample["__shard__"] = raw.shard
    return sample
