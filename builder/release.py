"""The published S1-MMAlign release as a source: jsonl records joined to tar.gz archive members.

Layout (see ``shared/reference/RELEASE_LAYOUT.md``): one folder per source; captions in JSON
Lines (``*_recaption.jsonl`` or ``*_recaption_updated.jsonl``, at the folder root or under
``jsonl/``); images in gzipped tar archives, whole (``images.tar.gz``) or split by ``split``
into parts (``images_2018.tar.gz.partaa``, ``.partab``...).

:func:`discover_units` cuts a release (a local folder or any fsspec URL, e.g.
``hf://datasets/ScienceOne-AI/S1-MMAlign``) into :class:`ReleaseUnit` s: one archive with the
jsonl partition(s) that describe it (arXiv: ``jsonl/18_recaption.jsonl`` with
``images_2018.tar.gz*``; other sources: their one jsonl with their one archive).
:meth:`ReleaseUnit.read` then

1. scans the jsonl once into a compact index (64-bit digest of the normalised ``image_path``
   -> byte offset of the line: 16 bytes per record; only this unit's partition is held);
2. reads the parts in name order as one continuous gzip stream (byte ranges through the file
   system: nothing is downloaded whole, nothing is extracted to disk);
3. joins each member to its record by ``image_path`` (with or without the ``images/`` prefix)
   and yields records in the contract's schema, ``image_path`` kept as provenance.

Everything that does not come out is added to the :class:`~s1mmalign.builder.rejects.Rejects`
with a reason: ``empty_line``, ``malformed_json``, ``missing_image_path``, ``unsafe_image_path``, ``bad_field``,
``duplicate_record``, ``duplicate_image``, ``record_no_image``, ``image_no_record``,
``unsafe_member_name``, ``link_member``, ``truncated_archive``, ``missing_part``,
``duplicate_archive``, ``unknown_source``.
"""

from __future__ import annotations

import array
import gzip
import hashlib
import io
import json
import os
import posixpath
import queue
import re
import shutil
import tarfile
import tempfile
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

import s1mmalign_dataset as contract
from s1mmalign.builder.rejects import Rejects

STAGE = "release"

#: Release folder name -> the contract's source id (the release misspells some folders).
SOURCE_FOLDERS: dict[str, str] = {
    "arxiv": "arxiv",
    "biorxiv": "biorxiv",
    "medrxiv": "medrxiv",
    "chemrxiv": "chemrxiv",
    "psyarxiv": "psyarxiv",
    "psyrxiv": "psyarxiv",
    "nature_comunication": "nature_communications",
    "nature_communication": "nature_communications",
    "nature_communications": "nature_communications",
    "pmc": "pmc",
}

#: Discipline of a record whose categories name none (preprint servers of one field).
SOURCE_DEFAULT_DISCIPLINE: dict[str, str] = {
    "biorxiv": "biology",
    "medrxiv": "medicine",
    "chemrxiv": "chemistry",
}

#: The license the release's dataset card states; a record's own ``license`` field wins.
RELEASE_LICENSE = "cc-by-nc-4.0"
RECAPTION_MODEL = "release:Qwen3-VL"

_ARCHIVE_RE = re.compile(r"^(?P<base>.+\.(?:tar\.gz|tgz))(?:\.part(?P<part>[a-z]{2,}))?$")
_JSONL_RE = re.compile(r"\.jsonl$")
_ARCHIVE_YEAR_RE = re.compile(r"(?:^|[_-])(\d{4})(?=\.t)")
_JSONL_YEAR_RE = re.compile(r"^(\d{2})(?:_|$)")

#: Errors that mean "the gzip/tar stream stops here" (a truncated or missing last part).
try:  # ISA-L inflates gzip ~1.7x faster than zlib (the archive's inflate is half of reading it)
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - isal is a dependency; zlib gives the same bytes, slower
    _inflate_lib = zlib

_STREAM_END_ERRORS = (tarfile.ReadError, EOFError, zlib.error, gzip.BadGzipFile, _inflate_lib.error)


# --------------------------------------------------------------------------------------------
# File system access
# --------------------------------------------------------------------------------------------


def _fs_and_root(root: str | os.PathLike):
    """(fsspec file system, root path in it, is_local)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(str(root))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return fs, path.rstrip("/"), protocol in ("file", "local")


class PartsStream(io.RawIOBase):
    """The concatenation of ``paths`` (read in order) as one read-only stream.

    Remote files are read with ranged requests of ``block_size`` bytes (fsspec's buffered
    files, e.g. huggingface_hub's ``HfFileSystem``); local files are opened directly.
    ``bytes_read`` counts the compressed bytes consumed so far (progress bars).
    """

    def __init__(self, fs, paths: Sequence[str], *, local: bool, block_size: int = 8 << 20):
        super().__init__()
        self._fs, self._paths, self._local, self._block = fs, list(paths), local, block_size
        self._i = -1
        self._f = None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def _open_next(self) -> bool:
        self._i += 1
        if self._i >= len(self._paths):
            return False
        path = self._paths[self._i]
        if self._local:
            self._f = open(path, "rb", buffering=0)
        else:
            self._f = self._fs.open(path, "rb", block_size=self._block, cache_type="readahead")
        return True

    def readinto(self, b) -> int:
        while True:
            if self._f is None and not self._open_next():
                return 0
            n = self._f.readinto(b)
            if n:
                self.bytes_read += n
                return n
            self._f.close()
            self._f = None

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        super().close()


class GzipStream(io.RawIOBase):
    """The decompressed bytes of a gzip stream (one or more members) read from ``raw``.

    The inflater (ISA-L's, else zlib's) checks each member's trailer (CRC and length); input
    that ends inside a member raises ``EOFError``, wherever the cut falls. Reads 1 MiB of
    compressed input at a time: ``gzip.GzipFile`` reads 8 KiB and costs about a third more
    CPU in Python overhead.
    """

    def __init__(self, raw, chunk: int = 1 << 20, inflate_lib=None):
        super().__init__()
        self._raw, self._chunk = raw, chunk
        self._lib = inflate_lib or _inflate_lib
        self._z = self._lib.decompressobj(wbits=31)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while True:
            z = self._z
            if z.eof:  # a member ended: the next one, or the end of the input (any stale tail is in unused_data)
                rest = z.unused_data or self._raw.read(self._chunk)
                if not rest:
                    return 0
                self._z = z = self._lib.decompressobj(wbits=31)
                data = z.decompress(rest, len(b))
            elif z.unconsumed_tail:
                data = z.decompress(z.unconsumed_tail, len(b))
            else:
                chunk = self._raw.read(self._chunk)
                if not chunk:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
                data = z.decompress(chunk, len(b))
            if data:
                b[: len(data)] = data
                return len(data)


class TarMembers:
    """The members of an uncompressed tar stream, parsed by tarfile's own ``TarInfo`` (GNU long
    names, pax headers) but read straight from a buffered reader.

    tarfile's stream mode (``"r|"``) copies its 10 KiB buffer on every read: a third of the
    cost of reading the release. Here a member's bytes are one ``read``. A header that is cut
    or invalid, or an end without the end-of-archive marker, raises ``tarfile.ReadError``
    (stream mode stops silently); sparse members are refused. Iterate, and call :meth:`data` for the member just yielded to get its bytes
    (members whose bytes are not wanted are skipped).
    """

    def __init__(self, f):
        self._f, self._pos, self._pending = f, 0, 0
        # what TarInfo.fromtarfile reads through (it only uses these attributes)
        self.fileobj, self.offset, self.encoding, self.errors, self.pax_headers = self, 0, "utf-8", "surrogateescape", {}

    def read(self, n: int) -> bytes:
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        while True:
            self._skip(self._pending)
            self._pending = 0
            try:
                info = tarfile.TarInfo.fromtarfile(self)
            except tarfile.EOFHeaderError:  # a zero block: the end-of-archive marker
                return
            except tarfile.EmptyHeaderError:  # no bytes left: cut at a member boundary (or empty)
                raise tarfile.ReadError(f"the archive ends at byte {self._pos} without its end-of-archive marker") from None
            except tarfile.HeaderError as e:  # cut (truncated) or not a tar header
                raise tarfile.ReadError(f"bad tar header at byte {self._pos}: {e}") from None
            if info.issparse():
                raise tarfile.ReadError(f"sparse member {info.name!r} is not supported")
            if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES:
                self._pending = info._block(info.size)  # tarfile's own rule for members with data
            yield info

    def data(self, info: tarfile.TarInfo) -> bytes:
        """The bytes of ``info``, the member just yielded."""
        data = self.read(info.size)
        if len(data) != info.size:
            raise tarfile.ReadError(f"member {info.name!r} cut short ({len(data)} of {info.size} bytes)")
        self._skip(self._pending - info.size)
        self._pending = 0
        return data

    def _skip(self, n: int) -> None:
        while n > 0:
            chunk = self.read(min(n, 1 << 20))
            if not chunk:
                raise tarfile.ReadError("unexpected end of data")
            n -= len(chunk)


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


@dataclass
class Archive:
    """One archive: its base name and its parts (one path for a whole ``.tar.gz``)."""

    name: str  # e.g. "images_2018.tar.gz"
    parts: list[str]  # full paths in the file system, in stream order
    sizes: list[int]

    @property
    def nbytes(self) -> int:
        return sum(self.sizes)


@dataclass
class ReleaseUnit:
    """One archive and the jsonl partition(s) describing it: the unit of reading and of resume.

    ``archive`` is None for a jsonl with no archive (all its records become ``record_no_image``);
    ``jsonl`` is empty for an archive with no jsonl (all members become ``image_no_record``).
    """

    id: str
    source: str  # contract source id
    folder: str  # release folder name
    jsonl: list[str]
    archive: Optional[Archive]
    fs: Any = field(repr=False, default=None)
    local: bool = True
    root: str = ""
    jsonl_sizes: list[int] = field(default_factory=list)

    def rel(self, path: str) -> str:
        return posixpath.relpath(path, self.root) if self.root else path

    @property
    def nbytes(self) -> int:
        return self.archive.nbytes if self.archive else 0

    def digest(self) -> str:
        """Identifies the unit's input: its files' names and sizes (a part added or cut changes it)."""
        files = [f"{self.rel(j)}:{n}" for j, n in zip(self.jsonl, self.jsonl_sizes or [0] * len(self.jsonl))]
        if self.archive:
            files += [f"{self.rel(p)}:{n}" for p, n in zip(self.archive.parts, self.archive.sizes)]
        return hashlib.sha256("\n".join(files).encode("utf-8")).hexdigest()

    def read(
        self,
        rejects: Rejects,
        *,
        disciplines: Optional[Sequence[str]] = None,
        on_bytes: Optional[Callable[[int], None]] = None,
        stats: Optional[dict] = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield this unit's joined records (contract fields; ``width``/``height``/``image_sha256``
        are filled by the writer). Records outside ``disciplines`` are skipped (counted in
        ``stats["filtered"]``). ``on_bytes(n)`` is called with compressed bytes consumed."""
        yield from _read_unit(self, rejects, disciplines=disciplines, on_bytes=on_bytes, stats=stats)


@dataclass
class Release:
    root: str
    units: list[ReleaseUnit]
    problems: Rejects  # unknown folders, missing parts: reported on every run

    @property
    def sources(self) -> list[str]:
        return sorted({u.source for u in self.units})


def _sanitize(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"


def _archive_year(name: str) -> Optional[int]:
    m = _ARCHIVE_YEAR_RE.search(name)
    return int(m.group(1)) if m else None


def _jsonl_year(name: str) -> Optional[int]:
    m = _JSONL_YEAR_RE.match(name)
    if not m:
        return None
    yy = int(m.group(1))
    return 1900 + yy if yy >= 90 else 2000 + yy


def _group_archives(files: dict[str, int], folder_path: str, problems: Rejects, source: str) -> list[Archive]:
    groups: dict[str, dict[str, tuple[str, int]]] = {}
    for path, size in files.items():
        m = _ARCHIVE_RE.match(posixpath.basename(path))
        if not m:
            continue
        groups.setdefault(m.group("base"), {})[m.group("part") or ""] = (path, size)
    archives = []
    for base in sorted(groups):
        parts = groups[base]
        if "" in parts and len(parts) > 1:
            problems.add(None, "archive", "duplicate_archive",
                         f"{base} exists both whole and split; reading the split parts", stage=STAGE, source=source)
            parts.pop("")
        names = sorted(parts)
        if names != [""]:
            # split(1) names parts aa, ab, ...: a gap means a missing part; stop before it.
            expected = [_part_suffix(i, len(names[0])) for i in range(len(names))]
            for i, (got, want) in enumerate(zip(names, expected)):
                if got != want:
                    problems.add(None, "archive", "missing_part",
                                 f"{base}.part{want} is missing; reading {base} up to it", stage=STAGE, source=source)
                    names = names[:i]
                    break
        if names:
            archives.append(Archive(base, [parts[n][0] for n in names], [parts[n][1] for n in names]))
    return archives


def _part_suffix(i: int, width: int) -> str:
    letters = []
    for _ in range(width):
        i, r = divmod(i, 26)
        letters.append(chr(ord("a") + r))
    return "".join(reversed(letters))


def _pair_units(source: str, folder: str, jsonls: list[str], archives: list[Archive]) -> list[tuple[list[str], Optional[Archive]]]:
    """Pair jsonl partitions with archives: by year (arXiv), else the rest together."""
    pairs: list[tuple[list[str], Optional[Archive]]] = []
    by_year: dict[int, list[str]] = {}
    rest_jsonl = []
    for j in jsonls:
        y = _jsonl_year(posixpath.basename(j))
        (by_year.setdefault(y, []) if y is not None else rest_jsonl).append(j)
    rest_archives = []
    for a in archives:
        y = _archive_year(a.name)
        if y is not None and y in by_year:
            pairs.append((by_year.pop(y), a))
        else:
            rest_archives.append(a)
    for y in sorted(by_year):
        rest_jsonl += by_year[y]
    if len(rest_archives) == 1:
        pairs.append((sorted(rest_jsonl), rest_archives[0]))
        rest_jsonl = []
    else:
        # several archives without a year each: every one is joined against all the rest's jsonl
        # (the index holds those partitions together; sources in the release have one of each).
        for a in rest_archives:
            pairs.append((sorted(rest_jsonl), a))
        if rest_archives:
            rest_jsonl = []
    for j in sorted(rest_jsonl):
        pairs.append(([j], None))
    return pairs


def discover_units(root: str | os.PathLike, sources: Optional[Sequence[str]] = None) -> Release:
    """Find the sources, jsonl files and archives of a release at ``root`` (path or URL).

    ``sources`` keeps only those (contract ids such as ``nature_communications`` or release
    folder names such as ``nature_comunication``). Unknown folders are reported
    (``unknown_source``) and skipped.
    """
    fs, base, local = _fs_and_root(root)
    if not fs.isdir(base):
        raise FileNotFoundError(f"release root {str(root)!r} is not a folder (expected <source>/jsonl/*.jsonl + archives)")
    wanted = None
    if sources:
        wanted = {SOURCE_FOLDERS.get(s, s) for s in sources}
        known = set(SOURCE_FOLDERS.values())
        bad = sorted(wanted - known)
        if bad:
            raise ValueError(f"unknown source(s) {bad}; known: {', '.join(sorted(known))}")
    problems = Rejects()
    units: list[ReleaseUnit] = []
    entries = sorted(fs.ls(base, detail=True), key=lambda e: e["name"])
    found_any = False
    for entry in entries:
        folder = posixpath.basename(entry["name"].rstrip("/"))
        if entry["type"] != "directory" or folder.startswith("."):
            continue
        listing = fs.find(entry["name"], maxdepth=2, detail=True)
        files = {p: int(info.get("size") or 0) for p, info in listing.items() if info.get("type") != "directory"}
        folder_path = entry["name"].rstrip("/")
        jsonls = sorted(
            p for p in files
            if _JSONL_RE.search(p) and posixpath.dirname(p).rstrip("/") in (folder_path, folder_path + "/jsonl")
        )
        if folder not in SOURCE_FOLDERS:
            if jsonls or any(_ARCHIVE_RE.match(posixpath.basename(p)) for p in files):
                problems.add(None, "folder", "unknown_source",
                             f"{folder}/: not a known source folder ({', '.join(sorted(SOURCE_FOLDERS))}); skipped",
                             stage=STAGE, source=_sanitize(folder).lower())
            continue
        source = SOURCE_FOLDERS[folder]
        found_any = True
        if wanted is not None and source not in wanted:
            continue
        top_files = {p: s for p, s in files.items() if posixpath.dirname(p).rstrip("/") == folder_path}
        archives = _group_archives(top_files, folder_path, problems, source)
        for jsonl, archive in _pair_units(source, folder, jsonls, archives):
            label = archive.name.split(".")[0] if archive else posixpath.basename(jsonl[0]).split(".")[0]
            units.append(ReleaseUnit(f"{source}-{_sanitize(label)}", source, folder, jsonl, archive, fs, local, base,
                                     jsonl_sizes=[files[j] for j in jsonl]))
    if not found_any:
        raise FileNotFoundError(
            f"no source folders under {str(root)!r}: expected folders such as {', '.join(sorted(SOURCE_FOLDERS))} "
            "(each with jsonl files and images*.tar.gz[.partaa...])"
        )
    ids = [u.id for u in units]
    for uid in {i for i in ids if ids.count(i) > 1}:  # e.g. images.tar.gz beside images.tgz
        for n, u in enumerate(x for x in units if x.id == uid):
            u.id = f"{uid}-{n}"
    return Release(str(root), units, problems)


# --------------------------------------------------------------------------------------------
# Join
# --------------------------------------------------------------------------------------------


def normalize_image_path(path: str) -> Optional[str]:
    """The join key of a release ``image_path`` or archive member: no ``./``, no ``images/``.

    None for an unsafe path (absolute, or with ``..``): such names are never joined.
    """
    if not path or "\x00" in path or "\\" in path:
        return None
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    if parts[0] == "images" and len(parts) > 1:
        parts = parts[1:]
    return "/".join(parts)


def _digest(norm: str) -> int:
    return int.from_bytes(hashlib.blake2b(norm.encode("utf-8"), digest_size=8).digest(), "little") >> 1


class PartitionIndex:
    """normalised image_path -> (jsonl file, byte offset of its line), 16 bytes per record.

    Sorted numpy arrays of 63-bit digests and packed offsets (file number in the top 15 bits);
    a hit is confirmed by re-reading the line, so a digest collision can never mis-join.
    """

    def __init__(self, digests: np.ndarray, locs: np.ndarray):
        order = np.lexsort((locs, digests))
        self.digests, self.locs = digests[order], locs[order]
        self.used = np.zeros(len(self.digests), dtype=bool)

    def __len__(self) -> int:
        return len(self.digests)

    def find(self, digest: int) -> tuple[int, int]:
        """[lo, hi) positions with this digest."""
        lo = int(np.searchsorted(self.digests, digest, "left"))
        hi = lo
        while hi < len(self.digests) and self.digests[hi] == digest:
            hi += 1
        return lo, hi


class _Lines:
    """Random access to the lines of a unit's jsonl files (local copies for remote files)."""

    def __init__(self, files: list[str]):
        self.files = [open(f, "rb") for f in files]

    def line(self, loc: int) -> bytes:
        f = self.files[loc >> 48]
        f.seek(loc & ((1 << 48) - 1))
        return f.readline()

    def close(self) -> None:
        for f in self.files:
            f.close()


def _parse_line(raw: bytes) -> Optional[dict]:
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _build_index(unit: ReleaseUnit, rejects: Rejects, tmpdir: str) -> tuple[PartitionIndex, _Lines]:
    """Scan the unit's jsonl once: reject bad lines, index the good ones by image_path."""
    digests = array.array("q")  # 8 bytes per record while scanning (a list would take ~36)
    locs = array.array("q")
    local_files = []
    for n, path in enumerate(unit.jsonl):
        name = unit.rel(path)
        if unit.local:
            local, src, copy = path, open(path, "rb"), None
        else:  # a jsonl is read whole anyway: keep a local copy for the join's random reads
            local = os.path.join(tmpdir, f"{n}.jsonl")
            src, copy = unit.fs.open(path, "rb", block_size=8 << 20), open(local, "wb")
        local_files.append(local)
        offset = 0
        with src:
            for lineno, raw in enumerate(src, 1):
                if copy is not None:
                    copy.write(raw)
                loc = offset | (n << 48)
                offset += len(raw)
                if not raw.strip():
                    rejects.add(None, "<line>", "empty_line", f"{name}:{lineno}", stage=STAGE, source=unit.source)
                    continue
                rec = _parse_line(raw)
                if rec is None:
                    rejects.add(None, "<line>", "malformed_json", f"{name}:{lineno}: not a JSON object",
                                stage=STAGE, source=unit.source)
                    continue
                ip = rec.get("image_path")
                norm = normalize_image_path(ip) if isinstance(ip, str) else None
                if norm is None:
                    reason = "missing_image_path" if not isinstance(ip, str) or not ip else "unsafe_image_path"
                    rejects.add(None, "image_path", reason, f"{name}:{lineno}: {ip!r:.200}", stage=STAGE, source=unit.source)
                    continue
                digests.append(_digest(norm))
                locs.append(loc)
        if copy is not None:
            copy.close()
    index = PartitionIndex(np.frombuffer(digests, dtype=np.int64).copy(), np.frombuffer(locs, dtype=np.int64).copy())
    del digests, locs
    lines = _Lines(local_files)
    # Duplicates: same normalised image_path on several lines -> keep the first line.
    if len(index):
        same = np.flatnonzero(index.digests[1:] == index.digests[:-1]) + 1
        for pos in same:
            first = _parse_line(lines.line(int(index.locs[pos - 1])))
            this = _parse_line(lines.line(int(index.locs[pos])))
            if normalize_image_path(first.get("image_path")) != normalize_image_path(this.get("image_path")):
                continue  # digest collision between different paths: both stay
            index.used[pos] = True  # never joined
            rejects.add(_key(unit.source, this), "image_path", "duplicate_record",
                        f"{this.get('image_path')!r:.200} appears again in {unit.rel(unit.jsonl[int(index.locs[pos]) >> 48])}",
                        stage=STAGE, source=unit.source)
    return index, lines


def release_key(source: str, image_path: str) -> str:
    """The record key of a release image: ``<source>_<tail of the path>_<digest>``, at most 80
    characters so ``<key>.json`` fits a plain tar header. Stable: it depends only on the source
    and the normalised ``image_path`` (the digest covers the whole path)."""
    norm = normalize_image_path(image_path) or image_path
    tail = re.sub(r"(\.tar\.gz|\.tgz)(?=/)", "", norm).rsplit(".", 1)[0]
    tail = re.sub(r"[^A-Za-z0-9-]+", "_", tail).strip("_")[-40:].lstrip("_-")
    digest = hashlib.blake2b(f"{source}\x1f{norm}".encode("utf-8"), digest_size=6).hexdigest()
    return "_".join(p for p in (source, tail, digest) if p)


def _key(source: str, rec: dict) -> str:
    return release_key(source, str(rec.get("image_path") or ""))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _contexts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)]


def to_record(source: str, rec: dict, image: bytes, member_name: str, categories: Optional[list[str]] = None) -> dict[str, Any]:
    """A release jsonl record + its image bytes -> a record in the contract's schema.

    Raises ``TypeError`` for a ``categories`` value that is neither a string nor a list
    (``categories``: the record's, already parsed). ``width``, ``height`` and ``image_sha256``
    are left to the writer (``prepare_record``).
    """
    if categories is None:
        categories = contract.parse_categories(rec.get("categories"))
    discipline = contract.discipline_for_tags(categories, default=SOURCE_DEFAULT_DISCIPLINE.get(source, "other"))
    modality = rec.get("modality") if rec.get("modality") in contract.MODALITIES else "other"
    recaption = rec.get("recaption")
    recaption = recaption if isinstance(recaption, str) and recaption.strip() else None
    paper_id = rec.get("arxiv_id") or rec.get("doi") or rec.get("paper_id") or ""
    return {
        "key": _key(source, rec),
        "image": {"bytes": image, "path": posixpath.basename(member_name)},
        "caption": _text(rec.get("caption")),
        "recaption": recaption,
        "title": _text(rec.get("title")),
        "abstract": _text(rec.get("abstract")),
        "citation_contexts": _contexts(rec.get("citation_contexts", rec.get("context"))),
        "paper_id": _text(paper_id),
        "figure_label": _text(rec.get("figure_label", rec.get("label"))),
        "source": source,
        "categories": categories,
        "discipline": discipline,
        "modality": modality,
        "modality_method": "release" if modality != "other" else None,
        "license": _text(rec.get("license")) or RELEASE_LICENSE,
        "image_path": _text(rec.get("image_path")),
        "recaption_model": RECAPTION_MODEL if recaption else None,
    }


def _iter_members(unit: ReleaseUnit, on_bytes) -> Iterator[tuple[TarMembers, tarfile.TarInfo]]:
    """Members of the unit's archive in stream order. A stream cut short (truncated or missing
    last part) raises one of ``_STREAM_END_ERRORS``, also when the cut falls between members:
    the gzip stream is drained to its end-of-stream marker after the tar's end."""
    archive = unit.archive
    stream = PartsStream(unit.fs, archive.parts, local=unit.local)
    gz = io.BufferedReader(GzipStream(stream), 1 << 20)
    last = 0
    try:
        tar = TarMembers(gz)
        for member in tar:
            if on_bytes is not None and stream.bytes_read != last:
                on_bytes(stream.bytes_read - last)
                last = stream.bytes_read
            yield tar, member
        while gz.read(1 << 20):  # the rest: end-of-archive padding, then the gzip trailer
            pass
    finally:
        if on_bytes is not None and stream.bytes_read != last:
            on_bytes(stream.bytes_read - last)
        gz.close()
        stream.close()


def _read_unit(unit: ReleaseUnit, rejects: Rejects, *, disciplines=None, on_bytes=None, stats=None) -> Iterator[dict]:
    wanted = set(disciplines) if disciplines else None
    stats = stats if stats is not None else {}
    stats.setdefault("filtered", 0)
    stats.setdefault("joined", 0)
    tmpdir = tempfile.mkdtemp(prefix="s1mmalign-release-")
    try:
        index, lines = _build_index(unit, rejects, tmpdir)
        try:
            truncated = False
            if unit.archive is not None:
                try:
                    for tar, member in _iter_members(unit, on_bytes):
                        rec = _join_member(unit, rejects, index, lines, tar, member, wanted, stats)
                        if rec is not None:
                            stats["joined"] += 1
                            yield rec
                except _STREAM_END_ERRORS as e:
                    truncated = True
                    rejects.add(None, "archive", "truncated_archive",
                                f"{unit.archive.name} ({len(unit.archive.parts)} part(s)): the gzip/tar stream breaks "
                                f"({type(e).__name__}: {e}); records before the break are kept, the rest are "
                                "reported as record_no_image", stage=STAGE, source=unit.source)
            for pos in np.flatnonzero(~index.used):
                rec = _parse_line(lines.line(int(index.locs[pos])))
                if unit.archive is None:
                    where = f"no archive for {unit.rel(unit.jsonl[0])}"
                else:
                    where = f"{'lost in the truncated' if truncated else 'not in'} {unit.archive.name}"
                rejects.add(_key(unit.source, rec), "image", "record_no_image",
                            f"{rec.get('image_path')!r:.200}: {where}", stage=STAGE, source=unit.source)
        finally:
            lines.close()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _join_member(unit, rejects, index, lines, tar, member, wanted, stats) -> Optional[dict]:
    name = member.name
    if member.isdir():
        return None
    norm = normalize_image_path(name)
    if norm is None:
        rejects.add(None, "image", "unsafe_member_name", f"{unit.archive.name}: {name!r:.200} (absolute or with '..')",
                    stage=STAGE, source=unit.source)
        return None
    if not member.isreg():
        rejects.add(None, "image", "link_member", f"{unit.archive.name}: {name!r:.200} is not a regular file",
                    stage=STAGE, source=unit.source)
        return None
    lo, hi = index.find(_digest(norm))
    hit = None
    seen_before = False
    for pos in range(lo, hi):
        rec = _parse_line(lines.line(int(index.locs[pos])))
        if normalize_image_path(rec.get("image_path")) != norm:
            continue  # digest collision
        if index.used[pos]:
            seen_before = True
            continue
        hit = pos, rec
        break
    if hit is None:
        if seen_before:
            rejects.add(None, "image", "duplicate_image", f"{unit.archive.name}: {name!r:.200} appears again",
                        stage=STAGE, source=unit.source)
        else:
            rejects.add(release_key(unit.source, norm), "image", "image_no_record",
                        f"{unit.archive.name}: {name!r:.200} has no record in the jsonl", stage=STAGE, source=unit.source)
        return None
    pos, rec = hit
    index.used[pos] = True  # joined: whatever happens next is counted once, here or by the writer
    try:
        categories = contract.parse_categories(rec.get("categories"))
    except TypeError as e:
        rejects.add(_key(unit.source, rec), "categories", "bad_field", str(e), stage=STAGE, source=unit.source)
        return None
    if wanted is not None:
        d = contract.discipline_for_tags(categories, default=SOURCE_DEFAULT_DISCIPLINE.get(unit.source, "other"))
        if d not in wanted:
            stats["filtered"] += 1
            return None
    try:
        data = tar.data(member)
    except _STREAM_END_ERRORS:
        index.used[pos] = False  # the stream broke inside this image: its record is reported as lost
        raise
    return to_record(unit.source, rec, data, name, categories)


# --------------------------------------------------------------------------------------------
# Iteration helpers
# --------------------------------------------------------------------------------------------


def prefetch(iterable, depth: int = 4, batch: int = 32) -> Iterator:
    """Run ``iterable`` in a background thread (decompression overlaps decoding and writing).

    Items travel in lists of ``batch`` (a queue hand-off per item costs more than the join of
    a small record); at most ``depth`` lists wait. gzip inflation, hashing and file writes
    release the GIL, so the two sides overlap. An exception in the producer reaches the
    consumer after the items before it; closing the consumer stops the producer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message) -> bool:
        while not stop.is_set():
            try:
                q.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        items: list = []
        try:
            for item in iterable:
                items.append(item)
                if len(items) == batch:
                    if not put((None, items)):
                        return
                    items = []
            put((None, items)) and put((None, None))  # the rest, then the end
        except BaseException as e:  # handed to the consumer
            put((None, items)) and put((e, None))

    t = threading.Thread(target=produce, name="release-reader", daemon=True)
    t.start()
    try:
        while True:
            err, items = q.get()
            if err is not None:
                raise err
            if items is None:
                return
            yield from items
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


def iter_release(
    root: str | os.PathLike,
    rejects: Optional[Rejects] = None,
    *,
    sources: Optional[Sequence[str]] = None,
    disciplines: Optional[Sequence[str]] = None,
) -> Iterator[dict[str, Any]]:
    """Every joined record of a release, unit after unit (problems go to ``rejects``)."""
    rejects = rejects if rejects is not None else Rejects()
    release = discover_units(root, sources)
    rejects.extend(release.problems)
    for unit in release.units:
        yield from unit.read(rejects, disciplines=disciplines)


# --------------------------------------------------------------------------------------------
# The datasets builder's release path (``S1MMAlign`` imports these lazily)
# --------------------------------------------------------------------------------------------


def is_release_root(root: str) -> bool:
    """True when ``root`` looks like the published release rather than a dataset folder."""
    fs, base, _ = _fs_and_root(root)
    if fs.exists(posixpath.join(base, contract.PARQUET_DIR)) or fs.exists(posixpath.join(base, contract.SHARD_INDEX_FILE)):
        return False
    return any(posixpath.basename(e.rstrip("/")) in SOURCE_FOLDERS for e in fs.ls(base, detail=False))


def release_tables(
    units: Sequence[ReleaseUnit],
    *,
    disciplines: Optional[Sequence[str]] = None,
    batch_size: int = 256,
    max_pixels: Optional[int] = None,
    rejects: Optional[Rejects] = None,
) -> Iterator[Any]:
    """Joined records of ``units`` as pyarrow tables in the contract's schema, images checked
    and normalised by the writer's ``prepare_record`` (bad ones go to ``rejects``)."""
    import pyarrow as pa

    from s1mmalign.builder.images import DEFAULT_MAX_PIXELS
    from s1mmalign.builder.write import _reason_of, prepare_record

    rejects = rejects if rejects is not None else Rejects()
    rows: list[dict] = []
    for unit in units:
        for rec in prefetch(unit.read(rejects, disciplines=disciplines)):
            try:
                clean, _ = prepare_record(rec, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
            except contract.RecordError as e:
                rejects.add(e.key, e.field, _reason_of(e), e.reason, stage="builder", source=unit.source)
                continue
            rows.append(clean)
            if len(rows) >= batch_size:
                yield pa.Table.from_pylist(rows, schema=contract.SCHEMA)
                rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=contract.SCHEMA)
