"""What every recaption backend implements, and the image each one is handed.

A backend turns a list of :class:`Request` (prompt + RGB image within the pixel cap + the
record's text fields) into one result per request: the raw model text, or an ``Exception``
for that item alone. It never raises for one bad item. ``attempt`` > 0 means a retry of items
whose earlier output failed validation; sampling backends then sample instead of decoding
greedily (greedy decoding would only repeat the same bad output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from PIL import Image

from s1mmalign.builder.stages.recaption.prompt import PROMPT_VERSION, Prompt
from s1mmalign.core.images import ImageRejected, decode_image

#: Default pixel cap for the image sent to a model (Qwen2.5-VL's own default is 12.8 M;
#: 1024 x 1024 keeps ~1300 visual tokens, plenty for a figure).
DEFAULT_MAX_PIXELS = 1024 * 1024


@dataclass
class Request:
    key: str
    prompt: Prompt
    record: Mapping[str, Any]  # title, abstract, citation_contexts, caption (read-only)
    image: Optional[Image.Image] = None  # RGB, at most max_pixels; None when the backend needs none
    extra: dict = field(default_factory=dict)


class Backend:
    """Base class: subclasses set ``name``, ``model``, ``revision`` and implement ``generate``."""

    name: str = ""
    needs_image: bool = True
    prompt_version: str = PROMPT_VERSION
    model: str = ""
    revision: str = "unversioned"

    @property
    def model_string(self) -> str:
        """``backend:model@revision/prompt-vN``: what ``recaption_model`` records."""
        return f"{self.name}:{self.model}@{self.revision}/prompt-{self.prompt_version}"

    def settings(self) -> dict[str, Any]:
        """Generation settings that decide the output (recorded and part of the cache key)."""
        return {}

    def generate(self, requests: Sequence[Request], *, attempt: int = 0) -> list:
        raise NotImplementedError

    def close(self) -> None:
        pass


def prepare_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes to RGB (any mode; bomb guard) and downscale to at most ``max_pixels``.

    Raises :class:`~s1mmalign.core.images.ImageRejected` for bytes that do not decode.
    """
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ImageRejected("empty", "no image bytes")
    img = decode_image(bytes(data))
    w, h = img.size
    if max_pixels and w * h > max_pixels:
        scale = (max_pixels / (w * h)) ** 0.5
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
    return img


def image_bytes(record: Mapping[str, Any]) -> Optional[bytes]:
    img = record.get("image")
    if isinstance(img, Mapping):
        img = img.get("bytes")
    return bytes(img) if isinstance(img, (bytes, bytearray)) else None
