"""One record made ready to store: image normalised, fields derived from it filled, contract checked."""

from __future__ import annotations

from typing import Any, Optional

from s1mmalign.core import contract
from s1mmalign.core.images import DEFAULT_MAX_PIXELS, MIN_SIDE, ImageRejected, StoredImage, normalize_image
from s1mmalign.core.limits import limits


def prepare_record(rec: dict[str, Any], *, max_pixels: int = DEFAULT_MAX_PIXELS,
                   image_check: str = "fast", max_text_chars: Optional[int] = None) -> tuple[dict, StoredImage]:
    """Normalise the image, fill the fields derived from it, and validate the record.

    Raises ``contract.RecordError`` (field + reason). Derived fields: ``width``, ``height``,
    ``image_sha256``; ``discipline`` from ``categories`` and ``modality`` = ``other`` when absent.
    ``image_check`` is ``images.CHECKS``' ``fast`` (CRCs / reduced decode) or ``full``; images
    with a side under ``images.MIN_SIDE`` are rejected (``too_small``).
    ``max_text_chars`` (default ``Limits.caption_chars``) bounds captions and the other free texts.
    """
    key = rec.get("key") if isinstance(rec.get("key"), str) else None
    img = rec.get("image")
    if isinstance(img, (bytes, bytearray)):
        img = {"bytes": bytes(img), "path": None}
    if not isinstance(img, dict) or not isinstance(img.get("bytes"), (bytes, bytearray)):
        raise contract.RecordError(key, "image", "missing image bytes")
    try:
        stored = normalize_image(bytes(img["bytes"]), max_pixels=max_pixels, check=image_check, min_side=MIN_SIDE)
    except ImageRejected as e:
        raise contract.RecordError(key, "image", f"{e.reason}: {e.detail}") from None
    rec = dict(rec)
    rec["image"] = {"bytes": stored.data, "path": img.get("path")}
    rec["width"], rec["height"], rec["image_sha256"] = stored.width, stored.height, stored.sha256
    if rec.get("discipline") is None and "categories" in rec:
        try:
            rec["discipline"] = contract.discipline_for_tags(rec["categories"], title=rec.get("title"), abstract=rec.get("abstract"))
        except TypeError:
            pass  # validation reports the bad categories field
    rec.setdefault("modality", "other")
    if max_text_chars is None:
        max_text_chars = limits().caption_chars
    return contract.validate_record(rec, max_text_chars=max_text_chars), stored


def reason_of(err: contract.RecordError) -> str:
    """A short, countable reason code from a RecordError."""
    if err.field == "image":
        return err.reason.split(":", 1)[0].replace(" ", "_")
    if err.reason.startswith("missing"):
        return "missing_field"
    if err.reason.startswith("unknown discipline"):
        return "unknown_discipline"
    if err.reason.startswith("unknown modality"):
        return "unknown_modality"
    if err.reason.startswith("unknown field"):
        return "unknown_field"
    if err.reason.startswith("too large"):
        return "field_too_large"
    if err.reason.startswith("empty"):
        return "empty_caption"
    return "bad_field"
