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
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from s1mmalign.builder.pipeline.config import BuildConfig, ConfigError
from s1mmalign.builder.records.manifest import MANIFEST_NAME, read_manifest
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.discover import discover_units, source_kind
from s1mmalign.builder.sources.release import discover_units as release_units


class StageUnavailable(ConfigError):
    """A stage (or source kind) whose module is not in this installation."""


def require(module: str, symbol: str, what: str) -> Any:
    """``module.symbol``, or a :class:`StageUnavailable` naming both and what needs them."""
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise StageUnavailable(f"{what} needs {module}.{symbol}, which is not in this installation ({e}); "
                               f"leave it out of the config or update s1mmalign") from None
    if not hasattr(mod, symbol):
        raise StageUnavailable(f"{what} needs {module}.{symbol}, which {module} does not define")
    return getattr(mod, symbol)


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

    def digest(self) -> str:
        keys = hashlib.sha256("\n".join(sorted(self.keys)).encode()).hexdigest()
        return f"{keys}:{stat_digest(self.path)}"

    def read(self, rejects: Rejects) -> Iterator[dict]:
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
    """A unit from ingest or release under a file-safe id."""

    id: str
    inner: Any

    def read(self, rejects: Rejects) -> Iterator[dict]:
        return iter(self.inner.read(rejects))

    def digest(self) -> str:
        """The input's identity: the release unit's own digest, else the files' stat digest."""
        own = getattr(self.inner, "digest", None)
        if callable(own):
            return own()
        path = getattr(self.inner, "path", None)
        return stat_digest(path) if path is not None else self.id


def discover(cfg: BuildConfig) -> list:
    """Every unit of every source, in a stable order; ids unique."""
    units: list = []
    for src in cfg.sources:
        kind = src["kind"] if src["kind"] != "auto" else source_kind(src["path"])
        if kind == "manifest":
            path = src["path"] if src["path"].is_file() else src["path"] / MANIFEST_NAME
            units.extend(manifest_units(path, cfg.unit_size))
        elif kind == "papers":
            meta = cfg.stage_options("ingest").get("arxiv_metadata")
            units.extend(WrappedUnit(safe_unit_id(u.id), u) for u in discover_units([src["path"]], arxiv_metadata=meta))
        else:
            units.extend(WrappedUnit(safe_unit_id(u.id), u) for u in release_units(src["path"]).units)
    seen: dict[str, int] = {}
    for u in units:
        seen[u.id] = seen.get(u.id, 0) + 1
    dupes = [i for i, n in seen.items() if n > 1]
    if dupes:
        raise ConfigError(f"sources: unit ids {dupes[:5]} appear more than once (the same source listed twice?)")
    return units
