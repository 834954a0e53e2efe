"""A unit of the release (one archive and the jsonl partition describing it): what it is and how it reads."""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.release.join import read_unit


@dataclass
class Archive:
    """One archive: its base name and its parts (one path for a whole ``.tar.gz``)."""

    name: str  # e.g. "images_2018.tar.gz"
    parts: list[str]  # full paths in the file system, in stream order
    sizes: list[int]

    @property
    def nbytes(self) -> int:
        return sum(self.sizes)


@dataclass
class ReleaseUnit:
    """One archive and the jsonl partition(s) describing it: the unit of reading and of resume.

    ``archive`` is None for a jsonl with no archive (all its records become ``record_no_image``);
    ``jsonl`` is empty for an archive with no jsonl (all members become ``image_no_record``).
    """

    id: str
    source: str  # contract source id
    folder: str  # release folder name
    jsonl: list[str]
    archive: Optional[Archive]
    fs: Any = field(repr=False, default=None)
    local: bool = True
    root: str = ""
    jsonl_sizes: list[int] = field(default_factory=list)

    def rel(self, path: str) -> str:
        return posixpath.relpath(path, self.root) if self.root else path

    @property
    def nbytes(self) -> int:
        return self.archive.nbytes if self.archive else 0

    def digest(self) -> str:
        """Identifies the unit's input: its files' names and sizes (a part added or cut changes it)."""
        files = [f"{self.rel(j)}:{n}" for j, n in zip(self.jsonl, self.jsonl_sizes or [0] * len(self.jsonl))]
        if self.archive:
            files += [f"{self.rel(p)}:{n}" for p, n in zip(self.archive.parts, self.archive.sizes)]
        return hashlib.sha256("\n".join(files).encode("utf-8")).hexdigest()

    def read(
        self,
        rejects: Rejects,
        *,
        disciplines: Optional[Sequence[str]] = None,
        on_bytes: Optional[Callable[[int], None]] = None,
        stats: Optional[dict] = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield this unit's joined records (contract fields; ``width``/``height``/``image_sha256``
        are filled by the writer). Records outside ``disciplines`` are skipped (counted in
        ``stats["filtered"]``). ``on_bytes(n)`` is called with compressed bytes consumed."""
        yield from read_unit(self, rejects, disciplines=disciplines, on_bytes=on_bytes, stats=stats)


@dataclass
class Release:
    root: str
    units: list[ReleaseUnit]
    problems: Rejects  # unknown folders, missing parts: reported on every run

    @property
    def sources(self) -> list[str]:
        return sorted({u.source for u in self.units})
