"""Vector figures to PNG: EPS/PS with Ghostscript, PDF with pypdfium2 (poppler's ``pdftoppm`` as fallback).

Why these: Ghostscript (Debian ``ghostscript``) is the reference PostScript interpreter and
the only dependable EPS renderer; it runs in a subprocess with ``-dSAFER`` and a timeout, so
a hostile or broken EPS cannot read files or hang the run. PDFs are rendered in-process by
pypdfium2 (the ``pdf`` extra, PDFium wheels, no system dependency); when it is not installed
``pdftoppm`` (Debian ``poppler-utils``) is used. Only the first page of a PDF is rendered.

:func:`rasterize` raises :class:`RasterizeError` with a short ``reason`` (``ghostscript_failed``,
``ghostscript_missing``, ``pdf_render_failed``, ``pdf_renderer_missing``, ``timeout``) for
the rejects report.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT_DPI = 150
#: Longest side of a rendered figure in pixels; the DPI is lowered for huge pages.
MAX_SIDE = 3000
TIMEOUT_S = 60

VECTOR_EXTS = (".eps", ".ps", ".pdf", ".eps.gz", ".ps.gz")


class RasterizeError(RuntimeError):
    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def needs_rasterizing(name: str, data: bytes) -> bool:
    """True for EPS/PS/PDF content (by magic bytes, else by name)."""
    head = data[:8]
    if head.startswith(b"%PDF") or head.startswith(b"%!PS") or head[:4] == b"\xc5\xd0\xd3\xc6":
        return True
    return name.lower().endswith(VECTOR_EXTS)


def rasterize(name: str, data: bytes, *, dpi: int = DEFAULT_DPI) -> bytes:
    """PNG bytes of the figure in ``data`` (EPS, PS, gzipped EPS, or PDF; see the module docstring)."""
    if name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise RasterizeError("corrupt_figure_file", f"{name}: bad gzip: {e}") from None
    if data[:4] == b"%PDF" or (name.lower().endswith(".pdf") and b"%PDF" in data[:1024]):
        return render_pdf(data, dpi=dpi)
    return render_eps(data, dpi=dpi)


def _dos_eps_payload(data: bytes) -> bytes:
    """The PostScript section of a DOS EPS binary (with a TIFF/WMF preview header)."""
    if data[:4] != b"\xc5\xd0\xd3\xc6":
        return data
    start = int.from_bytes(data[4:8], "little")
    length = int.from_bytes(data[8:12], "little")
    return data[start:start + length]


def render_eps(data: bytes, *, dpi: int = DEFAULT_DPI) -> bytes:
    """Render EPS/PS with Ghostscript, cropped to the bounding box, antialiased."""
    gs = shutil.which("gs")
    if gs is None:
        raise RasterizeError("ghostscript_missing", "install Ghostscript (Debian: apt-get install ghostscript)")
    data = _dos_eps_payload(data)
    with tempfile.TemporaryDirectory(prefix="s1mm-gs-") as tmp:
        src, dst = Path(tmp) / "in.eps", Path(tmp) / "out.png"
        src.write_bytes(data)
        size = _eps_bbox_size(data)
        if size:
            longest = max(size) / 72.0
            dpi = max(36, min(dpi, int(MAX_SIDE / max(longest, 1e-6))))
        cmd = [gs, "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dQUIET", "-dEPSCrop", "-dFirstPage=1", "-dLastPage=1",
               "-sDEVICE=png16m", f"-r{dpi}", "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4",
               f"-sOutputFile={dst}", str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise RasterizeError("timeout", f"ghostscript took over {TIMEOUT_S} s") from None
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


def render_pdf(data: bytes, *, dpi: int = DEFAULT_DPI) -> bytes:
    """Render the first page of a PDF (pypdfium2, else ``pdftoppm``)."""
    try:
        import pypdfium2  # noqa: F401
    except ImportError:
        return _render_pdf_poppler(data, dpi=dpi)
    return _render_pdf_pdfium(data, dpi=dpi)


def _render_pdf_pdfium(data: bytes, *, dpi: int) -> bytes:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception as e:  # PdfiumError
        raise RasterizeError("pdf_render_failed", f"{type(e).__name__}: {e}") from None
    try:
        if len(pdf) == 0:
            raise RasterizeError("pdf_render_failed", "the PDF has no pages")
        page = pdf[0]
        w, h = page.get_size()
        scale = min(dpi / 72.0, MAX_SIDE / max(w, h, 1e-6))
        image = page.render(scale=scale, fill_color=(255, 255, 255, 255)).to_pil()
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG")
        return buf.getvalue()
    except RasterizeError:
        raise
    except Exception as e:
        raise RasterizeError("pdf_render_failed", f"{type(e).__name__}: {e}") from None
    finally:
        pdf.close()


def _render_pdf_poppler(data: bytes, *, dpi: int) -> bytes:
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise RasterizeError("pdf_renderer_missing", "pip install 's1mmalign[pdf]' (pypdfium2) or apt-get install poppler-utils")
    with tempfile.TemporaryDirectory(prefix="s1mm-pdf-") as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        cmd = [exe, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(src), str(Path(tmp) / "out")]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RasterizeError("timeout", f"pdftoppm took over {TIMEOUT_S} s") from None
        out = Path(tmp) / "out.png"
        if proc.returncode != 0 or not out.exists():
            raise RasterizeError("pdf_render_failed", proc.stderr.decode("utf-8", "replace").strip()[:300])
        return out.read_bytes()
