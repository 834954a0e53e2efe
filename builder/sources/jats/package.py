"""A PMC ``oa_package`` archive: unpacked, within limits, into a private temporary folder, then read as an article."""

from __future__ import annotations

import os
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Iterator, Optional

from s1mmalign.builder.records.manifest import safe_join
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.jats.article import looks_like_jats, read_jats_article
from s1mmalign.builder.sources.jats.xml import ARTICLE_SUFFIXES, MEDIA_SUFFIXES, STAGE
from s1mmalign.core.limits import limits


class _TooLarge(Exception):
    pass


#: What reading an article needs: its XML and its images (the rest of a package is not unpacked).
_WANTED = frozenset(ARTICLE_SUFFIXES + MEDIA_SUFFIXES)


def iter_oa_package(path: str | os.PathLike, rejects: Rejects, *, source: Optional[str] = None,
                    tmp_dir: str | os.PathLike | None = None) -> Iterator[dict]:
    """Yield the figure records of a PMC ``oa_package`` ``.tar.gz``.

    Its XML and image files are unpacked into a fresh temporary folder (removed afterwards); links,
    devices and names leaving that folder are never written (``unsafe_member``). A corrupt or
    truncated archive is one ``corrupt_archive`` reject; one with more members or unpacked bytes
    than ``Limits.archive_members`` / ``archive_bytes`` is one ``archive_too_large`` reject.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="s1mm-oa-", dir=tmp_dir) as tmp:
        tmp_root = Path(tmp)
        try:
            _unpack(path, tmp_root, rejects, source or "pmc")
        except _TooLarge as e:
            rejects.add(path.name, "archive", "archive_too_large", f"{path.name}: {e}", stage=STAGE, source=source or "pmc")
            return
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            rejects.add(path.name, "archive", "corrupt_archive", f"{path.name}: {type(e).__name__}: {e}",
                        stage=STAGE, source=source or "pmc")
            return
        folders = sorted({p.parent for p in tmp_root.rglob("*") if p.is_file() and p.suffix.lower() == ".nxml"})
        if not folders:
            folders = sorted({p.parent for p in tmp_root.rglob("*.xml") if p.is_file() and looks_like_jats(p)})
        if not folders:
            rejects.add(path.name, "archive", "no_article_xml", f"{path.name}: no JATS article inside",
                        stage=STAGE, source=source or "pmc")
            return
        for folder in folders:
            yield from read_jats_article(folder, rejects, source=source)


def _unpack(path: Path, dest: Path, rejects: Rejects, source: str) -> None:
    total, lim = 0, limits()
    with tarfile.open(path, "r:*") as tf:
        for i, m in enumerate(tf):
            if i >= lim.archive_members:
                raise _TooLarge(f"more than {lim.archive_members} members")
            if m.isdir():
                continue
            if not m.isfile():
                rejects.add(path.name, "archive", "unsafe_member", f"{m.name}: not a regular file; skipped",
                            stage=STAGE, source=source)
                continue
            name = PurePosixPath(m.name)
            target = safe_join(dest, m.name, resolve_links=True) if not (name.is_absolute() or ".." in name.parts) else None
            if target is None:
                rejects.add(path.name, "archive", "unsafe_member", f"{m.name}: leaves the package; skipped",
                            stage=STAGE, source=source)
                continue
            if name.suffix.lower() not in _WANTED:
                continue  # supplementary data, videos, PDFs: never read, so never written
            total += m.size
            if total > lim.archive_bytes:
                raise _TooLarge(f"unpacks to more than {lim.archive_bytes} bytes")
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            with open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
