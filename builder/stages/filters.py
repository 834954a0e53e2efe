"""Record filters: drop figures too small, too light, too elongated, or without a caption.

``filter_records(batch, rejects, options)`` is a stage (``list[dict] -> list[dict]``); each
dropped record is a reject with one of these reasons (checked in this order):

=====================  ========================================================================
``no_image``           no image bytes
``too_few_bytes``      image file under ``min_bytes`` (default 5 KB: icons, blank or broken files)
``undecodable``        Pillow cannot read the image header
``too_small``          shorter side under ``min_side`` pixels
``too_large``          more pixels than ``max_pixels`` (decompression-bomb guard)
``extreme_aspect``     long side / short side over ``max_aspect`` (strips, rules, banners)
``empty_caption``      caption with fewer than ``min_caption_chars`` non-space characters
=====================  ========================================================================

Sizes come from ``width``/``height`` when the reader filled them, else from the image header
(no full decode). Options are plain numbers, so a run's settings can be logged as JSON.
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
    min_bytes: int = 5 * 1024
    min_side: int = MIN_SIDE
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_aspect: float = 8.0
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


def why_rejected(rec: dict, options: FilterOptions) -> Optional[tuple[str, str, str]]:
    """(field, reason, detail) when ``rec`` fails a filter, else None."""
    img = rec.get("image")
    data = img.get("bytes") if isinstance(img, dict) else img
    if not isinstance(data, (bytes, bytearray)) or not data:
        return "image", "no_image", "no image bytes"
    if len(data) < options.min_bytes:
        return "image", "too_few_bytes", f"{len(data)} bytes < {options.min_bytes}"
    try:
        w, h = _size(rec, bytes(data))
    except Exception as e:  # UnidentifiedImageError, truncated header, ...
        return "image", "undecodable", f"{type(e).__name__}: {e}"
    if min(w, h) < options.min_side:
        return "image", "too_small", f"{w}x{h}: shorter side < {options.min_side} px"
    if options.max_pixels and w * h > options.max_pixels:
        return "image", "too_large", f"{w}x{h} = {w * h} pixels > {options.max_pixels}"
    aspect = max(w, h) / min(w, h)
    if aspect > options.max_aspect:
        return "image", "extreme_aspect", f"{w}x{h}: aspect {aspect:.1f} > {options.max_aspect}"
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
