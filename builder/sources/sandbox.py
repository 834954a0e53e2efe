"""Run a renderer in a child process: a private empty temp folder, a wall-clock limit, a memory limit.

Every external renderer goes through :func:`run_limited` (Ghostscript, ``pdftoppm``) or
:func:`render_pdfium` (PDFium, in a child forked by a server process that imported it once). The child gets ``RLIMIT_AS`` (address space) and ``RLIMIT_CORE``
0 set before it starts, its own session (a timeout kills its whole process group), and an
environment whose ``TMPDIR``/``TEMP``/``HOME`` name a fresh empty folder: Ghostscript 10's
``-dSAFER`` still permits its temp folder, so that folder must hold nothing but the child's own files.

:class:`RenderBudget` is the per-paper time budget: each figure gets the smaller of the
per-figure limit and what the paper has left, so N looping figures cost one budget.
Failures raise :class:`SandboxError` with ``reason`` ``render_timeout`` or ``render_memory``.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

#: Words a renderer prints when an allocation fails (Ghostscript: VMerror; C++: bad_alloc).
_MEMORY_WORDS = ("vmerror", "out of memory", "memoryerror", "bad_alloc", "cannot allocate memory",
                 "failed to allocate", "failed to map segment")
#: Signals of a child killed by a failed allocation (abort in an allocator, a null write after one).
_MEMORY_SIGNALS = {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGKILL}


class SandboxError(RuntimeError):
    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class RenderBudget:
    """Seconds left for one paper's figures; :meth:`timeout` is what the next render may take."""

    def __init__(self, seconds: float, per_figure: float):
        self.deadline = time.monotonic() + seconds
        self.per_figure = per_figure

    def timeout(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SandboxError("render_timeout", "the paper's render time budget is spent")
        return min(self.per_figure, left)


def _limit_child(memory: int) -> None:
    """Runs in the child between fork and exec: C calls only (no import, no lock another thread may hold)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_limited(cmd: Sequence[str], *, tmp: Path, timeout: float, memory: int, what: str) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``tmp`` (its cwd) with ``tmp/t`` as its private temp folder and the limits.

    Returns the completed process (any exit status); raises :class:`SandboxError` on a timeout
    or when the child ran out of its ``memory``.
    """
    private = Path(tmp) / "t"
    private.mkdir(mode=0o700, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(private), "TEMP": str(private),
           "TMP": str(private), "HOME": str(private), "LC_ALL": "C"}
    proc = subprocess.Popen(list(cmd), cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=lambda: _limit_child(memory))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise SandboxError("render_timeout", f"{what} took over {timeout:g} s") from None
    except BaseException:
        _kill_group(proc)
        raise
    _check_memory(proc.returncode, (err or b"").decode("utf-8", "replace") + (out or b"").decode("utf-8", "replace")[:2000],
                  what, memory)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _check_memory(rc: int, text: str, what: str, memory: int) -> None:
    """``render_memory`` when the child's exit status or messages say an allocation failed."""
    if rc != 0 and (rc == _RC_MEMORY and what == "pdfium" or any(w in text.lower() for w in _MEMORY_WORDS)):
        raise SandboxError("render_memory", f"{what} ran out of its {memory >> 20} MiB memory limit "
                                            f"(exit {rc}: {_first_lines(text)})")
    if rc < 0 and -rc in _MEMORY_SIGNALS:
        raise SandboxError("render_memory", f"{what} killed by {signal.Signals(-rc).name} under its {memory >> 20} MiB "
                                            f"memory limit (a failed allocation, as a rule): {_first_lines(text)}")


def _first_lines(text: str, n: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[:n])[:300]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


# -- PDFium: one server process per parent, one forked, limited child per PDF ---------------------
#
# Starting Python and importing PDFium costs ~0.1 s of CPU, as much as rendering a figure: the
# server imports it once and forks a child per PDF (fork from a single-threaded process is
# safe; the child sets its limits and its temp folder, renders, and exits). The server enforces
# the timeout on the child; the parent, a deadline on the server (a stuck server is killed and
# the next PDF starts a fresh one).

_RC_MEMORY = 3  # the child's exit status when an allocation failed
_server: Optional[subprocess.Popen] = None
_server_pid = 0  # the process that started _server
_server_lock = threading.Lock()


def _pdf_server() -> subprocess.Popen:
    global _server, _server_pid
    if _server_pid != os.getpid():  # a forked copy of the parent: the server is the parent's, not ours
        _server, _server_pid = None, os.getpid()
    if _server is None or _server.poll() is not None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        if os.environ.get("PYTHONPATH"):  # the server imports this package as the parent does
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        _server = subprocess.Popen([sys.executable, "-m", __name__, "--serve"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                   start_new_session=True, cwd="/")
    return _server


def _stop_server() -> None:
    global _server
    if _server is not None:
        _kill_group(_server)
        _server = None


def render_pdfium(src: Path, dst: Path, *, dpi: int, max_side: int, tmp: Path, timeout: float,
                  memory: int, page: int = 1) -> subprocess.CompletedProcess:
    """Render ``src``'s page ``page`` (1-based) to ``dst`` (PNG) with PDFium in a limited child (see above).

    Returns the child's exit status and its messages as ``stderr``; raises :class:`SandboxError`
    as :func:`run_limited` does."""
    private = Path(tmp) / "t"
    private.mkdir(mode=0o700, exist_ok=True)
    err = Path(tmp) / "err.txt"
    request = {"src": str(src), "dst": str(dst), "dpi": dpi, "max_side": max_side, "tmp": str(private),
               "err": str(err), "timeout": timeout, "memory": memory, "page": int(page)}
    with _server_lock:
        server = _pdf_server()
        try:
            server.stdin.write((json.dumps(request) + "\n").encode())
            server.stdin.flush()
            ready, _, _ = select.select([server.stdout], [], [], timeout + 30)
            line = server.stdout.readline() if ready else b""
        except OSError:
            line = b""
        if not line:  # the server died or hangs: a fresh one for the next PDF
            _stop_server()
            raise SandboxError("render_timeout", f"the PDFium server stopped or gave no answer in {timeout + 30:g} s")
    reply = json.loads(line)
    text = err.read_text("utf-8", "replace") if err.exists() else ""
    if reply["timeout"]:
        raise SandboxError("render_timeout", f"pdfium took over {timeout:g} s")
    _check_memory(reply["rc"], text, "pdfium", memory)
    return subprocess.CompletedProcess(["pdfium", str(src)], reply["rc"], b"", text.encode())


def _serve() -> int:
    """The server: a request (JSON) per stdin line, a reply ``{"rc", "timeout"}`` per stdout line."""
    import pypdfium2  # noqa: F401 -- imported once here, inherited by every forked child
    from PIL import Image  # noqa: F401

    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: limits, private temp folder, stderr to a file, render, exit
            rc = 1
            try:
                _limit_child(req["memory"])
                for var in ("TMPDIR", "TEMP", "TMP", "HOME"):
                    os.environ[var] = req["tmp"]
                fd = os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 2)
                sys.stderr = open(2, "w", closefd=False)
                rc = _pdfium_main([req["src"], req["dst"], req["dpi"], req["max_side"], req.get("page", 1)])
            except MemoryError:
                rc = _RC_MEMORY
            except BaseException:  # noqa: BLE001 -- the child must end here, whatever happened
                rc = 1
            finally:
                os._exit(rc)
        deadline, timed_out = time.monotonic() + req["timeout"], False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = True
                break
            time.sleep(0.002)
        rc = os.waitstatus_to_exitcode(status)
        sys.stdout.write(json.dumps({"rc": rc, "timeout": timed_out}) + "\n")
        sys.stdout.flush()
    return 0


def _pdfium_main(argv: Sequence) -> int:
    """Render a page (1-based; page 1 when not given) with PDFium to PNG. Exit 2 with a message on a
    bad PDF or a page it lacks, ``_RC_MEMORY`` out of memory."""
    import pypdfium2 as pdfium

    src, dst, dpi, max_side = argv[:4]
    number = int(argv[4]) if len(argv) > 4 else 1
    try:
        pdf = pdfium.PdfDocument(src)
        if len(pdf) == 0:
            print("the PDF has no pages", file=sys.stderr)
            return 2
        if not 1 <= number <= len(pdf):
            print(f"the PDF has {len(pdf)} pages, page {number} asked for", file=sys.stderr, flush=True)
            return 2
        page = pdf[number - 1]
        w, h = page.get_size()
        scale = min(int(dpi) / 72.0, int(max_side) / max(w, h, 1e-6))
        image = page.render(scale=scale, fill_color=(255, 255, 255, 255)).to_pil()
        image.convert("RGB").save(dst, format="PNG")
    except MemoryError:
        return _RC_MEMORY
    except Exception as e:  # PdfiumError and friends: a bad PDF, reported by the parent
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    sys.exit(_serve())
