"""A loopback fake of the Hugging Face Hub serving one dataset folder as a read-only dataset repo.

Tests point the real ``huggingface_hub`` / ``datasets`` client code at it (``HfFileSystem(endpoint=...)``,
or ``HF_ENDPOINT`` in a subprocess) to prove ``hf://`` and ``load_dataset("<org>/<name>")`` read what
they should. Only the read endpoints those clients call are implemented, with the response shapes of
huggingface_hub 2.4 (``hf_api.py``: ``dataset_info``, ``list_repo_tree``, ``get_paths_info``;
``file_download.py``: ``get_hf_file_metadata``; ``hf_file_system.py``: ``HfFileSystemFile._fetch_range``):

- ``GET /api/datasets/{repo}`` and ``/api/datasets/{repo}/revision/{rev}``: repo info (``sha``, ``siblings``)
- ``GET /api/datasets/{repo}/tree/{rev}[/{path}]?recursive=&expand=[&cursor=]``: one folder's entries or
  all below it, ``page_size`` per page with a ``Link: <...>; rel="next"`` header (as the Hub paginates)
- ``POST /api/datasets/{repo}/paths-info/{rev}`` (form ``paths=...&expand=...``)
- ``HEAD``/``GET /datasets/{repo}/resolve/{rev}/{path}``: the file, ``Range`` answered with 206, with
  ``ETag``, ``X-Repo-Commit``, ``Content-Length``, ``Accept-Ranges`` (no Xet headers: plain HTTP)

The revision is ``main`` or the one fixed commit ``sha``; anything else is 404 ``RevisionNotFound``.
Files are served as they are on disk, with LFS metadata (sha256) for binary files as the Hub lists them.
Every request is recorded (:attr:`FakeHub.requests`); a request to an unknown endpoint gets a 404 with
a JSON error and is also kept in :attr:`FakeHub.unexpected`, which tests assert is empty.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Optional
from urllib.parse import parse_qs, quote, unquote, urlsplit

SHA = "5d3a1f0c2b7e4a9d8c6b5a4f3e2d1c0b9a8f7e6d"  # the repo's one commit
TEXT_SUFFIXES = {".md", ".json", ".jsonl", ".txt", ".yaml", ".yml"}  # stored in git; other files in LFS
LAST_COMMIT = {"id": SHA, "title": "Upload dataset", "date": "2026-01-01T00:00:00.000Z"}


@dataclass(frozen=True)
class Request:
    method: str
    kind: str  # "info", "tree", "paths-info", "resolve" or "unknown"
    path: str  # the repo path asked for ("" for the repo root; the raw URL path for "unknown")
    range: Optional[tuple[int, int]]  # (first, last) byte of a ranged download
    status: int
    rev: Optional[str] = None  # the revision in the URL (None: the repo info without one)
    query: str = ""  # the query string, keys sorted (a tree page: recursive, expand, cursor)


class _Entry:
    def __init__(self, root: Path, rel: str):
        self.rel, self.file = rel, root / rel
        data = self.file.read_bytes()
        self.size = len(data)
        self.oid = hashlib.sha1(b"blob %d\0" % self.size + data).hexdigest()  # git's blob id
        self.lfs = None if PurePosixPath(rel).suffix in TEXT_SUFFIXES or rel == ".gitattributes" else {
            "oid": hashlib.sha256(data).hexdigest(), "size": self.size, "pointerSize": 134}

    def json(self, expand: bool) -> dict:
        out = {"type": "file", "oid": self.oid, "size": self.size, "path": self.rel}
        if self.lfs:
            out["lfs"] = dict(self.lfs)
        if expand:
            out["lastCommit"] = LAST_COMMIT
            out["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False},
                                         "pickleImportScan": None}
        return out

    @property
    def etag(self) -> str:
        return self.lfs["oid"] if self.lfs else self.oid


class FakeHub:
    """``with FakeHub(folder, "org/name") as hub:`` serve ``folder`` at ``hub.url`` until the block ends.

    ``page_size``: entries per tree page (the Hub uses 1000, 50 with ``expand``); ``fail``: a
    predicate ``(repo_path) -> bool``: the first GET of each matching file is answered
    ``fail_status`` once (503: a transient error; 403: a permanent one); the failed ones are
    listed in :attr:`failed`. ``bytes_per_s``: each download is sent at most that fast (a link of that
    speed per connection, as ``loaders.tiny.serve_http``'s cap; benchmarks).
    """

    def __init__(self, folder: str | Path, repo_id: str = "org/name", *, page_size: int = 1000,
                 fail: Optional[Callable[[str], bool]] = None, fail_status: int = 503, bytes_per_s: float = 0):
        self.root, self.bytes_per_s = Path(folder).resolve(), bytes_per_s
        self.repo_id, self.sha, self.page_size, self.fail = repo_id, SHA, page_size, fail
        self.fail_status = fail_status
        self.files = {e.rel: e for e in (_Entry(self.root, p.relative_to(self.root).as_posix())
                                          for p in sorted(self.root.rglob("*")) if p.is_file())}
        self.dirs = sorted({p for rel in self.files for p in _parents(rel)})
        self.requests: list[Request] = []
        self.unexpected: list[str] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._server: Optional[http.server.ThreadingHTTPServer] = None

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what was asked -------------------------------------------------------------------------
    def record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)

    def asked(self, kind: str, method: Optional[str] = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.kind == kind and (method is None or r.method == method)]

    def downloads(self) -> list[Request]:
        """The GETs of file contents (not HEADs)."""
        return self.asked("resolve", "GET")

    def take_failure(self, rel: str) -> bool:
        with self._lock:
            if self.fail is None or rel in self.failed or not self.fail(rel):
                return False
            self.failed.append(rel)
            return True

    # -- repo contents -------------------------------------------------------------------------
    def info(self) -> dict:
        return {"_id": "0" * 24, "id": self.repo_id, "author": self.repo_id.split("/")[0], "sha": self.sha,
                "lastModified": LAST_COMMIT["date"], "createdAt": LAST_COMMIT["date"], "private": False,
                "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [], "cardData": None,
                "siblings": [{"rfilename": rel, "size": e.size, "blobId": e.oid} for rel, e in self.files.items()]}

    def entry_json(self, rel: str, expand: bool) -> Optional[dict]:
        if rel in self.files:
            return self.files[rel].json(expand)
        if rel in self.dirs:
            out = {"type": "directory", "oid": hashlib.sha1(rel.encode()).hexdigest(), "size": 0, "path": rel}
            if expand:
                out["lastCommit"] = LAST_COMMIT
            return out
        return None

    def tree(self, rel: str, recursive: bool, expand: bool) -> Optional[list[dict]]:
        """Entries under the folder ``rel`` ("" for the root): folders first, as the Hub lists them."""
        if rel and rel not in self.dirs:
            return None
        prefix = f"{rel}/" if rel else ""
        below = [p for p in [*self.dirs, *self.files] if p.startswith(prefix)]
        if not recursive:
            below = [p for p in below if "/" not in p[len(prefix):]]
        below.sort(key=lambda p: (p not in self.dirs, p))
        return [self.entry_json(p, expand) for p in below]


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _flag(query: dict, name: str) -> bool:
    return (query.get(name) or ["false"])[0].lower() in ("1", "true")


class _Handler(http.server.BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"  # keep-alive, as the Hub: the client pools connections

    def log_message(self, *args) -> None:  # quiet: requests are recorded instead
        pass

    # -- answers ----------------------------------------------------------------------------------
    def _send_json(self, kind: str, path: str, body, status: int = 200, headers: Optional[dict] = None,
                   rng: Optional[tuple[int, int]] = None) -> None:
        data = json.dumps(body).encode()
        self.hub.record(Request(self.command, kind, path, rng, status, self._rev, self._query))
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, kind: str, path: str, status: int, code: Optional[str], message: str,
               rng: Optional[tuple[int, int]] = None) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send_json(kind, path, {"error": message}, status, headers, rng)

    def _unknown(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # the connection stays usable
        with self.hub._lock:
            self.hub.unexpected.append(f"{self.command} {self.path}")
        self._error("unknown", self.path, 404, None, f"the fake Hub does not serve {self.command} {self.path}")

    # -- routing ---------------------------------------------------------------------------------
    def _route(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self._rev, self._query = None, "&".join(f"{k}={v[0]}" for k, v in sorted(query.items()))
        parts = url.path.split("/")  # raw (still quoted) segments: a revision may hold an encoded "/"
        repo = self.hub.repo_id.split("/")
        if parts[1:5] == ["api", "datasets", *repo]:
            rest = parts[5:]
            if not rest and self.command == "GET":
                return self._info(None)
            if len(rest) == 2 and rest[0] == "revision" and self.command == "GET":
                return self._info(unquote(rest[1]))
            if len(rest) >= 2 and rest[0] == "tree" and self.command == "GET":
                return self._tree(unquote(rest[1]), unquote("/".join(rest[2:])).strip("/"), query)
            if len(rest) == 2 and rest[0] == "paths-info" and self.command == "POST":
                return self._paths_info(unquote(rest[1]))
        elif parts[1:4] == ["datasets", *repo] and len(parts) > 6 and parts[4] == "resolve":
            if self.command in ("GET", "HEAD"):
                return self._resolve(unquote(parts[5]), unquote("/".join(parts[6:])))
        self._unknown()

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _revision_ok(self, kind: str, rev: Optional[str], path: str) -> bool:
        self._rev = rev
        if rev in (None, "main", self.hub.sha):
            return True
        self._error(kind, path, 404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return False

    def _info(self, rev: Optional[str]) -> None:
        if self._revision_ok("info", rev, ""):
            self._send_json("info", "", self.hub.info())

    def _tree(self, rev: str, rel: str, query: dict) -> None:
        if not self._revision_ok("tree", rev, rel):
            return
        expand = _flag(query, "expand")
        entries = self.hub.tree(rel, _flag(query, "recursive"), expand) if _inside(rel) else None
        if entries is None:
            return self._error("tree", rel, 404, "EntryNotFound", f"{rel} does not exist on \"{rev}\"")
        start = int((query.get("cursor") or ["0"])[0])
        size = min(self.hub.page_size, 50) if expand else self.hub.page_size
        page, headers = entries[start: start + size], {}
        if start + size < len(entries):
            q = {k: v[0] for k, v in query.items() if k != "cursor"}
            nxt = "&".join([*(f"{k}={quote(v)}" for k, v in q.items()), f"cursor={start + size}"])
            headers["Link"] = f'<{self.hub.url}{urlsplit(self.path).path}?{nxt}>; rel="next"'
        self._send_json("tree", rel, page, headers=headers)

    def _paths_info(self, rev: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        paths = [p.strip("/") for p in form.get("paths", [])]
        if not self._revision_ok("paths-info", rev, ",".join(paths)):
            return
        expand = _flag(form, "expand")
        found = [self.hub.entry_json(p, expand) for p in paths if _inside(p)]
        self._send_json("paths-info", ",".join(paths), [e for e in found if e is not None])

    def _resolve(self, rev: str, rel: str) -> None:
        if not self._revision_ok("resolve", rev, rel):
            return
        entry = self.hub.files.get(rel) if _inside(rel) else None
        if entry is None:
            return self._error("resolve", rel, 404, "EntryNotFound", "Entry not found")
        first, last = 0, entry.size - 1
        spec = self.headers.get("Range")
        if spec:
            lo, _, hi = spec.split("=", 1)[1].partition("-")
            first, last = (entry.size - int(hi), entry.size - 1) if not lo else (int(lo), min(int(hi) if hi else last, last))
            if first > last or first >= entry.size:
                self.hub.record(Request(self.command, "resolve", rel, (first, last), 416, rev))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{entry.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        rng = (first, last) if spec else None
        if self.command == "GET" and self.hub.take_failure(rel):
            return self._error("resolve", rel, self.hub.fail_status, None, f"HTTP {self.hub.fail_status} (fake)", rng)
        self.hub.record(Request(self.command, "resolve", rel, rng, 206 if spec else 200, rev))
        self.send_response(206 if spec else 200)
        if spec:
            self.send_header("Content-Range", f"bytes {first}-{last}/{entry.size}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", f'"{entry.etag}"')
        self.send_header("X-Repo-Commit", self.hub.sha)
        self.end_headers()
        if self.command == "GET":
            started, rate = time.perf_counter(), self.hub.bytes_per_s
            with open(entry.file, "rb") as f:
                f.seek(first)
                left = sent = last - first + 1
                while left:
                    chunk = f.read(min(left, 1 << 16))
                    self.wfile.write(chunk)
                    left -= len(chunk)
                    if rate and (ahead := (sent - left) / rate - (time.perf_counter() - started)) > 0:
                        time.sleep(ahead)  # one clock reading: two could cross zero between test and sleep


def _inside(rel: str) -> bool:
    """A repo path that cannot leave the served folder."""
    parts = PurePosixPath(rel).parts
    return not rel.startswith("/") and ".." not in parts and "\\" not in rel

