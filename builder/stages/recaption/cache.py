"""Content-addressed recaption cache: a rerun recomputes nothing already done.

The key is the sha256 of everything that decides the output: the image bytes' sha256, the
prompt inputs (title, abstract, citation contexts, caption), the model string
(``backend:model@revision/prompt-vN``) and the generation settings. One small JSON file per
entry under ``<dir>/<2 hex>/<64 hex>.json``, written atomically, so several workers can share
one cache folder and a crash never leaves a half entry. Only successful recaptions are
cached: failures are retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from s1mmalign.core.atomic import write_text_atomic

PROMPT_FIELDS = ("title", "abstract", "citation_contexts", "caption")


def image_digest(record: Mapping[str, Any]) -> str:
    """The record's ``image_sha256``, or the sha256 of its image bytes."""
    sha = record.get("image_sha256")
    if isinstance(sha, str) and len(sha) == 64:
        return sha
    img = record.get("image")
    data = img.get("bytes") if isinstance(img, Mapping) else img
    return hashlib.sha256(data or b"").hexdigest()


def cache_key(record: Mapping[str, Any], model: str, settings: Mapping[str, Any]) -> str:
    payload = {
        "image": image_digest(record),
        **{f: record.get(f) for f in PROMPT_FIELDS},
        "model": model,
        "settings": dict(settings),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def default_cache_dir() -> Path:
    env = os.environ.get("S1MMALIGN_RECAPTION_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "s1mmalign" / "recaption"


class RecaptionCache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Optional[dict]:
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("recaption"), str):
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        write_text_atomic(self._path(key), json.dumps(dict(entry), ensure_ascii=False))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0
