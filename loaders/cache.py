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
killed run leaves are removed later (:func:`remove_dead_temporaries`). The cache only grows:
delete the folder to reclaim the space.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path, PurePosixPath
from typing import Optional

from s1mmalign.core.atomic import TMP_SUFFIX, fsync_and_hash, temporary_name

log = logging.getLogger(__name__)

FILL_GAPS = 1 << 20  # bytes a nearly whole read may still fetch at close to complete its shard


class ShardCache:
    """Where cached shards live; content-addressed by the sha256 in the shard index.

    Made once per stream, in the process that builds it: temporary files that a killed run left
    (their process is gone and they are over an hour old) are removed then."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser().resolve()
        try:
            self.removed = remove_dead_temporaries(self.folder) if self.folder.is_dir() else 0
        except OSError as e:  # an unreadable cache folder: reading goes on, keeping fails per shard
            log.warning("cache %s: %s: %s", self.folder, type(e).__name__, e)
            self.removed = 0

    def path(self, rel: str, sha256: str) -> Path:
        return self.folder / sha256[:2] / (sha256 + PurePosixPath(rel).suffix)

    def lookup(self, rel: str, sha256: str, size: int) -> Optional[Path]:
        """The local copy of a shard, if one of the right size is there."""
        p = self.path(rel, sha256)
        try:
            return p if p.stat().st_size == size else None
        except OSError:  # not there, or no cache folder to look in
            return None


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

    def __init__(self, dest: Path, sha256: str, size: int):
        self.dest, self.sha256, self.size = dest, sha256, size
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
