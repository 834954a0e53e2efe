"""Vector figures to PNG: EPS/PS with Ghostscript, PDF with pypdfium2 (poppler's ``pdftoppm`` as fallback).

Why these: Ghostscript (Debian ``ghostscript``) is the reference PostScript interpreter and
the only dependable EPS renderer; PDFs are rendered by pypdfium2 (the ``pdf`` extra, PDFium
wheels, no system dependency); when it is not installed ``pdftoppm`` (Debian ``poppler-utils``)
is used. Only the first page of a PDF is rendered. Every renderer runs in a child process
(:mod:`.sandbox`: private empty temp folder, wall-clock and memory limits; Ghostscript with
``-dSAFER``), so a hostile or broken figure cannot read files, hang the run or take its memory;
a :class:`~.sandbox.RenderBudget` caps the time of all the figures of one paper.

:func:`rasterize` raises :class:`RasterizeError` with a short ``reason`` (``ghostscript_failed``,
``ghostscript_missing``, ``pdf_render_failed``, ``pdf_renderer_missing``, ``render_timeout``,
``render_memory``, ``render_too_large``, ``gzip_too_large``, ``corrupt_figure_file``) for the
rejects report.
"""

from __future__ import annotations

import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Optional

from s1mmalign.builder.sources.sandbox import RenderBudget, SandboxError, render_pdfium, run_limited
from s1mmalign.core.images import LFS_POINTER
from s1mmalign.core.limits import Limits, limits

DEFAULT_DPI = 150
#: Longest side of a rendered figure in pixels; the DPI is lowered for huge pages.
MAX_SIDE = 3000
#: The lowest DPI a huge EPS page is rendered at; a page larger than MAX_SIDE even at it is refused.
MIN_DPI = 36

VECTOR_EXTS = (".eps", ".ps", ".pdf", ".eps.gz", ".ps.gz")


class RasterizeError(RuntimeError):
    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def needs_rasterizing(name: str, data: bytes) -> bool:
    """True for EPS/PS/PDF content (by magic bytes, else by name)."""
    head = data[:8]
    if data.startswith(LFS_POINTER):  # a pointer named .pdf is no PDF: the image check says what it is
        return False
    if head.startswith(b"%PDF") or head.startswith(b"%!PS") or head[:4] == b"\xc5\xd0\xd3\xc6":
        return True
    return name.lower().endswith(VECTOR_EXTS)


def gunzip_bounded(data: bytes, limit: int, what: str) -> bytes:
    """One gzip layer inflated to at most ``limit`` bytes (``gzip_too_large`` beyond it)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise RasterizeError("corrupt_figure_file", f"{what}: bad gzip: {e}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise RasterizeError("gzip_too_large", f"{what}: inflates to more than {limit} bytes")
    if not d.eof:
        raise RasterizeError("corrupt_figure_file", f"{what}: bad gzip: truncated stream")
    return out


def rasterize(name: str, data: bytes, *, dpi: int = DEFAULT_DPI, budget: Optional[RenderBudget] = None,
              lim: Optional[Limits] = None, page: int = 1) -> bytes:
    """PNG bytes of the figure in ``data`` (EPS, PS, gzipped EPS, or PDF; see the module docstring);
    ``page``: the PDF page to render (``includegraphics[page=N]``).

    ``budget`` is the paper's render budget (a fresh one of ``Limits.render_seconds`` when None).
    """
    lim = lim or limits()
    budget = budget or RenderBudget(lim.render_seconds, lim.render_seconds)
    if name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
        data = gunzip_bounded(data, lim.gzip_bytes, name)
    try:
        timeout = budget.timeout()
    except SandboxError as e:
        raise RasterizeError(e.reason, f"{name}: {e.detail}") from None
    if data[:4] == b"%PDF" or (name.lower().endswith(".pdf") and b"%PDF" in data[:1024]):
        return render_pdf(data, dpi=dpi, timeout=timeout, memory=lim.render_memory, page=page)
    return render_eps(data, dpi=dpi, timeout=timeout, memory=lim.render_memory)


def _dos_eps_payload(data: bytes) -> bytes:
    """The PostScript section of a DOS EPS binary (with a TIFF/WMF preview header)."""
    if data[:4] != b"\xc5\xd0\xd3\xc6":
        return data
    start = int.from_bytes(data[4:8], "little")
    length = int.from_bytes(data[8:12], "little")
    return data[start:start + length]


def render_eps(data: bytes, *, dpi: int = DEFAULT_DPI, timeout: float = 60.0, memory: int = 2 << 30) -> bytes:
    """Render EPS/PS with Ghostscript, cropped to the bounding box, antialiased."""
    gs = shutil.which("gs")
    if gs is None:
        raise RasterizeError("ghostscript_missing", "install Ghostscript (Debian: apt-get install ghostscript)")
    data = _dos_eps_payload(data)
    size = _eps_bbox_size(data)
    if size:
        longest = max(size) / 72.0
        if longest * MIN_DPI > 4 * MAX_SIDE:
            raise RasterizeError("render_too_large", f"BoundingBox {size[0]:.0f}x{size[1]:.0f} pt is over "
                                                     f"{4 * MAX_SIDE} px even at {MIN_DPI} dpi")
        dpi = max(MIN_DPI, min(dpi, int(MAX_SIDE / max(longest, 1e-6))))
    with tempfile.TemporaryDirectory(prefix="s1mm-gs-") as tmp:
        src, dst = Path(tmp) / "in.eps", Path(tmp) / "out.png"
        src.write_bytes(data)
        cmd = [gs, "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dQUIET", "-dEPSCrop", "-dFirstPage=1", "-dLastPage=1",
               "-sDEVICE=png16m", f"-r{dpi}", "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4",
               f"-sOutputFile={dst}", str(src)]
        try:
            proc = run_limited(cmd, tmp=Path(tmp), timeout=timeout, memory=memory, what="ghostscript")
        except SandboxError as e:
            raise RasterizeError(e.reason, e.detail) from None
        out = dst.read_bytes() if dst.exists() else b""
        if proc.returncode != 0 or not out:
            msg = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
            raise RasterizeError("ghostscript_failed", f"exit {proc.returncode}: {' | '.join(msg[:3])[:300]}")
        return out


def _eps_bbox_size(data: bytes) -> tuple[float, float] | None:
    import re

    m = re.search(rb"%%BoundingBox:\s*(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)", data[:65536])
    if not m:
        return None
    x0, y0, x1, y1 = (float(v) for v in m.groups())
    return (abs(x1 - x0), abs(y1 - y0))


def render_pdf(data: bytes, *, dpi: int = DEFAULT_DPI, timeout: float = 60.0, memory: int = 2 << 30,
               renderer: Optional[str] = None, page: int = 1) -> bytes:
    """Render page ``page`` (default the first) of a PDF in a child process: ``renderer`` ``pdfium`` (pypdfium2) or
    ``pdftoppm``; by default pypdfium2 when installed, else ``pdftoppm``."""
    if renderer is None:
        try:
            import pypdfium2  # noqa: F401
        except ImportError:
            renderer = "pdftoppm"
        else:
            renderer = "pdfium"
    exe = shutil.which("pdftoppm") if renderer == "pdftoppm" else None
    if renderer == "pdftoppm" and exe is None:
        raise RasterizeError("pdf_renderer_missing", "pip install 's1mmalign[pdf]' (pypdfium2) or apt-get install poppler-utils")
    with tempfile.TemporaryDirectory(prefix="s1mm-pdf-") as tmp:
        src, dst = Path(tmp) / "in.pdf", Path(tmp) / "out.png"
        src.write_bytes(data)
        try:
            if renderer == "pdfium":
                proc = render_pdfium(src, dst, dpi=dpi, max_side=MAX_SIDE, tmp=Path(tmp), timeout=timeout, memory=memory,
                                     page=page)
            else:
                cmd = [exe, "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(src), str(Path(tmp) / "out")]
                proc = run_limited(cmd, tmp=Path(tmp), timeout=timeout, memory=memory, what=renderer)
        except SandboxError as e:
            raise RasterizeError(e.reason, e.detail) from None
        if proc.returncode != 0 or not dst.exists():
            msg = (proc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
            raise RasterizeError("pdf_render_failed", f"{renderer} exit {proc.returncode}: {' | '.join(msg[-3:])[:300]}")
        return dst.read_bytes()
