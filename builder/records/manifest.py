"""Manifests: JSON Lines of contract records whose ``image`` is a file path.

This is the generic hand-over format between stages (``ingest`` writes one, ``recaption``
reads and writes one, ``write`` turns one into shards). Image paths are relative to the
manifest's folder (a relative path that leaves it is rejected, never opened) or absolute.
With ``image_root`` every image path, resolved, must lie inside it (for manifests you did not
write); any other is rejected.
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
from s1mmalign.core.limits import limits
from s1mmalign.core.schema import KEY_RULE, is_valid_key, key_digest

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


def check_manifest(path: str | os.PathLike) -> Path:
    """``path`` if it is a readable manifest file, else ``ValueError`` saying what it is instead."""
    path = Path(path)
    if path.is_dir():
        hint = f"; did you mean {path / MANIFEST_NAME}?" if (path / MANIFEST_NAME).is_file() else ""
        raise ValueError(f"{path} is a folder; name the manifest file (JSON Lines, one record per line){hint}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest file")
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"\0" in head:
        raise ValueError(f"{path} is not a JSON Lines manifest (binary data, not UTF-8 text)")
    # A line that is not UTF-8 is that line's reject (read_manifest), not the whole manifest's.
    first = head.decode("utf-8", "replace").lstrip()[:1]
    if first and first != "{":
        raise ValueError(f"{path} is not a JSON Lines manifest (the first line is not a JSON object)")
    return path


def _image_file(manifest_dir: Path, image_root: Optional[Path], img: str) -> Optional[Path]:
    """The file an ``image`` path names, or None when it is not allowed (see the module docstring)."""
    if not img or "\x00" in img:
        return None
    if image_root is None:
        return Path(img) if os.path.isabs(img) else safe_join(manifest_dir, img)
    file = Path(img) if os.path.isabs(img) else manifest_dir / img
    real, root = Path(os.path.realpath(file)), Path(os.path.realpath(image_root))
    return file if root in real.parents else None


def read_manifest(
    path: str | os.PathLike,
    rejects: Optional[Rejects] = None,
    *,
    image_root: str | os.PathLike | None = None,
    load_images: bool = True,
) -> Iterator[dict[str, Any]]:
    """Yield the records of a manifest, with ``image`` loaded as {bytes, path}.

    Malformed lines (see :func:`parse_line`; the detail names the line number), keys that break
    the key rule, lines over ``Limits.manifest_line_bytes`` and images that cannot be found are
    added to ``rejects`` (reasons ``malformed_json``, ``bad_key``, ``line_too_long``,
    ``image_outside_root``, ``image_missing``) and skipped.
    """
    path = Path(path)
    root = Path(image_root) if image_root else None
    rejects = rejects if rejects is not None else Rejects()
    max_line = limits().manifest_line_bytes
    with open(path, "rb") as f:
        for lineno, raw in enumerate(iter(lambda: f.readline(max_line + 1), b""), 1):
            if len(raw) > max_line and not raw.endswith(b"\n"):
                while (rest := f.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass  # the rest of the line, never held whole
                rejects.add(None, "<line>", "line_too_long", f"{path.name}:{lineno}: over {max_line} bytes", stage="manifest")
                continue
            if not raw.strip():
                continue
            try:
                rec = parse_line(raw)
            except ValueError as e:
                rejects.add(None, "<line>", "malformed_json", f"{path.name}:{lineno}: {e}", stage="manifest")
                continue
            key = rec.get("key")
            if not is_valid_key(key):
                rejects.add(None, "key", "bad_key", f"{path.name}:{lineno}: key {key!r:.80} {KEY_RULE}", stage="manifest")
                continue
            img = rec.get("image")
            if isinstance(img, str) and load_images:
                file = _image_file(path.parent, root, img)
                if file is None:
                    rejects.add(key, "image", "image_outside_root", img, stage="manifest", source=rec.get("source", ""))
                    continue
                try:
                    rec["image"] = {"bytes": file.read_bytes(), "path": img}
                except OSError as e:
                    rejects.add(key, "image", "image_missing", f"{img}: {e.strerror}", stage="manifest", source=rec.get("source", ""))
                    continue
            yield rec


def _no_duplicate_keys(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate JSON key {dup!r:.80}")
    return d


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_line(raw: bytes) -> dict:
    """One manifest line as an object; ValueError (one line) for invalid UTF-8, bad JSON, a
    duplicate key, a lone surrogate or anything but an object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"invalid UTF-8 at byte {e.start}") from None
    try:
        rec = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise ValueError(str(e)) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(rec, dict):
        raise ValueError("not an object")
    if _SURROGATE_ESCAPE.search(raw):  # pairs are fine; a lone half cannot be stored as UTF-8
        try:
            json.dumps(rec, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a lone surrogate escape (not a character)") from None
    return rec


def write_manifest(records: Iterable[dict], path: str | os.PathLike, *, images_dir: str = "images",
                   rejects: Optional[Rejects] = None) -> int:
    """Write records as a manifest; image bytes go to ``images_dir/<key>.<ext>`` beside it.

    Returns the number of records written. The manifest appears only when complete. A record
    whose key breaks the key rule (it names a file) is a ``bad_key`` reject, or a ValueError
    without ``rejects``: no path is ever derived from it. A key already written is a
    ``duplicate_key`` reject (or a ValueError): its image would replace the first record's.
    """
    from s1mmalign.core.images import sniff_ext

    path = Path(path)
    n, seen = 0, set()
    with atomic_file(path, "w") as f:
        for rec in records:
            rec = dict(rec)
            key = rec.get("key")
            if not is_valid_key(key):
                if rejects is None:
                    raise ValueError(f"record key {key!r:.80} {KEY_RULE}")
                rejects.add(None, "key", "bad_key", f"key {key!r:.80} {KEY_RULE}", stage="manifest")
                continue
            digest = key_digest(key)
            if digest in seen:
                if rejects is None:
                    raise ValueError(f"record key {key!r:.80} is written twice")
                rejects.add(key, "key", "duplicate_key", "key already written (its image would replace the first "
                            "record's)", stage="manifest", source=str(rec.get("source") or ""))
                continue
            seen.add(digest)
            img = rec.get("image")
            if isinstance(img, dict) and img.get("bytes") is not None:
                data = img["bytes"]
                ext = sniff_ext(data) or Path(img.get("path") or "").suffix.lstrip(".").lower()
                rel = f"{images_dir}/{key}.{ext if _EXT.fullmatch(ext) else 'bin'}"
                target = safe_join(path.parent, rel)
                if target is None:
                    raise ValueError(f"images_dir {images_dir!r} leaves the manifest's folder")
                # Rewrite unless identical: a rerun after a source changed must not keep stale bytes.
                if not (target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data):
                    with atomic_file(target) as g:
                        g.write(data)
                rec["image"] = rel
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


_EXT = re.compile(r"[a-z0-9]{1,8}")
