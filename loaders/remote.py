"""Reading remote files: retries at the same byte, timeouts, and servers without Range support.

:func:`resolve` makes a location's fsspec file system with connect/read timeouts on every
http(s) request (``hf://``: huggingface_hub's own) and pins an ``hf://`` branch to its commit.
:class:`RetryingFile` is what every shard and sidecar read goes through: transient errors are
retried by reopening at the same byte position, a server that accepts and never answers ends in
:class:`SourceStalled` after the retries, a server that ignores Range requests is read once, whole
and sequentially, into an anonymous temporary file (bounded by the index's size), and every byte
returned is counted.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from typing import Any, Optional

import fsspec

from s1mmalign.core.urls import fs_and_root, protocols

log = logging.getLogger(__name__)


def transient_errors() -> tuple[type, ...]:
    """Errors worth retrying: connection resets, timeouts, and what HTTP clients raise for 5xx.

    aiohttp's (``http(s)://``) and huggingface_hub's (``hf://``) only when they are loaded: nothing
    else raises them, and importing them up front would cost every process ~0.3 s."""
    errors: list[type] = [ConnectionError, TimeoutError, OSError]
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        errors.append(aiohttp.ClientError)
    hub = sys.modules.get("huggingface_hub.errors")
    if hub is not None:
        errors.append(hub.HfHubHTTPError)
    return tuple(errors)


def is_permanent(e: BaseException) -> bool:
    """An HTTP answer that retrying cannot change: 4xx other than 408 (timeout) and 429 (rate limit).

    A 401/403 (expired token, gated repository) is raised at once instead of after the retries."""
    response = getattr(e, "response", None)
    status = getattr(response, "status_code", None) or getattr(e, "status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)


class SourceStalled(TimeoutError):
    """A remote source accepted the connection but did not answer in time, after every retry."""


def _timed_out(e: BaseException) -> bool:
    """A timeout, also as fsspec's http(s) reports one while opening (a FileNotFoundError caused by it)."""
    return isinstance(e, TimeoutError) or (isinstance(e, FileNotFoundError) and isinstance(e.__cause__, TimeoutError))


MAX_WHOLE_READ = 16 << 30  # bytes a file of unknown size may take when its server ignores Range


class RetryingFile:
    """A read-only, seekable file over fsspec that reopens and resumes on transient errors.

    ``counter`` is a one-element list that accumulates the bytes returned (shared by all
    files of a source in one process). ``open_kwargs`` go to ``fs.open`` (e.g. the cache type).
    ``keeper``: a :class:`~s1mmalign.loaders.cache.Keeper` that gets every byte read and, on
    :meth:`close`, keeps the file in the local cache when it was read (nearly) whole.
    """

    def __init__(self, fs, path: str, counter: list, retries: int = 4, backoff: float = 0.2,
                 open_kwargs: Optional[dict] = None, keeper=None, max_bytes: Optional[int] = None):
        self.fs, self.path, self.counter = fs, path, counter
        self.max_bytes = max_bytes  # what a whole read may fetch at most (the index's size of the shard)
        self.keeper = keeper
        self.retries, self.backoff = retries, backoff
        self.open_kwargs = open_kwargs or {}
        self.pos = 0
        self._f = None
        self._size: Optional[int] = None
        self._whole = False  # reads come from a whole local copy (a server without Range support)
        self.closed = False

    @classmethod
    def over(cls, fileobj, counter: list, name: str) -> "RetryingFile":
        """A local, already open file object read through the same interface (closed with it)."""
        f = cls(None, name, counter, retries=0)
        f._f, f._size = fileobj, os.fstat(fileobj.fileno()).st_size
        return f

    def _file(self):
        if self._f is None:
            try:
                self._f = self.fs.open(self.path, "rb", **self.open_kwargs)
            except TypeError:  # a file system whose files take no cache options: its defaults
                self._f = self.fs.open(self.path, "rb")
            if self.pos:
                self._f.seek(self.pos)
        return self._f

    def _retry(self, fn):
        for attempt in range(self.retries + 1):
            try:
                return fn(self._file())
            except (FileNotFoundError, PermissionError, IsADirectoryError, TimeoutError) as e:
                if not _timed_out(e):
                    raise
                if attempt == self.retries:
                    raise SourceStalled(f"{self.path}: no answer within the read timeout, {self.retries + 1} tries: "
                                        f"the server is stalled or unreachable (storage_options / timeout=)") from e
                log.warning("read of %s timed out; retry %d/%d", self.path, attempt + 1, self.retries)
                self._drop()
                time.sleep(self.backoff * 2**attempt)
            except ValueError as e:  # fsspec: "The HTTP server doesn't appear to support range requests"
                if "range" not in str(e).lower() or self._whole:
                    raise
                self._read_whole()
                return fn(self._f)
            except transient_errors() as e:
                if attempt == self.retries or is_permanent(e):
                    raise
                log.warning("read of %s failed (%s: %s); retry %d/%d", self.path, type(e).__name__, e, attempt + 1, self.retries)
                self._drop()
                time.sleep(self.backoff * 2**attempt)

    def _read_whole(self) -> None:
        """A server without Range support: fetch the file once, sequentially, into an anonymous
        temporary file, and serve every read and seek from there (as webdataset would stream it)."""
        self._drop()
        tmp = tempfile.TemporaryFile()
        limit = self.max_bytes if self.max_bytes is not None else MAX_WHOLE_READ
        with self.fs.open(self.path, "rb", block_size=0) as src:
            while data := src.read(4 << 20):
                if tmp.tell() + len(data) > limit:
                    tmp.close()
                    raise ValueError(f"{self.path}: the server sent more than the {limit} bytes expected; not reading it whole")
                tmp.write(data)
        log.info("%s: the server ignores Range requests; read it whole (%d bytes)", self.path, tmp.tell())
        tmp.seek(self.pos)
        self._f, self._whole, self.fs = tmp, True, None

    def _drop(self):
        if self._whole:  # the temporary copy is all there is: keep it until close()
            return
        if self._f is not None:
            try:
                self._f.close()
            except Exception:
                pass
            self._f = None

    def read(self, n: int = -1) -> bytes:
        data = self._retry(lambda f: f.read(n))
        if self.keeper is not None:
            self.keeper.keep(self.pos, data)
        self.pos += len(data)
        self.counter[0] += len(data)
        return data

    def _fetch(self, offset: int, n: int) -> bytes:
        """Exactly ``n`` bytes at ``offset`` (what the keeper is missing)."""
        self.seek(offset)
        parts = []
        while n > 0:
            data = self.read(n)
            if not data:
                raise EOFError(f"{self.path} ended at byte {self.pos}")
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos = self.pos + pos
        elif whence == 2:
            pos = self.size() + pos
        self.pos = pos
        if self._f is not None:
            self._retry(lambda f: f.seek(pos))
        return pos

    def tell(self) -> int:
        return self.pos

    def size(self) -> int:
        if self._size is None:
            known = getattr(self._f, "size", None)  # fsspec's buffered files know it from their open
            if not isinstance(known, int) and self.fs is None:  # a local copy
                known = os.fstat(self._f.fileno()).st_size
            self._size = known if isinstance(known, int) else self.fs.size(self.path)
        return self._size

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        keeper, self.keeper = self.keeper, None
        if keeper is not None:
            keeper.finish(self._fetch)
        self._whole = False
        self._drop()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


DEFAULT_TIMEOUT = (10.0, 30.0)  # seconds: (connect, read) of every remote request


def _with_timeouts(url, storage_options: Optional[dict], timeout) -> dict:
    """``storage_options`` with connect/read timeouts for http(s):// (a server that accepts and never
    answers raises ``TimeoutError`` after ``timeout[1]`` s, which is retried, then reported)."""
    options = dict(storage_options or {})
    protocol = fsspec.core.split_protocol(os.fspath(url))[0]
    if protocol in ("http", "https") and timeout is not None:
        import aiohttp

        connect, read = (timeout, timeout) if isinstance(timeout, (int, float)) else timeout
        client = dict(options.get("client_kwargs") or {})
        client.setdefault("timeout", aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect,
                                                          sock_read=read))
        options["client_kwargs"] = client
    return options


def resolve(url: str | os.PathLike, storage_options: Optional[dict], timeout=DEFAULT_TIMEOUT) -> tuple[Any, str]:
    fs, root = fs_and_root(url, _with_timeouts(url, storage_options, timeout))
    if "hf" in protocols(fs):
        root = _pin_hub_revision(fs, root)
    return fs, root.rstrip("/")


def _pin_hub_revision(fs, root: str) -> str:
    """``datasets/<org>/<name>[@branch]/...`` -> ``...@<commit>/...``: the commit the branch points to now.

    Every process of a run (DataLoader workers, later epochs) then reads the files the index it
    read describes, even when the repository gets a new commit while training runs for days."""
    import dataclasses

    from huggingface_hub import HfApi
    from huggingface_hub.utils import parse_hf_uri

    uri = parse_hf_uri(f"hf://{root}")
    if uri.is_bucket:  # no revisions
        return root
    sha = HfApi(endpoint=fs.endpoint, token=fs.token).repo_info(uri.id, repo_type=uri.type, revision=uri.revision).sha
    if not sha or sha == uri.revision:
        return root
    return dataclasses.replace(uri, revision=sha).to_uri()[len("hf://"):]
