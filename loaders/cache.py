"""A local copy of remote shards, so that the epochs after the first read them from disk.

``S1MMAlignStream(url, cache_dir=...)``: a remote shard that a reader has fetched whole (every
byte, in any order: a tar front to back, a Parquet footer first) is kept as
``cache_dir/<sha256[:2]>/<sha256><suffix>``, named by the sha256 the index gives the shard, once
its bytes hash to it; later opens of that shard, in any process, read the local copy. A shard
read only in part (a pruned slice, a worker's share that starts mid-shard) is not kept unless
what is missing is small (at most ``FILL_GAPS`` bytes, such as a tar's end-of-archive blocks,
which readers stop before): that is fetched when the file closes. Nothing half-written sits
under a final name: bytes go to a temporary file beside it, fsynced and hashed before the
rename; processes filling one cache at once each write their own temporary file, and those a
killed run leaves are removed later (:func:`remove_dead_temporaries`). With ``cache_limit``
(``"50GB"``, bytes) the least recently used shards are deleted when a new one is kept, down to
the limit, never one that a reader (any process) has open: readers hold a shared ``flock`` on
the cached file, and eviction takes the exclusive lock without waiting, or skips the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from pathlib import Path, PurePosixPath
from typing import Optional

from s1mmalign.core.atomic import TMP_SUFFIX, fsync_and_hash, temporary_name
from s1mmalign.loaders.index import is_digest

log = logging.getLogger(__name__)

FILL_GAPS = 1 << 20  # bytes a nearly whole read may still fetch at close to complete its shard


UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(value) -> Optional[int]:
    """``"50GB"``, ``"512MiB"``, ``10**9`` -> bytes (None stays None)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if not m or m.group(2).upper() not in UNITS:
            raise ValueError(f"cache_limit must be bytes or a size like '50GB' or '512MiB', got {value!r}")
        n = int(float(m.group(1)) * UNITS[m.group(2).upper()])
    if n <= 0:
        raise ValueError(f"cache_limit must be positive, got {value!r}")
    return n


class ShardCache:
    """Where cached shards live; content-addressed by the sha256 in the shard index.

    Made once per stream, in the process that builds it: temporary files that a killed run left
    (their process is gone and they are over an hour old) are removed then. ``limit``: bytes
    the cache may hold (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike, limit=None):
        self.folder = Path(folder).expanduser().resolve()
        if self.folder.exists() and not self.folder.is_dir():  # (else: one warning per shard, nothing cached)
            raise NotADirectoryError(f"cache_dir {folder} is a file; name a folder for the shard cache")
        self.limit = parse_size(limit)
        try:
            self.removed = remove_dead_temporaries(self.folder) if self.folder.is_dir() else 0
        except OSError as e:  # an unreadable cache folder: reading goes on, keeping fails per shard
            log.warning("cache %s: %s: %s", self.folder, type(e).__name__, e)
            self.removed = 0

    def path(self, rel: str, sha256: str) -> Path:
        if not is_digest(sha256):  # it names a file: never a path of the index's choosing
            raise ValueError(f"shard {rel}: sha256 {sha256!r:.80} is not a 64-digit hex digest")
        return self.folder / sha256[:2] / (sha256 + PurePosixPath(rel).suffix)

    def lookup(self, rel: str, sha256: str, size: int) -> Optional[Path]:
        """The local copy of a shard, if one of the right size is there (marked as just used)."""
        p = self.path(rel, sha256)
        try:
            if p.stat().st_size != size:
                return None
            os.utime(p)  # least recently used = oldest mtime
            return p
        except OSError:  # not there, evicted meanwhile, or no cache folder to look in
            return None

    def open(self, path: Path):
        """A cached shard, opened with a shared lock that keeps eviction off it until it is closed."""
        f = open(path, "rb")
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)
        return f

    def fits(self, size: int) -> bool:
        return self.limit is None or size <= self.limit

    def evict(self, keep: Optional[Path] = None) -> int:
        """Delete least recently used shards until the cache holds at most ``limit`` bytes; never
        ``keep`` nor one a reader has open. Returns the bytes freed."""
        if self.limit is None:
            return 0
        files = []
        for p in self.folder.glob("??/*"):
            if p.name.startswith("."):
                continue
            with contextlib.suppress(OSError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        total, freed = sum(f[1] for f in files), 0
        for _, size, p in sorted(files):
            if total <= self.limit:
                break
            if p == keep:
                continue
            try:
                with open(p, "rb") as f:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # in use: raises, skip it
                    p.unlink()
            except OSError:
                continue
            total -= size
            freed += size
        if total > self.limit:
            log.warning("cache %s holds %d bytes over its limit of %d: the rest is in use", self.folder,
                        total - self.limit, self.limit)
        return freed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_dead_temporaries(folder: Path, min_age_s: float = 3600.0) -> int:
    """Delete ``.<name>.<pid>-<hex>.tmp`` files whose writer is gone; never one a live process
    may still be writing (another worker or run filling the same cache)."""
    n, now = 0, time.time()
    for p in folder.glob(f"*/.*{TMP_SUFFIX}"):
        pid = p.name[: -len(TMP_SUFFIX)].rsplit(".", 1)[-1].split("-", 1)[0]
        try:
            old = now - p.stat().st_mtime > min_age_s
        except FileNotFoundError:
            continue
        if pid.isdigit() and old and not _pid_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
    return n


class Keeper:
    """What a remote file read so far, written at its offsets into a temporary file.

    ``finish(fetch)`` completes it (``fetch(offset, n)`` returns the missing bytes, read
    through the remote file) when little is missing, checks the sha256 and renames it into
    place; anything else discards it."""

    def __init__(self, dest: Path, sha256: str, size: int, cache: Optional[ShardCache] = None):
        self.dest, self.sha256, self.size, self.cache = dest, sha256, size, cache
        self.tmp: Optional[Path] = None
        self.fd: Optional[int] = None
        self.spans: list[tuple[int, int]] = []
        self.broken = False  # writing failed: keep nothing more

    def keep(self, offset: int, data: bytes) -> None:
        if not data or offset + len(data) > self.size or self.broken:
            return
        try:
            if self.fd is None:
                self.dest.parent.mkdir(parents=True, exist_ok=True)
                self.tmp = temporary_name(self.dest)
                self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.pwrite(self.fd, data, offset)
        except OSError as e:  # a full or unwritable cache must not stop the reading
            log.warning("not caching %s: %s: %s", self.dest.name, type(e).__name__, e)
            self.broken = True
            self.discard()
            return
        self.spans.append((offset, offset + len(data)))

    def gaps(self) -> list[tuple[int, int]]:
        """(offset, length) of the bytes not kept yet."""
        out, at = [], 0
        for a, b in sorted(self.spans):
            if a > at:
                out.append((at, a - at))
            at = max(at, b)
        if at < self.size:
            out.append((at, self.size - at))
        return out

    def finish(self, fetch) -> bool:
        """Keep the shard if it is (nearly) whole and hashes right; True when it was kept."""
        try:
            if self.fd is None or self.broken:
                return False
            gaps = self.gaps()
            if sum(n for _, n in gaps) > FILL_GAPS:
                return False
            for offset, n in gaps:
                self.keep(offset, fetch(offset, n))
            os.close(self.fd)
            self.fd = None
            size, sha = fsync_and_hash(self.tmp)
            if (size, sha) != (self.size, self.sha256):
                log.warning("not caching %s: its bytes hash to %s, the index says %s", self.dest.name, sha, self.sha256)
                return False
            os.replace(self.tmp, self.dest)
            self.tmp = None
            if self.cache is not None:
                self.cache.evict(keep=self.dest)
            return True
        except Exception as e:  # a cache is best effort: the samples were read either way
            log.warning("not caching %s: %s: %s", self.dest.name, type(e).__name__, e)
            return False
        finally:
            self.discard()

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)
            self.tmp = None
