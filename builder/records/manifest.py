"""Manifests: JSON Lines of contract records whose ``image`` is a file path.

This is the generic hand-over format between stages (``ingest`` writes one, ``recaption``
reads and writes one, ``write`` turns one into shards). Image paths are relative to the
manifest's folder (absolute paths are accepted only inside ``image_root``); a path that
leaves its root is rejected, never opened.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.core.atomic import atomic_file

MANIFEST_NAME = "manifest.jsonl"


def safe_join(root: Path, rel: str, *, resolve_links: bool = False) -> Optional[Path]:
    """``root / rel`` if ``rel`` is a relative path that stays inside ``root``, else None.

    The check is lexical (absolute paths, drive letters and ``..`` escapes are refused), so a
    user may symlink an images folder into a manifest's folder. With ``resolve_links`` the
    resolved target must stay inside the resolved root too (for trees built from archives).
    """
    if not rel or "\x00" in rel or "\\" in rel:
        return None
    norm = posixpath.normpath(rel)
    if posixpath.isabs(norm) or norm == "." or norm == ".." or norm.startswith("../") or re.match(r"^[A-Za-z]:", norm):
        return None
    candidate = Path(root) / norm
    if resolve_links:
        real_root = Path(root).resolve()
        if real_root not in candidate.resolve().parents:
            return None
    return candidate


def read_manifest(
    path: str | os.PathLike,
    rejects: Optional[Rejects] = None,
    *,
    image_root: str | os.PathLike | None = None,
    load_images: bool = True,
) -> Iterator[dict[str, Any]]:
    """Yield the records of a manifest, with ``image`` loaded as {bytes, path}.

    Malformed lines and images that cannot be found are added to ``rejects`` (reasons
    ``malformed_json``, ``empty_line``, ``image_outside_root``, ``image_missing``) and skipped.
    """
    path = Path(path)
    root = Path(image_root) if image_root else path.parent
    rejects = rejects if rejects is not None else Rejects()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                rejects.add(None, "<line>", "malformed_json", f"{path.name}:{lineno}: {e}", stage="manifest")
                continue
            if not isinstance(rec, dict):
                rejects.add(None, "<line>", "malformed_json", f"{path.name}:{lineno}: not an object", stage="manifest")
                continue
            img = rec.get("image")
            if isinstance(img, str) and load_images:
                file = safe_join(root, img)
                if file is None:
                    rejects.add(rec.get("key"), "image", "image_outside_root", img, stage="manifest", source=rec.get("source", ""))
                    continue
                try:
                    rec["image"] = {"bytes": file.read_bytes(), "path": img}
                except OSError as e:
                    rejects.add(rec.get("key"), "image", "image_missing", f"{img}: {e.strerror}", stage="manifest", source=rec.get("source", ""))
                    continue
            yield rec


def write_manifest(records: Iterable[dict], path: str | os.PathLike, *, images_dir: str = "images") -> int:
    """Write records as a manifest; image bytes go to ``images_dir/<key>.<ext>`` beside it.

    Returns the number of records written. The manifest appears only when complete.
    """
    from s1mmalign.core.images import sniff_ext

    path = Path(path)
    n = 0
    with atomic_file(path, "w") as f:
        for rec in records:
            rec = dict(rec)
            img = rec.get("image")
            if isinstance(img, dict) and img.get("bytes") is not None:
                data = img["bytes"]
                ext = sniff_ext(data) or Path(img.get("path") or "").suffix.lstrip(".") or "bin"
                rel = f"{images_dir}/{rec['key']}.{ext}"
                target = path.parent / rel
                # Rewrite unless identical: a rerun after a source changed must not keep stale bytes.
                if not (target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data):
                    with atomic_file(target) as g:
                        g.write(data)
                rec["image"] = rel
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n
