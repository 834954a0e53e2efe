"""What a source path is, and the units of work it holds: the one place sources are recognised.

A paper SOURCE is detected as one of (:func:`detect_kind`):

==================  =====================================================================
``arxiv-bulk``      an arXiv bulk source tar (``arXiv_src_YYMM_NNN.tar``: ``YYMM/<id>.gz``)
``arxiv-paper``     one paper: ``<id>.tar.gz`` / ``.tgz`` / ``.tar`` / ``.gz``, or an unpacked
                    folder holding a ``.tex`` with ``\\documentclass``
``jats-article``    a JATS article folder (``.nxml`` / ``.xml`` + media files)
``jats-package``    a PMC ``oa_package`` ``.tar.gz``
``folder``          a folder of any of the above (one level deep)
==================  =====================================================================


:func:`discover_units` cuts paper sources into :class:`Unit` s (a bulk tar, one paper, one
article), each with a stable ``id`` and ``read(rejects)`` yielding contract records; the
pipeline resumes and distributes work by unit. :func:`source_kind` tells a manifest, the
published release and papers apart (``build --source`` takes any of them).
"""

from __future__ import annotations

import itertools
import logging
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from s1mmalign.builder.records.manifest import MANIFEST_NAME
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.arxiv import (
    BULK_TAR_RE,
    ArxivMetadata,
    PaperUnreadable,
    ReaderOptions,
    iter_bulk_tar,
    paper_id_from_name,
    paper_records,
    read_paper_path,
)
from s1mmalign.builder.sources.arxiv import (
    SOURCE as ARXIV,
)
from s1mmalign.builder.sources.jats import is_jats_source
from s1mmalign.builder.sources.latex import has_documentclass
from s1mmalign.builder.sources.release import is_release_root

log = logging.getLogger(__name__)


def source_kind(path: str | Path) -> str:
    """``manifest`` (a .jsonl or a folder holding manifest.jsonl), ``release`` (the published
    layout, local or ``hf://``) or ``papers`` (anything :func:`detect_kind` reads)."""
    text = str(path)
    if "://" in text:
        return "release" if is_release_root(text) else "papers"
    p = Path(path)
    if p.is_file() and p.suffix == ".jsonl" or (p / MANIFEST_NAME).is_file():
        return "manifest"
    if p.is_dir() and is_release_root(text):
        return "release"
    return "papers"


# -- detection --------------------------------------------------------------------------------

def _peek_tar_names(path: Path, n: int = 20) -> list[str]:
    try:
        with tarfile.open(path, mode="r|*") as tf:
            return [m.name for m in itertools.islice(tf, n)]
    except (tarfile.TarError, OSError, EOFError):
        return []


def _is_jats(path: Path) -> bool:
    return is_jats_source(path)


def _has_main_tex(folder: Path) -> bool:
    for p in folder.glob("*.tex"):
        try:
            if has_documentclass(p.read_text("utf-8", errors="replace")):
                return True
        except OSError:
            continue
    return False


def detect_kind(path: Path) -> str:
    """``arxiv-bulk``, ``arxiv-paper``, ``jats-article``, ``jats-package``, ``folder`` or ``unknown``."""
    path = Path(path)
    if path.is_dir():
        if _is_jats(path):
            return "jats-article"
        if _has_main_tex(path):
            return "arxiv-paper"
        return "folder"
    if not path.is_file():
        return "unknown"
    name = path.name.lower()
    if BULK_TAR_RE.search(path.name):
        return "arxiv-bulk"
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        names = _peek_tar_names(path)
        lower = [n.lower() for n in names]
        if any(n.endswith(".nxml") for n in lower) or (any(n.endswith(".xml") for n in lower)
                                                       and not any(n.endswith(".tex") for n in lower)):
            return "jats-package"
        if name.endswith(".tar") and names and all(n.endswith((".gz", ".pdf")) or n.count("/") == 0 for n in names) \
                and any(n.count("/") == 1 and n.endswith(".gz") for n in names):
            return "arxiv-bulk"
        return "arxiv-paper"
    if name.endswith(".gz"):
        return "arxiv-paper"
    if name.endswith((".nxml", ".xml")) and _is_jats(path):
        return "jats-article"
    return "unknown"


# -- units ------------------------------------------------------------------------------------

@dataclass
class Unit:
    """A piece of work: ``id`` is stable across runs; ``read(rejects)`` yields contract records."""

    id: str
    kind: str
    path: Path
    _read: Callable[[Rejects], Iterator[dict]] = field(repr=False)

    def read(self, rejects: Rejects) -> Iterator[dict]:
        return self._read(rejects)


def _arxiv_bulk_unit(path: Path, meta: Optional[ArxivMetadata], options: ReaderOptions) -> Unit:
    def read(rejects: Rejects) -> Iterator[dict]:
        for pid, files in iter_bulk_tar(path, rejects, options):
            yield from paper_records(pid, files, rejects, meta.get(pid) if meta else None, options)

    return Unit(f"arxiv-bulk:{path.name}", "arxiv-bulk", path, read)


def _arxiv_paper_unit(path: Path, meta: Optional[ArxivMetadata], options: ReaderOptions) -> Unit:
    pid = paper_id_from_name(path.name)

    def read(rejects: Rejects) -> Iterator[dict]:
        from s1mmalign.core import contract

        try:
            files = read_paper_path(path, options)
        except PaperUnreadable as e:
            rejects.add(contract.make_key(ARXIV, pid), "paper", e.reason, f"{path.name}: {e.detail}", stage="ingest", source=ARXIV)
            return
        except OSError as e:
            rejects.add(contract.make_key(ARXIV, pid), "paper", "unreadable", f"{path.name}: {e}", stage="ingest", source=ARXIV)
            return
        yield from paper_records(pid, files, rejects, meta.get(pid) if meta else None, options)

    return Unit(f"arxiv:{pid}", "arxiv-paper", path, read)


def _jats_unit(path: Path, kind: str) -> Unit:
    """A JATS article folder or PMC package, read by :mod:`s1mmalign.builder.sources.jats`."""

    def read(rejects: Rejects) -> Iterator[dict]:
        from s1mmalign.builder.sources import jats

        if kind == "jats-package":
            yield from jats.iter_oa_package(path, rejects)
        else:
            yield from jats.read_jats_article(path, rejects)

    return Unit(f"{kind}:{path.name}", kind, path, read)


def discover_units(
    paths: Sequence[str | Path],
    arxiv_metadata: str | Path | ArxivMetadata | None = None,
    *,
    options: Optional[ReaderOptions] = None,
) -> list["Unit"]:
    """The units of work in ``paths`` (see the module docstring), in a stable order.

    Raises ``FileNotFoundError`` for a path that does not exist and ``ValueError`` for one
    whose kind cannot be told (say what it is by putting it in a folder of its kind).
    """
    options = options or ReaderOptions()
    meta = arxiv_metadata if isinstance(arxiv_metadata, ArxivMetadata) or arxiv_metadata is None else ArxivMetadata(arxiv_metadata)
    units: list[Unit] = []

    def add(path: Path, kind: str, depth: int) -> None:
        if kind == "arxiv-bulk":
            units.append(_arxiv_bulk_unit(path, meta, options))
        elif kind == "arxiv-paper":
            units.append(_arxiv_paper_unit(path, meta, options))
        elif kind in ("jats-article", "jats-package"):
            units.append(_jats_unit(path, kind))
        elif kind == "folder" and depth == 0:
            for child in sorted(path.iterdir()):
                if child.name.startswith("."):
                    continue
                ck = detect_kind(child)
                if ck in ("unknown", "folder"):
                    if child.is_file() and child.suffix.lower() in (".json", ".jsonl", ".md", ".txt", ".py"):
                        continue  # metadata and notes beside the papers
                    log.warning("ingest: skipping %s (not a paper, archive or article)", child)
                    continue
                add(child, ck, depth + 1)
        else:
            raise ValueError(f"{path}: not an arXiv bulk tar, arXiv paper, JATS article or folder of them")

    for p in paths:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"no such source: {path}")
        add(path, detect_kind(path), 0)
    seen, out = set(), []
    for u in units:  # the same paper named twice is read once
        if u.id not in seen:
            seen.add(u.id)
            out.append(u)
    return out
