"""Sources -> units of work: the granularity at which a build resumes.

A unit has a stable ``id``, ``read(rejects)`` yielding records and ``digest()`` naming its
input (a changed source file changes it, so ingest reruns for that unit). Paper folders and archives
come from :func:`s1mmalign.builder.sources.discover.discover_units` (one unit per archive or batch of papers), a
published release from :mod:`s1mmalign.builder.sources.release`, and a manifest (``manifest.jsonl``, the bundled
sample) is cut here into units of ``unit_size`` papers. Ids are folded to ``[A-Za-z0-9_-]``
(they name files and shard prefixes) with a digest suffix when folding changed them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from s1mmalign.builder.pipeline.config import BuildConfig, ConfigError
from s1mmalign.builder.records.manifest import MANIFEST_NAME, read_manifest
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.arxiv import ArxivMetadata, ReaderOptions
from s1mmalign.builder.sources.discover import discover_units, source_kind
from s1mmalign.builder.sources.release import ReleaseUnit
from s1mmalign.builder.sources.release import discover_units as release_units
from s1mmalign.core import contract


def safe_unit_id(raw: str) -> str:
    folded = re.sub(r"[^A-Za-z0-9_-]+", "_", str(raw)).strip("_")[:80]
    if folded == raw and folded:
        return folded
    return f"{folded}_{hashlib.blake2b(str(raw).encode(), digest_size=4).hexdigest()}"


def stat_digest(path: Path) -> str:
    """Names, sizes and mtimes of a file or of every file under a folder: changes when the
    source does, without reading it."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(path) if f != path else f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class ManifestUnit:
    """Records of ``unit_size`` consecutive papers of a manifest (all its keyless lines go to unit 0)."""

    id: str
    path: Path
    index: int
    keys: frozenset
    source = "manifest"

    def digest(self) -> str:
        keys = hashlib.sha256("\n".join(sorted(self.keys)).encode()).hexdigest()
        return f"{keys}:{stat_digest(self.path)}"

    def read(self, rejects: Rejects, *, disciplines=None, on_bytes=None, stats: Optional[dict] = None) -> Iterator[dict]:
        records = self._read(rejects)
        return records if not disciplines else _keep_disciplines(records, set(disciplines), stats)

    def _read(self, rejects: Rejects) -> Iterator[dict]:
        scratch = Rejects()
        for rec in read_manifest(self.path, scratch):
            if rec.get("key") in self.keys:
                yield rec
        for r in scratch:
            if r.key in self.keys or (r.key is None and self.index == 0):
                rejects.add(r.key, r.field, r.reason, r.detail, stage="ingest", source=r.source)


def manifest_units(path: Path, unit_size: int) -> list[ManifestUnit]:
    groups: list[list[str]] = []
    papers_in_group = 0
    last_paper = object()
    for rec in read_manifest(path, Rejects(), load_images=False):
        paper = rec.get("paper_id")
        if paper != last_paper:
            if not groups or papers_in_group >= unit_size:
                groups.append([])
                papers_in_group = 0
            papers_in_group += 1
            last_paper = paper
        groups[-1].append(rec.get("key"))
    stem = safe_unit_id(path.parent.name if path.name == MANIFEST_NAME else path.stem)
    return [ManifestUnit(f"{stem}-{i:05d}", path, i, frozenset(k for k in keys if isinstance(k, str)))
            for i, keys in enumerate(groups or [[]])]


@dataclass(frozen=True)
class WrappedUnit:
    """A unit of papers or of the release under a file-safe id."""

    id: str
    inner: Any

    @property
    def source(self) -> str:
        return getattr(self.inner, "source", "") or "papers"

    @property
    def nbytes(self) -> int:
        return getattr(self.inner, "nbytes", 0)

    def read(self, rejects: Rejects, *, disciplines=None, on_bytes=None, stats: Optional[dict] = None) -> Iterator[dict]:
        """The unit's records; ``disciplines`` keeps only those (the release skips the others
        before joining their images), counted in ``stats["filtered"]``."""
        if isinstance(self.inner, ReleaseUnit):
            return self.inner.read(rejects, disciplines=disciplines, on_bytes=on_bytes, stats=stats)
        records = iter(self.inner.read(rejects))
        return records if not disciplines else _keep_disciplines(records, set(disciplines), stats)

    def digest(self) -> str:
        """The input's identity: the release unit's own digest, else the files' stat digest."""
        own = getattr(self.inner, "digest", None)
        if callable(own):
            return own()
        path = getattr(self.inner, "path", None)
        return stat_digest(path) if path is not None else self.id


def _keep_disciplines(records: Iterator[dict], wanted: set, stats: Optional[dict]) -> Iterator[dict]:
    for rec in records:
        d = rec.get("discipline") or contract.discipline_for_tags(rec.get("categories"))
        if d in wanted:
            yield rec
        elif stats is not None:
            stats["filtered"] = stats.get("filtered", 0) + 1


def discover(cfg: BuildConfig, problems: Optional[Rejects] = None) -> list:
    """Every unit of every source, in a stable order; ids unique. What a source's discovery
    rejects (an unknown release folder, a missing part) goes to ``problems``."""
    units: list = []
    opts = cfg.stage_options("ingest")
    meta = opts.get("arxiv_metadata")
    if meta is not None and not isinstance(meta, ArxivMetadata):
        meta = ArxivMetadata(meta)  # loaded once for every paper source
    for src in cfg.sources:
        kind = src["kind"] if src["kind"] != "auto" else source_kind(src["path"])
        if kind == "manifest":
            path = src["path"] if src["path"].is_file() else src["path"] / MANIFEST_NAME
            units.extend(manifest_units(path, cfg.unit_size))
        elif kind == "papers":
            reader = ReaderOptions(**({"dpi": opts["dpi"]} if opts.get("dpi") else {}))
            units.extend(WrappedUnit(safe_unit_id(u.id), u)
                         for u in discover_units([src["path"]], arxiv_metadata=meta, options=reader))
        else:
            release = release_units(src["path"], opts.get("sources"))
            if problems is not None:
                problems.extend(release.problems)
            units.extend(WrappedUnit(safe_unit_id(u.id), u) for u in release.units)
    seen: dict[str, int] = {}
    for u in units:
        seen[u.id] = seen.get(u.id, 0) + 1
    dupes = [i for i, n in seen.items() if n > 1]
    if dupes:
        raise ConfigError(f"sources: unit ids {dupes[:5]} appear more than once (the same source listed twice?)")
    return units
