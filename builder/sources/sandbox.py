"""Run a renderer in a child process: a private empty temp folder, a wall-clock limit, a memory limit.

Every external renderer (Ghostscript, ``pdftoppm``, and PDFium through ``python -m`` this module)
goes through :func:`run_limited`. The child gets ``RLIMIT_AS`` (address space) and ``RLIMIT_CORE``
0 set before it starts, its own session (a timeout kills its whole process group), and an
environment whose ``TMPDIR``/``TEMP``/``HOME`` name a fresh empty folder: Ghostscript 10's
``-dSAFER`` still permits its temp folder, so that folder must hold nothing but the child's own files.

:class:`RenderBudget` is the per-paper time budget: each figure gets the smaller of the
per-figure limit and what the paper has left, so N looping figures cost one budget.
Failures raise :class:`SandboxError` with ``reason`` ``render_timeout`` or ``render_memory``.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
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
    if os.environ.get("PYTHONPATH"):  # the PDFium child imports this package as the parent does
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.Popen(list(cmd), cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=lambda: _limit_child(memory))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise SandboxError("render_timeout", f"{what} took over {timeout:.0f} s") from None
    except BaseException:
        _kill_group(proc)
        raise
    text = (err or b"").decode("utf-8", "replace") + (out or b"").decode("utf-8", "replace")[:2000]
    rc = proc.returncode
    if rc != 0 and any(w in text.lower() for w in _MEMORY_WORDS):
        raise SandboxError("render_memory", f"{what} ran out of its {memory >> 20} MiB memory limit "
                                            f"(exit {rc}: {_first_lines(text)})")
    if rc < 0 and -rc in _MEMORY_SIGNALS:
        raise SandboxError("render_memory", f"{what} killed by {signal.Signals(-rc).name} under its {memory >> 20} MiB "
                                            f"memory limit (a failed allocation, as a rule): {_first_lines(text)}")
    return subprocess.CompletedProcess(proc.args, rc, out, err)


def _first_lines(text: str, n: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[:n])[:300]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def pdfium_command(src: Path, dst: Path, *, dpi: int, max_side: int) -> list[str]:
    """The command that renders ``src``'s first page to ``dst`` (PNG) with pypdfium2 in a child."""
    return [sys.executable, "-m", __name__, str(src), str(dst), str(dpi), str(max_side)]


def _pdfium_main(argv: Optional[Sequence[str]] = None) -> int:
    """The child: render page 1 with PDFium. Exit 2 with a message on a bad PDF."""
    import pypdfium2 as pdfium

    src, dst, dpi, max_side = argv if argv is not None else sys.argv[1:]
    try:
        pdf = pdfium.PdfDocument(src)
        if len(pdf) == 0:
            print("the PDF has no pages", file=sys.stderr)
            return 2
        page = pdf[0]
        w, h = page.get_size()
        scale = min(int(dpi) / 72.0, int(max_side) / max(w, h, 1e-6))
        image = page.render(scale=scale, fill_color=(255, 255, 255, 255)).to_pil()
        image.convert("RGB").save(dst, format="PNG")
    except MemoryError:
        print("MemoryError", file=sys.stderr)
        return 3
    except Exception as e:  # PdfiumError and friends: a bad PDF, reported by the parent
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_pdfium_main())
