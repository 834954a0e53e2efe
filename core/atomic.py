"""Files that appear under their final name only when complete.

Everything the project writes goes through :func:`atomic_file`: bytes go to a hidden
temporary name in the same folder (never matched by ``train-*`` globs), are flushed and
fsynced, and the file is renamed over the final name in one step. A crash leaves at most a
``.<name>.<pid>.tmp`` file, which :func:`remove_stale_temporaries` cleans on the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Iterator

TMP_SUFFIX = ".tmp"


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}{TMP_SUFFIX}")


class HashingWriter:
    """A binary file wrapper that counts and sha256-hashes what passes through it."""

    def __init__(self, f: BinaryIO):
        self._f = f
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data) -> int:
        n = self._f.write(data)
        self.sha256.update(memoryview(data)[:n] if n is not None else data)
        self.bytes += len(data) if n is None else n
        return len(data) if n is None else n

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        self._f.flush()

    @property
    def closed(self) -> bool:
        return self._f.closed

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:  # the owner closes the real file
        pass


def fsync_and_hash(path: str | os.PathLike, chunk: int = 4 << 20, *, durable: bool = True) -> tuple[int, str]:
    """fsync (when ``durable``) a file written by someone else (e.g. pyarrow); (bytes, sha256 hex)."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb", buffering=0) as f:
        if durable:
            os.fsync(f.fileno())
        buf = bytearray(chunk)
        view = memoryview(buf)
        while (k := f.readinto(buf)):
            h.update(view[:k])
            n += k
    return n, h.hexdigest()


def fsync_tree(folder: str | os.PathLike) -> int:
    """fsync every file under ``folder``, then the folders: what a writer that skipped its
    per-file fsyncs (``ShardOptions(fsync=False)``) calls once before publishing the files."""
    n = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            n += 1
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return n


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", *, durable: bool = True) -> Iterator:
    """Open ``path`` for writing under a temporary name; rename it into place on success
    (fsynced first when ``durable``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    f = open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"}))
    try:
        yield f
        f.flush()
        if durable:
            os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
    except BaseException:
        f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def remove_stale_temporaries(root: str | os.PathLike) -> int:
    """Delete temporaries left by a crashed writer under ``root``; returns how many."""
    n = 0
    for p in Path(root).rglob(f".*{TMP_SUFFIX}"):
        if p.is_file():
            p.unlink()
            n += 1
    return n
