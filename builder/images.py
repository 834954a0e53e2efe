"""Image bytes in, storable image bytes out: one place for every Pillow subtlety.

:func:`normalize_image` decides what is stored: PNG and JPEG bytes are kept exactly as they
are when a plain decoder shows them right; everything else (TIFF, GIF, BMP, WebP, 16-bit PNG,
CMYK JPEG) is converted once, here. :func:`to_rgb` is what readers use to turn any decoded
image into RGB (alpha composited onto white, 16-bit scaled, palettes expanded).

Bad images raise :class:`ImageRejected` with a short ``reason`` code for the rejects report:
``empty``, ``undecodable``, ``truncated``, ``decompression_bomb``, ``too_small``.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Optional

from PIL import Image, ImageFile

#: Pillow's own default (about 89.5 M pixels); images over it are rejected, not decoded.
DEFAULT_MAX_PIXELS = 89_478_485


class ImageRejected(ValueError):
    def __init__(self, reason: str, detail: str = ""):
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


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open and fully decode ``data`` with the decompression-bomb guard at ``max_pixels``."""
    if not data:
        raise ImageRejected("empty", "no bytes")
    try:
        with warnings.catch_warnings():  # the size is checked against max_pixels just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise ImageRejected("decompression_bomb", str(e)) from None
    except Exception as e:  # UnidentifiedImageError and friends
        raise ImageRejected("undecodable", f"{type(e).__name__}: {e}") from None
    w, h = img.size
    if max_pixels and w * h > max_pixels:
        raise ImageRejected("decompression_bomb", f"{w}x{h} = {w * h} pixels > limit {max_pixels}")
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageRejected("decompression_bomb", str(e)) from None
    except OSError as e:
        msg = str(e)
        reason = "truncated" if "truncat" in msg.lower() or "broken data stream" in msg.lower() else "undecodable"
        raise ImageRejected(reason, msg) from None
    except Exception as e:
        raise ImageRejected("undecodable", f"{type(e).__name__}: {e}") from None
    return img


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
    if fmt not in ("PNG", "JPEG", "MPO"):
        return f"format {fmt}"
    if fmt == "PNG" and img.mode.startswith("I"):
        return "16-bit PNG"
    if fmt in ("JPEG", "MPO") and img.mode not in ("L", "RGB"):
        return f"JPEG in mode {img.mode}"
    if getattr(img, "n_frames", 1) > 1 and fmt == "PNG":
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
) -> StoredImage:
    """Validate image bytes and return what to store (see the module docstring)."""
    img = _open_checked(data, max_pixels)
    w, h = img.size
    if min(w, h) < min_side:
        raise ImageRejected("too_small", f"{w}x{h} < {min_side} px")
    why = _needs_conversion(img)
    if why is None:
        ext = "png" if img.format == "PNG" else "jpg"
        converted = False
        out = data
        if img.format == "MPO":  # multi-picture JPEG: keep the first frame only
            why = "MPO"
    if why is not None:
        rgb_like = img if img.mode in ("RGB", "RGBA", "L", "LA") else to_rgb(img)
        if img.mode in ("P",):
            rgb_like = img.convert("RGBA" if "transparency" in img.info else "RGB")
        buf = io.BytesIO()
        if img.format in ("JPEG", "MPO"):
            to_rgb(img).save(buf, format="JPEG", quality=95)
            ext = "jpg"
        else:
            rgb_like.save(buf, format="PNG", optimize=False)
            ext = "png"
        out = buf.getvalue()
        converted = True
    return StoredImage(out, ext, w, h, hashlib.sha256(out).hexdigest(), converted)


def sniff_ext(data: bytes) -> Optional[str]:
    """``png`` / ``jpg`` from magic bytes, else None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    return None
