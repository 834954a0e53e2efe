"""Image bytes in, storable image bytes out: one place for every Pillow subtlety.

:func:`normalize_image` decides what is stored: PNG and JPEG bytes are kept exactly as they
are when a plain decoder shows them right; everything else (TIFF, GIF, BMP, WebP, 16-bit PNG,
CMYK JPEG) is converted once, here. :func:`to_rgb` is what readers use to turn any decoded
image into RGB (alpha composited onto white, 16-bit scaled, palettes expanded).

Bad images raise :class:`ImageRejected` with a short ``reason`` code for the rejects report:
``empty``, ``undecodable``, ``svg_not_rendered``, ``git_lfs_pointer``, ``truncated``, ``decompression_bomb``,
``too_small``.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
import zlib

try:  # ISA-L's CRC-32 is ~9x zlib's (the PNG check runs it over every byte), its inflate ~2x
    from isal import isal_zlib as _inflate
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover - isal is a dependency
    _inflate = zlib
    _crc32 = zlib.crc32
from dataclasses import dataclass
from typing import Optional

from PIL import Image, ImageFile

#: Pillow's own default (about 89.5 M pixels); images over it are rejected, not decoded.
DEFAULT_MAX_PIXELS = 89_478_485
#: The shortest side a figure may have: ingest's filters keep it (``FilterOptions.min_side``) and
#: ``write`` stores nothing smaller (``too_small``).
MIN_SIDE = 64


#: ``<_io.BytesIO object at 0x7f...>`` in Pillow's messages: an address that differs run to run.
_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9A-Fa-f]+>")


class ImageRejected(ValueError):
    """A bad image: ``reason`` (a code) and ``detail``, with no memory address (reports stay byte-stable)."""

    def __init__(self, reason: str, detail: str = ""):
        detail = _ADDRESS.sub(r"<\1 object>", detail)
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class StoredImage:
    data: bytes
    ext: str  # "png" or "jpg"
    width: int
    height: int
    sha256: str
    converted: bool  # True when the bytes were re-encoded


#: How much of an image is decoded to accept it. ``full`` decodes every pixel. ``fast`` decodes
#: none: it checks a PNG's chunk CRCs up to its IEND (corrupt or truncated bytes fail) and that
#: its image data inflates to the size its header declares (inflated and dropped, not
#: unfiltered), and a JPEG's segments, its end-of-image marker after the scan (truncated files
#: fail) and that its scan data can fill its frame (both modes); arithmetic-coded JPEGs and
#: images that must be converted are always decoded in full.
CHECKS = ("full", "fast")


#: How a Git LFS pointer file starts: the repository holds this small text where the image would be.
LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open ``data`` (header only) with the decompression-bomb guard at ``max_pixels``."""
    if not data:
        raise ImageRejected("empty", "no bytes")
    try:
        with warnings.catch_warnings():  # the size is checked against max_pixels just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise ImageRejected("decompression_bomb", str(e)) from None
    except Exception as e:  # UnidentifiedImageError and friends
        head = data[:4096].lstrip()
        if head.startswith(LFS_POINTER):
            raise ImageRejected("git_lfs_pointer", "a Git LFS pointer, not the image: fetch the files with "
                                                   "`git lfs pull` in the source repository") from None
        if head.startswith((b"<svg", b"<?xml", b"<!")) and re.search(rb"<svg[\s>]", head):
            raise ImageRejected("svg_not_rendered", "an SVG drawing: no SVG renderer is used (a PDF or PNG copy of the "
                                                    "figure in the source would be)") from None
        raise ImageRejected("undecodable", f"{type(e).__name__}: {e}") from None
    w, h = img.size
    if max_pixels and w * h > max_pixels:
        raise ImageRejected("decompression_bomb", f"{w}x{h} = {w * h} pixels > limit {max_pixels}")
    return img


def _decode_errors(action) -> None:
    """Run ``action`` (a decode or verify), mapping Pillow's errors to reject reasons."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            action()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageRejected("decompression_bomb", str(e)) from None
    except Exception as e:  # OSError, SyntaxError (broken PNG), EOFError, zlib errors, ...
        msg = f"{type(e).__name__}: {e}"
        low = msg.lower()
        reason = "truncated" if any(w in low for w in ("truncat", "broken data stream", "eof")) else "undecodable"
        raise ImageRejected(reason, msg) from None


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open and fully decode ``data`` with the decompression-bomb guard."""
    img = _open(data, max_pixels)
    _decode_errors(img.load)
    return img


def _png_chunks(data: bytes) -> bool:
    """Every chunk's CRC up to IEND, as Pillow's ``verify()`` does, on the bytes already in hand.

    Returns True for an animated PNG (an ``acTL`` chunk), which is converted, not stored."""
    n, pos, view = len(data), 8, memoryview(data)
    idat: list = []
    animated = False
    while True:
        if pos + 12 > n:
            raise ImageRejected("truncated", f"PNG ends at byte {n}, before its IEND chunk")
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + int.from_bytes(data[pos : pos + 4], "big")
        if not ctype.isalpha():
            raise ImageRejected("undecodable", f"PNG chunk type {ctype!r} at byte {pos}")
        if end > n:
            raise ImageRejected("truncated", f"PNG chunk {ctype.decode()} at byte {pos} is cut short at byte {n}")
        if _crc32(view[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            raise ImageRejected("undecodable", f"PNG chunk {ctype.decode()} at byte {pos}: CRC mismatch")
        if ctype == b"IDAT":
            idat.append(view[pos + 8 : end - 4])
        animated = animated or ctype == b"acTL"
        if ctype == b"IEND":
            if not idat:
                raise ImageRejected("undecodable", "PNG without image data (no IDAT chunk)")
            if not animated:
                _png_inflates_to_size(data, idat)
            return animated
        pos = end


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(w: int, h: int, depth: int, ctype: int, interlaced: bool) -> int:
    """Bytes the IDAT stream must inflate to: rows of filter byte + packed pixels (per Adam7 pass)."""
    bits = depth * _PNG_CHANNELS.get(ctype, 4)
    if not interlaced:
        return h * (1 + (w * bits + 7) // 8)
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        pw, ph = (w - x0 + dx - 1) // dx, (h - y0 + dy - 1) // dy
        if pw > 0 and ph > 0:
            total += ph * (1 + (pw * bits + 7) // 8)
    return total


def _png_inflates_to_size(data: bytes, idat: list) -> None:
    """The IDAT stream inflates (ISA-L) to at least the size IHDR declares: garbage data and an
    IHDR claiming more rows than the data holds fail here, as they fail a decoder. Output is
    counted in 1 MiB pieces and dropped, never held."""
    if data[12:16] != b"IHDR" or len(data) < 33:
        raise ImageRejected("undecodable", "PNG does not start with its IHDR chunk")
    need = _png_raw_size(int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), data[24], data[25],
                         data[28] == 1)
    d, got = _inflate.decompressobj(), 0
    try:
        for span in idat:
            buf = span
            while buf and got < need:
                got += len(d.decompress(buf, 1 << 20))
                buf = d.unconsumed_tail
            if got >= need:
                return
        while got < need and (more := d.decompress(b"", 1 << 20)):  # ISA-L may hold output back once it
            got += len(more)  # has read all the input: ask for the rest
        if got >= need:
            return
    except _inflate.error as e:
        raise ImageRejected("undecodable", f"PNG image data does not inflate: {e}") from None
    raise ImageRejected("truncated", f"PNG image data inflates to {got} bytes, its header declares {need}")


@dataclass
class _JpegFrame:
    precision: int = 0
    width: int = 0
    height: int = 0
    components: int = 0
    multi_picture: bool = False  # an MPF segment (MPO: Pillow opens it as several frames)
    arithmetic: bool = False  # arithmetic-coded (SOF9-SOF15): no cheap bound on its data size


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start of frame, all coding processes


def _jpeg_segments(data: bytes) -> _JpegFrame:
    """Well-formed segments up to the first scan, and an end-of-image marker after it.

    In entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker, so an
    EOI found after the first scan header is the real end: a file cut anywhere fails. Bit
    flips inside the scan data are not caught (libjpeg mostly decodes through them with a
    warning anyway); ``full`` decodes every pixel.
    """
    n, pos = len(data), 2
    frame = _JpegFrame()
    while True:
        if pos + 4 > n:
            raise ImageRejected("truncated", f"JPEG ends at byte {n}, before its scan data")
        if data[pos] != 0xFF:
            raise ImageRejected("undecodable", f"JPEG: no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            raise ImageRejected("undecodable", "JPEG ends before its first scan")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > n:
            raise ImageRejected("truncated", f"JPEG segment 0xFF{marker:02X} at byte {pos} is cut short")
        if marker in _SOF_MARKERS and length >= 8 and not frame.components:
            frame.precision, frame.components = data[pos + 4], data[pos + 9]
            frame.height, frame.width = int.from_bytes(data[pos + 5 : pos + 7], "big"), int.from_bytes(data[pos + 7 : pos + 9], "big")
            frame.arithmetic = marker >= 0xC9
        elif marker == 0xE2 and data[pos + 4 : pos + 8] == b"MPF\0":
            frame.multi_picture = True
        pos += 2 + length
        if marker == 0xDA:  # start of scan
            break
    eoi = data.rfind(b"\xff\xd9", pos)
    if eoi < 0:
        raise ImageRejected("truncated", "JPEG has no end-of-image marker after its scan data")
    # Huffman coding spends at least one bit per 8x8 block of the full-resolution component
    # (a DC code; progressive DC scans too): a frame larger than the scan bytes can fill is refused
    # here, before any decoder pads it out (libjpeg does, with a warning).
    blocks = ((frame.width + 7) // 8) * ((frame.height + 7) // 8)
    if not frame.arithmetic and blocks > 8 * (eoi - pos):
        raise ImageRejected("truncated", f"JPEG frame {frame.width}x{frame.height} needs at least {blocks // 8} bytes "
                                         f"of scan data, it has {eoi - pos}")
    return frame


#: (bit depth, colour type) of PNGs stored as they are: all the PNG spec allows except 16-bit grey.
_PNG_PLAIN = frozenset({(1, 0), (2, 0), (4, 0), (8, 0), (8, 2), (16, 2), (1, 3), (2, 3), (4, 3), (8, 3),
                        (8, 4), (16, 4), (8, 6), (16, 6)})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_size(w: int, h: int, max_pixels: int, min_side: int) -> None:
    if max_pixels and w * h > max_pixels:
        raise ImageRejected("decompression_bomb", f"{w}x{h} = {w * h} pixels > limit {max_pixels}")
    if min(w, h) < min_side:
        raise ImageRejected("too_small", f"{w}x{h} < {min_side} px")


def _plain_as_is(data: bytes, max_pixels: int, min_side: int) -> Optional[tuple[str, int, int]]:
    """The ``fast`` check without Pillow: (ext, width, height) of a PNG or JPEG whose header and
    structure show it is stored as it is (8-bit JPEG in L/RGB, PNG not 16-bit grey, not animated,
    not multi-picture); None for anything else, which goes through Pillow."""
    if data[:8] == PNG_SIGNATURE:
        if len(data) < 33 or data[8:16] != b"\0\0\0\rIHDR" or data[26:29] not in (b"\0\0\0", b"\0\0\1") \
                or (data[24], data[25]) not in _PNG_PLAIN:
            return None
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if not (w and h):
            return None
        _check_size(w, h, max_pixels, min_side)
        return None if _png_chunks(data) else ("png", w, h)
    if data[:3] == b"\xff\xd8\xff":
        f = _jpeg_segments(data)
        if f.precision != 8 or f.components not in (1, 3) or f.multi_picture or f.arithmetic or not (f.width and f.height):
            return None
        _check_size(f.width, f.height, max_pixels, min_side)
        return "jpg", f.width, f.height
    return None


def to_rgb(img: Image.Image) -> Image.Image:
    """Any decoded image as RGB: 16-bit scaled to 8-bit, CMYK converted, alpha on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        img = Image.fromarray((np.clip(arr / top, 0, 1) * 255 + 0.5).astype("uint8"), "L")
    elif img.mode == "F":
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        img = Image.fromarray(((arr - lo) / max(hi - lo, 1e-12) * 255 + 0.5).astype("uint8"), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
    if img.mode == "RGBA" and img.getchannel("A").getextrema()[0] == 255:
        return img.convert("RGB")  # opaque (most matplotlib figures): same pixels, no compositing
    if img.mode in ("RGBA", "RGBa"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if img.mode == "L" and "transparency" in img.info:
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


def _needs_conversion(img: Image.Image) -> Optional[str]:
    """Why the original bytes cannot be stored as they are, or None."""
    fmt = img.format
    if fmt not in ("PNG", "JPEG"):
        return f"format {fmt}"  # TIFF, GIF, BMP, WebP, MPO (multi-picture JPEG) ...
    if fmt == "PNG" and img.mode.startswith("I"):
        return "16-bit PNG"
    if fmt == "JPEG" and img.mode not in ("L", "RGB"):
        return f"JPEG in mode {img.mode}"
    if fmt == "PNG" and getattr(img, "n_frames", 1) > 1:
        return "animated PNG"
    return None


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode bytes to an RGB PIL image with the bomb guard (what loaders use)."""
    return to_rgb(_open_checked(data, max_pixels))


def normalize_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = 1,
    check: str = "full",
) -> StoredImage:
    """Validate image bytes and return what to store (see the module docstring and CHECKS)."""
    if check not in CHECKS:
        raise ValueError(f"check must be one of {CHECKS}, got {check!r}")
    plain = _plain_as_is(data, max_pixels, min_side) if check == "fast" else None
    if plain is not None:
        return StoredImage(data, plain[0], plain[1], plain[2], hashlib.sha256(data).hexdigest(), False)
    img = _open(data, max_pixels)
    w, h = img.size
    _check_size(w, h, 0, min_side)
    # Structure first, in both modes: cheap, and Pillow pads out a JPEG frame or a PNG whose
    # data stops short (a clean zlib end) instead of failing.
    if img.format == "JPEG" and _jpeg_segments(data).arithmetic:
        check = "full"
    elif img.format == "PNG":
        _png_chunks(data)
    if _needs_conversion(img) is None:
        if check == "full":
            _decode_errors(img.load)
        ext = "png" if img.format == "PNG" else "jpg"
        return StoredImage(data, ext, w, h, hashlib.sha256(data).hexdigest(), False)
    _decode_errors(img.load)
    buf = io.BytesIO()
    if img.format in ("JPEG", "MPO"):  # photographic: stay JPEG
        to_rgb(img).save(buf, format="JPEG", quality=95)
        ext = "jpg"
    else:  # keep alpha and greyscale where PNG can hold them; everything else as RGB
        keep = img if img.mode in ("RGB", "RGBA", "L", "LA") else None
        if keep is None and img.mode == "P":
            keep = img.convert("RGBA" if "transparency" in img.info else "RGB")
        (keep or to_rgb(img)).save(buf, format="PNG")
        ext = "png"
    out = buf.getvalue()
    return StoredImage(out, ext, w, h, hashlib.sha256(out).hexdigest(), True)


def sniff_ext(data: bytes) -> Optional[str]:
    """``png`` / ``jpg`` from magic bytes, else None."""
    if data[:8] == PNG_SIGNATURE:
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    return None
