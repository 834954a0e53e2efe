"""Where the shards are: a dataset folder, an ``hf://`` URL or any fsspec URL.

:class:`Source` resolves the file system, reads ``index/shards.json`` and lists the shard
files **once**, in the process that builds the stream (the Hub rate limits: workers never
list or read the index again; they get the resolved source by pickling). It checks that the
shards on storage are the shards the index describes, and falls back to reading the shards
(with a warning) when there is no index.

Reads go through :class:`~s1mmalign.loaders.remote.RetryingFile` (retries, timeouts, servers
without Range); every byte read is counted (``Source.bytes_read``). ``verify="sha256"`` hashes
shards before use; ``local=`` reads a pre-staged copy; ``cache_dir`` keeps what is fetched whole.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import fsspec
import fsspec.asyn
import pyarrow as pa

from s1mmalign.core import contract
from s1mmalign.core.atomic import fsync_and_hash
from s1mmalign.core.layout import SAMPLE_INDEX_SCHEMA, SHARD_SUFFIXES, scan_shard
from s1mmalign.core.urls import is_local, protocols
from s1mmalign.loaders.cache import Keeper, ShardCache, parse_size
from s1mmalign.loaders.index import IndexFormatError, check_rel_path, check_sample_index, inside_root, int64_values, validate_index
from s1mmalign.loaders.remote import DEFAULT_TIMEOUT, RetryingFile, resolve

log = logging.getLogger(__name__)


_LOCAL_FS = fsspec.filesystem("file")


class IndexMismatchError(RuntimeError):
    """The shards on storage differ from those ``index/shards.json`` describes."""


class ShardIntegrityError(RuntimeError):
    """A shard's bytes do not hash to the sha256 that ``index/shards.json`` gives it."""


def _check_digest(rel: str, got: tuple[int, str], entry: dict) -> None:
    if got != (entry["bytes"], entry["sha256"]):
        raise ShardIntegrityError(
            f"shard {rel}: its {got[0]} bytes hash to {got[1]}, index/shards.json says {entry['bytes']} bytes "
            f"with sha256 {entry['sha256']}: the copy is corrupt or was tampered with; re-download it")


def _unreachable(exc: BaseException) -> Optional[BaseException]:
    """The connection error behind a "file not found" (refused, no route, unknown host), if any."""
    seen, c = set(), exc.__cause__ or exc.__context__
    while c is not None and id(c) not in seen:
        seen.add(id(c))
        if isinstance(c, OSError) and not isinstance(c, FileNotFoundError):
            return c
        c = c.__cause__ or c.__context__
    return None


class Source:
    """A dataset location with its shard index, resolved once (see the module docstring)."""

    def __init__(
        self,
        url: str | os.PathLike,
        *,
        storage_options: Optional[dict] = None,
        check_index: bool = True,
        progress: bool = True,
        cache_dir: Optional[str | os.PathLike] = None,
        verify: Optional[str] = None,
        timeout=DEFAULT_TIMEOUT,
        cache_limit=None,
        local: Optional[str | os.PathLike] = None,
    ):
        if verify not in (None, "sha256"):
            raise ValueError(f"verify must be None (shards kept in the cache are checked) or 'sha256' (every shard), got {verify!r}")
        cache_limit = parse_size(cache_limit)  # checked even where no cache is used: a typo is an error, not ignored
        if cache_limit is not None and cache_dir is None:
            raise ValueError("cache_limit= bounds the shard cache in cache_dir=: give cache_dir= too")
        self.url = os.fspath(url)
        self.verify = verify
        self._verified: set[str] = set()  # shards whose bytes hashed right in this process
        self._fs, self.root = resolve(url, storage_options, timeout)
        self._fs_pid = os.getpid()
        self.is_local = is_local(self.fs)
        if self.is_local and os.path.isfile(self.root):  # (before: '<file>/index/shards.json: not a directory')
            raise NotADirectoryError(f"{self.url} is a file; name the dataset folder (`s1mmalign write MANIFEST OUT` "
                                     "makes one from a manifest)")
        self.cache = ShardCache(cache_dir, cache_limit) if cache_dir is not None and not self.is_local else None
        self.local = None if local is None or self.is_local else str(Path(local).expanduser().resolve())
        self.bytes_read = [0]  # shard bytes read in this process (from the source; see cache_bytes_read)
        self.cache_bytes_read = [0]  # shard bytes read from the local cache in this process
        self.index_bytes_read = [0]  # sidecar bytes read in this process
        self._sidecars: dict[str, pa.Table] = {}  # built by reading when there is no index
        listing = self._list_shards()
        if "hf" in protocols(self.fs):
            self._list_index_folder()
        try:
            with self.fs.open(self._abs(contract.SHARD_INDEX_FILE), "rb") as f:
                try:
                    index = json.load(f)
                except ValueError as e:
                    raise IndexFormatError(f"{self.url}: index/shards.json is not JSON ({e}): rebuild it") from None
            self.index = validate_index(index, self.url)
            self.from_index = True
        except FileNotFoundError as e:
            if (cause := _unreachable(e)) is not None:  # fsspec's HTTP file system says "not found" for both
                raise ConnectionError(f"{self.url}: cannot reach the server ({cause}); check the URL and the network") from None
            if not listing:
                raise FileNotFoundError(
                    f"{self.url}: no index/shards.json and no shards under {contract.PARQUET_DIR}/ or "
                    f"{contract.WDS_DIR}/: is this an s1mmalign dataset folder?"
                ) from None
            warnings.warn(
                f"{self.url}: index/shards.json is missing; reading every shard's metadata to build it "
                f"(slow on big datasets: `s1mmalign reindex DATASET` writes the index)",
                stacklevel=3,
            )
            self.index = self._index_by_reading(listing, progress)
            self.from_index = False
        if check_index and self.from_index:
            self._check(listing)

    # -- files ------------------------------------------------------------------------------
    @property
    def fs(self):
        """The file system; in a forked DataLoader worker, a new instance of an asynchronous one
        (fsspec's ``http(s)://`` runs an event loop that does not survive a fork)."""
        if self._fs_pid != os.getpid():
            if isinstance(self._fs, fsspec.asyn.AsyncFileSystem):
                self._fs = type(self._fs)(**self._fs.storage_options)
            self._fs_pid = os.getpid()
        return self._fs

    def _abs(self, rel: str) -> str:
        """The full path of ``rel``, refused unless it stays inside the root (symlinks included, locally)."""
        why = check_rel_path(rel)
        if why:
            raise IndexFormatError(f"{self.url}: refusing to read {why}: it would leave the dataset root")
        path = f"{self.root}/{rel}"
        if self.is_local and not inside_root(self.root, path):
            raise IndexFormatError(f"{self.url}: refusing to read {rel!r}: a symlink leads outside the dataset root")
        return path

    def open(self, rel: str, exact: bool = False) -> RetryingFile:
        """A shard file. ``exact``: remote reads fetch exactly the bytes asked for, with no
        read-ahead cache (the caller reads in large pieces: Parquet column chunks, tar runs in
        ``READ_CHUNK`` pieces), instead of fsspec's default blocks that over-fetch and re-fetch.
        With ``verify="sha256"`` the shard's bytes are hashed against the index before any is used."""
        kwargs = {"cache_type": "none"} if exact and not self.is_local else None
        entry = self._entry(rel)
        if self.verify and entry is not None and rel not in self._verified:
            return self._open_verified(rel, entry)
        staged = self._staged(rel, entry)
        if staged is not None:
            return RetryingFile(_LOCAL_FS, staged, self.cache_bytes_read)
        size = entry["bytes"] if entry is not None else None
        if self.cache is None or entry is None:
            return RetryingFile(self.fs, self._abs(rel), self.bytes_read, open_kwargs=kwargs, max_bytes=size)
        local = self.cache.lookup(rel, entry["sha256"], entry["bytes"])
        if local is not None:
            try:
                return RetryingFile.over(self.cache.open(local), self.cache_bytes_read, str(local))
            except FileNotFoundError:  # evicted between the lookup and the open
                pass
        if not self.cache.fits(entry["bytes"]):
            return RetryingFile(self.fs, self._abs(rel), self.bytes_read, open_kwargs=kwargs, max_bytes=size)
        keeper = Keeper(self.cache.path(rel, entry["sha256"]), entry["sha256"], entry["bytes"], self.cache)
        return RetryingFile(self.fs, self._abs(rel), self.bytes_read, open_kwargs=kwargs, keeper=keeper, max_bytes=size)

    def _staged(self, rel: str, entry: Optional[dict]) -> Optional[str]:
        """The pre-staged copy of ``rel`` under ``local=`` when it is there whole (its index size)."""
        if self.local is None or entry is None:
            return None
        path = os.path.join(self.local, *rel.split("/"))
        try:
            whole = os.path.getsize(path) == entry["bytes"]
        except OSError:
            return None
        if not inside_root(self.local, path):
            raise IndexFormatError(f"{self.local}: refusing to read {rel!r}: a symlink leads outside the local copy")
        return path if whole else None

    def _open_verified(self, rel: str, entry: dict) -> RetryingFile:
        """Shard ``rel`` after checking its sha256: a local file (or cached copy) is hashed where it
        is; a remote one is fetched whole (into the cache when there is one, else a private
        temporary file) and hashed before the first sample is read."""
        cached = self.cache.lookup(rel, entry["sha256"], entry["bytes"]) if self.cache is not None else None
        cached = self._staged(rel, entry) or cached
        if self.is_local or cached is not None:
            path, counter = (self._abs(rel), self.bytes_read) if cached is None else (str(cached), self.cache_bytes_read)
            _check_digest(rel, fsync_and_hash(path, durable=False), entry)
            self._verified.add(rel)
            return RetryingFile(_LOCAL_FS, path, counter)
        tmp = tempfile.TemporaryFile()  # anonymous: gone when closed
        h, n = hashlib.sha256(), 0
        with RetryingFile(self.fs, self._abs(rel), self.bytes_read, open_kwargs={"cache_type": "none"}) as f:
            while data := f.read(4 << 20):
                h.update(data)
                tmp.write(data)
                n += len(data)
        _check_digest(rel, (n, h.hexdigest()), entry)
        if self.cache is not None and self.cache.fits(entry["bytes"]):  # the cache's own naming and atomic rename
            keeper = Keeper(self.cache.path(rel, entry["sha256"]), entry["sha256"], entry["bytes"], self.cache)
            tmp.seek(0)
            at = 0
            while data := tmp.read(4 << 20):
                keeper.keep(at, data)
                at += len(data)
            keeper.finish(lambda offset, k: b"")
        tmp.seek(0)
        return RetryingFile.over(tmp, self.cache_bytes_read, f"{rel} (verified copy)")

    def _entry(self, rel: str) -> Optional[dict]:
        """The index entry of shard ``rel`` when it has a sha256 (to name a cached copy by, to verify)."""
        if not getattr(self, "from_index", False):
            return None
        if not hasattr(self, "_entries"):
            self._entries = {s["path"]: s for s in self.index["shards"] if s.get("sha256") and s.get("bytes")}
        return self._entries.get(rel)

    def _list_shards(self) -> dict[str, int]:
        """shard path (relative) -> size in bytes, for every tar and Parquet shard present."""
        out = {}
        for folder in (contract.PARQUET_DIR, contract.WDS_DIR):
            try:
                found = self.fs.find(self._abs(folder), detail=True)
            except FileNotFoundError:
                continue
            for path, info in found.items():
                rel = path[len(self.root) + 1 :] if path.startswith(self.root) else path
                name = rel.rsplit("/", 1)[-1]
                if name.startswith(".") or Path(name).suffix not in SHARD_SUFFIXES:
                    continue  # temporaries (.<name>.tmp) and other files
                out[rel] = int(info.get("size") or 0)
        return out

    def _list_index_folder(self) -> None:
        """List ``index/`` once, recursively, into the file system's listing cache (``hf://``).

        Opening a Hub file asks for its folder's listing when that is not cached; the sidecars are
        opened from many threads at once (:meth:`sidecars`), each of which would list the same
        folder again, page by page (the Hub rate limits). The cache travels to DataLoader workers."""
        try:
            self.fs.find(self._abs(contract.INDEX_DIR))
        except FileNotFoundError:
            pass

    def _check(self, listing: dict[str, int]) -> None:
        """Raise :class:`IndexMismatchError` when shards were added, removed or rewritten."""
        indexed = {s["path"]: s["bytes"] for s in self.index["shards"]}
        formats = {s["format"] for s in self.index["shards"]}
        listed = {p: b for p, b in listing.items() if SHARD_SUFFIXES[Path(p).suffix] in formats}
        missing = sorted(set(indexed) - set(listed))
        extra = sorted(set(listed) - set(indexed))
        changed = sorted(p for p in set(indexed) & set(listed) if listed[p] and listed[p] != indexed[p])
        if missing or extra or changed:
            parts = []
            for what, paths in (("missing", missing), ("not in the index", extra), ("changed size", changed)):
                if paths:
                    parts.append(f"{len(paths)} {what} (e.g. {', '.join(paths[:3])})")
            raise IndexMismatchError(
                f"{self.url}: the shards differ from index/shards.json: {'; '.join(parts)}. The index is stale: "
                f"rebuild it with `s1mmalign reindex DATASET` (or re-download a consistent revision)"
            )

    # -- per-sample index ---------------------------------------------------------------------
    def sidecar(self, entry: dict) -> pa.Table:
        """The per-sample index of one shard (``s1mmalign.core.layout.SAMPLE_INDEX_SCHEMA``)."""
        table = self._sidecars.get(entry["path"])
        if table is None:
            table = self._read_sample_index(entry)
        return table

    def _read_sample_index(self, entry: dict, columns: Optional[list[str]] = None) -> pa.Table:
        """Shard ``entry``'s sidecar (``columns`` of it; None: all), checked against the entry.

        Fetched whole (one request; sidecars are small) and parsed from memory: a read error is the
        source's (retried, reported as such), a parse error the index's (:class:`IndexFormatError`)."""
        import pyarrow.parquet as pq  # on first use (~0.4 s): a tar stream that needs no sidecar never loads it

        if not entry.get("sample_index"):
            raise IndexFormatError(f"{self.url}: shard {entry['path']!r} has no sample_index in index/shards.json: "
                                   f"rebuild the index (s1mmalign reindex DATASET)")
        try:
            with RetryingFile(self.fs, self._abs(entry["sample_index"]), self.index_bytes_read) as f:
                data = f.read()
        except FileNotFoundError:
            raise IndexMismatchError(f"{self.url}: index/shards.json names the sample index {entry['sample_index']!r} "
                                     f"of shard {entry['path']!r}, which is not there: rebuild the index "
                                     f"(s1mmalign reindex DATASET) or re-download a consistent revision") from None
        try:
            # Read on this thread: pq.read_table's async scan can leave a read on an Arrow thread that
            # then needs the GIL during interpreter exit (abort, exit 134).
            # string columns as dictionaries, from the file's own dictionary pages: where= then tests each
            # distinct value once, without pyarrow.compute (~0.08 s to import) or hashing every row
            strings = [f.name for f in SAMPLE_INDEX_SCHEMA if pa.types.is_string(f.type)]
            pf = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False, read_dictionary=strings)
            have = pf.schema_arrow.names
            table = pf.read(columns=None if columns is None else [c for c in columns if c in have], use_threads=False)
        except Exception as e:  # bytes in memory: whatever pyarrow raises is about the file's contents
            raise IndexFormatError(f"{self.url}: the sample index {entry['sample_index']!r} of shard {entry['path']!r} "
                                   f"is not a readable Parquet file ({type(e).__name__}: {str(e)[:200]}): rebuild the "
                                   f"index (s1mmalign reindex DATASET)") from None
        return check_sample_index(table.replace_schema_metadata(None), entry, self.url, columns)

    def tar_ranges(self, entry: dict):
        """(offsets, sizes) of every sample of a tar shard; the last few shards are cached per process."""
        cache = self.__dict__.setdefault("_ranges", collections.OrderedDict())
        hit = cache.get(entry["path"])
        if hit is None:
            if entry["path"] in self._sidecars:
                table = self._sidecars[entry["path"]]
            else:
                table = self._read_sample_index(entry, ["offset", "size"])
            hit = cache[entry["path"]] = (int64_values(table["offset"]), int64_values(table["size"]))
        try:  # two iterators' reading threads may share this cache: trimming is best-effort
            cache.move_to_end(entry["path"])
            while len(cache) > 64:
                cache.popitem(last=False)
        except KeyError:
            pass
        return hit

    def sidecars(self, entries: list[dict]) -> list[pa.Table]:
        """Several sidecars; remote ones read concurrently (latency, not bandwidth, dominates), local ones
        in this thread (a pool's thread starts cost more CPU than the reads)."""
        if len(entries) <= 1 or self.is_local:
            return [self.sidecar(e) for e in entries]
        with ThreadPoolExecutor(max_workers=min(16, len(entries))) as pool:
            return list(pool.map(self.sidecar, entries))

    # -- fallback: no index -----------------------------------------------------------------------
    def _index_by_reading(self, listing: dict[str, int], progress: bool) -> dict:
        from tqdm.auto import tqdm

        shards = []
        for rel in tqdm(sorted(listing), desc="indexing shards", unit=" shard", disable=not progress):
            fmt = SHARD_SUFFIXES[Path(rel).suffix]
            discipline = rel.split("/")[1] if rel.count("/") >= 2 else "other"
            cols: dict[str, list] = collections.defaultdict(list)
            with self.open(rel) as f:
                scan_shard(f, fmt, cols)
            table = pa.table({n: cols[n] for n in SAMPLE_INDEX_SCHEMA.names}, schema=SAMPLE_INDEX_SCHEMA)
            self._sidecars[rel] = table
            entry = {"path": rel, "format": fmt, "discipline": discipline, "num_samples": table.num_rows,
                     "bytes": listing[rel], "sample_index": None}
            for field, col in (("modalities", "modality"), ("sources", "source"), ("licenses", "license")):
                entry[field] = dict(collections.Counter(cols[col]))
            if fmt == "parquet":
                per_group = collections.Counter(cols["row_group"])
                entry["row_groups"] = [{"num_rows": per_group[g]} for g in sorted(per_group)]
            shards.append(entry)
        return {"version": 1, "shards": shards, "formats": sorted({s["format"] for s in shards})}
