"""Record filters: drop figures too small (in pixels), too large, too elongated, blank, or without a caption.

``filter_records(batch, rejects, options)`` is a stage (``list[dict] -> list[dict]``); each
dropped record is a reject with one of these reasons (checked in this order):

=====================  ========================================================================
``no_image``           no image bytes
``undecodable``        Pillow cannot read the image header
``too_small``          a side under ``min_side`` pixels (icons, rules, bullets)
``too_few_pixels``     width x height under ``min_pixels``
``too_large``          more pixels than ``max_pixels`` (decompression-bomb guard)
``extreme_aspect``     long side / short side over ``max_aspect`` (strips, rules, banners)
``blank``              an image file under ``blank_check_bytes`` whose pixels differ from its
                       background on less than ``min_ink`` of the area (empty or white pages)
``empty_caption``      caption with fewer than ``min_caption_chars`` non-space characters
=====================  ========================================================================

Size is judged on pixels, never on bytes: a flat line drawing of 270x180 px is a few hundred
bytes of PNG. Few bytes only make a file suspect: those (and only those) are decoded to look
for ink. Sizes come from ``width``/``height`` when the reader filled them, else from the image
header. Options are plain numbers, so a run's settings can be logged as JSON. The counts by
reason are in the ``Rejects`` passed in (and so in the build report's ``rejects_by_reason``).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Optional

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.core.images import DEFAULT_MAX_PIXELS, MIN_SIDE

STAGE = "filter"


@dataclass(frozen=True)
class FilterOptions:
    min_side: int = MIN_SIDE
    min_pixels: int = 10_000
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_aspect: float = 8.0
    blank_check_bytes: int = 5 * 1024
    min_ink: float = 0.0005
    min_caption_chars: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def _size(rec: dict, data: bytes) -> tuple[int, int]:
    w, h = rec.get("width"), rec.get("height")
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:  # reads the header only
        return im.size


def ink_fraction(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> float:
    """Fraction of pixels differing (by more than 32 in a channel) from the median border colour."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if max_pixels and im.width * im.height > max_pixels:
            raise ValueError(f"{im.width}x{im.height} pixels in the file > {max_pixels}")
        a = np.asarray(im.convert("RGB"), dtype=np.int16)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    bg = np.median(border, axis=0)
    return float((np.abs(a - bg).max(axis=2) > 32).mean())


def why_rejected(rec: dict, options: FilterOptions) -> Optional[tuple[str, str, str]]:
    """(field, reason, detail) when ``rec`` fails a filter, else None."""
    img = rec.get("image")
    data = img.get("bytes") if isinstance(img, dict) else img
    if not isinstance(data, (bytes, bytearray)) or not data:
        return "image", "no_image", "no image bytes"
    data = bytes(data)
    try:
        w, h = _size(rec, data)
    except Exception as e:  # UnidentifiedImageError, truncated header, ...
        return "image", "undecodable", f"{type(e).__name__}: {e}"
    if min(w, h) < options.min_side:
        return "image", "too_small", f"{w}x{h}: a side < {options.min_side} px"
    if w * h < options.min_pixels:
        return "image", "too_few_pixels", f"{w}x{h} = {w * h} pixels < {options.min_pixels}"
    if options.max_pixels and w * h > options.max_pixels:
        return "image", "too_large", f"{w}x{h} = {w * h} pixels > {options.max_pixels}"
    aspect = max(w, h) / min(w, h)
    if aspect > options.max_aspect:
        return "image", "extreme_aspect", f"{w}x{h}: aspect {aspect:.1f} > {options.max_aspect}"
    if len(data) < options.blank_check_bytes:
        try:
            ink = ink_fraction(data, options.max_pixels)
        except Exception as e:  # a header that reads, pixels that do not
            return "image", "undecodable", f"{type(e).__name__}: {e}"
        if ink < options.min_ink:
            return "image", "blank", f"{w}x{h}, {len(data)} bytes: ink on {ink:.2%} of the area < {options.min_ink:.2%}"
    caption = rec.get("caption")
    if not isinstance(caption, str) or len("".join(caption.split())) < options.min_caption_chars:
        shown = caption.strip()[:40] if isinstance(caption, str) else caption
        return "caption", "empty_caption", f"caption {shown!r} has < {options.min_caption_chars} characters"
    return None


def filter_records(batch: list[dict], rejects: Rejects, options: Optional[FilterOptions] = None) -> list[dict]:
    """Keep the records that pass every filter; the others become rejects (stage ``filter``)."""
    options = options or FilterOptions()
    out = []
    for rec in batch:
        why = why_rejected(rec, options)
        if why is None:
            out.append(rec)
        else:
            field, reason, detail = why
            rejects.add(rec.get("key"), field, reason, detail, stage=STAGE, source=rec.get("source", ""))
    return out
