"""``s1mmalign ingest SOURCE... OUT``: papers in, a manifest of figure records out.

A SOURCE is detected as one of (:func:`detect_kind`):

==================  =====================================================================
``arxiv-bulk``      an arXiv bulk source tar (``arXiv_src_YYMM_NNN.tar``: ``YYMM/<id>.gz``)
``arxiv-paper``     one paper: ``<id>.tar.gz`` / ``.tgz`` / ``.tar`` / ``.gz``, or an unpacked
                    folder holding a ``.tex`` with ``\\documentclass``
``jats-article``    a JATS article folder (``.nxml`` / ``.xml`` + media files)
``jats-package``    a PMC ``oa_package`` ``.tar.gz``
``folder``          a folder of any of the above (one level deep)
==================  =====================================================================

:func:`discover_units` cuts the sources into :class:`Unit` s (a bulk tar, one paper, one
article), each with a stable ``id`` and ``read(rejects)`` yielding contract records; the build
pipeline resumes and distributes work by unit. :func:`ingest` runs the units, then the
filter, dedup and modality stages (``builder/filters.py``, ``dedup.py``, ``modality.py``) when
they are installed, and writes ``OUT/manifest.jsonl`` (images under ``OUT/images/``) and
``OUT/reports/rejects.jsonl`` + ``OUT/reports/ingest.json``.
"""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

from s1mmalign.builder.arxiv import (
    BULK_TAR_RE, SOURCE as ARXIV, ArxivMetadata, PaperUnreadable, ReaderOptions, iter_bulk_tar, paper_id_from_name,
    paper_records, read_paper_path,
)
from s1mmalign.builder.rejects import Rejects

log = logging.getLogger(__name__)

REPORTS_DIR = "reports"
PAPER_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".gz")
BATCH = 64


# -- detection --------------------------------------------------------------------------------

def _peek_tar_names(path: Path, n: int = 20) -> list[str]:
    try:
        with tarfile.open(path, mode="r|*") as tf:
            return [m.name for m in itertools.islice(tf, n)]
    except (tarfile.TarError, OSError, EOFError):
        return []


def _is_jats(path: Path) -> bool:
    from s1mmalign.builder.jats import is_jats_source

    return is_jats_source(path)


def _has_main_tex(folder: Path) -> bool:
    from s1mmalign.builder.latex import has_documentclass

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
        import s1mmalign_dataset as contract

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
    """A JATS article folder or PMC package, read by ``builder/jats.py`` (issue 4, part 2)."""

    def read(rejects: Rejects) -> Iterator[dict]:
        try:
            jats = importlib.import_module("s1mmalign.builder.jats")
        except ImportError as e:
            rejects.add(None, "paper", "jats_reader_unavailable",
                        f"{path}: the JATS reader (s1mmalign.builder.jats) cannot be imported: {e}", stage="ingest", source="jats")
            return
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


# -- the ingest run ---------------------------------------------------------------------------

def _optional_stages(classifier: Optional[str]) -> tuple[list[Callable], list[str]]:
    """The part-2 stages that are installed: filters, dedup, modality (in that order)."""
    stages, names = [], []
    try:
        from s1mmalign.builder.filters import filter_records

        stages.append(filter_records)
        names.append("filters")
    except ImportError:
        log.info("ingest: builder/filters.py not available; no filtering")
    try:
        from s1mmalign.builder.dedup import Deduplicator

        stages.append(Deduplicator())
        names.append("dedup")
    except ImportError:
        log.info("ingest: builder/dedup.py not available; no de-duplication")
    if classifier:
        try:
            from s1mmalign.builder.modality import make_classifier

            stages.append(make_classifier(classifier))
            names.append(f"modality:{classifier}")
        except ImportError:
            log.info("ingest: builder/modality.py not available; modality stays 'other'")
    return stages, names


def _batched(it: Iterable[dict], n: int) -> Iterator[list[dict]]:
    it = iter(it)
    while batch := list(itertools.islice(it, n)):
        yield batch


def ingest(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    arxiv_metadata: str | Path | None = None,
    classifier: Optional[str] = "rules",
    options: Optional[ReaderOptions] = None,
    progress: bool = True,
) -> dict:
    """Read every source into ``out`` (see the module docstring); returns the run's report."""
    from s1mmalign.builder.atomic import write_text_atomic
    from s1mmalign.builder.manifest import MANIFEST_NAME, write_manifest

    out = Path(out)
    started = time.perf_counter()
    units = discover_units(sources, arxiv_metadata, options=options)
    rejects = Rejects()
    stages, stage_names = _optional_stages(classifier)
    counts = {"units": len(units), "records_read": 0}

    def records() -> Iterator[dict]:
        unit_iter: Iterable[Unit] = units
        if progress:
            from tqdm.auto import tqdm

            unit_iter = tqdm(units, desc="ingest", unit=" unit", mininterval=1.0)
        for unit in unit_iter:
            for batch in _batched(unit.read(rejects), BATCH):
                counts["records_read"] += len(batch)
                for stage in stages:
                    batch = stage(batch, rejects)
                yield from batch

    written = write_manifest(records(), out / MANIFEST_NAME)
    for stage in stages:
        if hasattr(stage, "close"):
            stage.close()
    rejects.write_jsonl(out / REPORTS_DIR / "rejects.jsonl")
    report = {
        **counts,
        "records_written": written,
        "rejected": len(rejects),
        "rejects_by_reason": rejects.by_reason(),
        "stages": stage_names,
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_text_atomic(out / REPORTS_DIR / "ingest.json", json.dumps(report, indent=1))
    return report


# -- CLI --------------------------------------------------------------------------------------

def add_cli(sub) -> None:
    p = sub.add_parser(
        "ingest",
        help="papers (arXiv LaTeX, JATS XML) -> figure records manifest",
        description="Extract every figure with its caption, label, citation contexts, discipline and modality "
        "from arXiv bulk source tars, folders of papers, JATS article folders or PMC oa_package archives. "
        "Writes OUT/manifest.jsonl (+ OUT/images/) for `s1mmalign write`, and OUT/reports/rejects.jsonl.",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="arXiv bulk tar, paper archive or folder, JATS folder or package")
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument("--arxiv-metadata", metavar="FILE", help="arXiv OAI metadata snapshot (JSON Lines) for titles, abstracts, "
                   "categories and licenses")
    p.add_argument("--classifier", default="rules", help="modality classifier: rules (default), clip, none")
    p.add_argument("--dpi", type=int, default=150, help="resolution for rasterising EPS/PDF figures (default 150)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_ingest)


def _cli_ingest(args) -> int:
    report = ingest(
        args.sources, args.out, arxiv_metadata=args.arxiv_metadata,
        classifier=None if args.classifier == "none" else args.classifier,
        options=ReaderOptions(dpi=args.dpi), progress=not args.no_progress,
    )
    out = Path(args.out)
    print(f"ingested {report['units']} units: {report['records_written']} figure records -> {out / 'manifest.jsonl'} "
          f"({report['seconds']} s; stages: {', '.join(report['stages']) or 'none'})")
    if report["rejected"]:
        reasons = ", ".join(f"{r}: {n}" for r, n in report["rejects_by_reason"].items())
        print(f"rejected {report['rejected']} ({reasons}); see {out / REPORTS_DIR / 'rejects.jsonl'}")
    return 0


# -- demo -------------------------------------------------------------------------------------

def step_ingest(ctx) -> None:
    """Demo: the sample papers (arXiv LaTeX, and JATS when its sample is there) through ``ingest``;
    the next steps read the bundled sample's records plus the ingested ones."""
    from s1mmalign.builder.manifest import MANIFEST_NAME, read_manifest, write_manifest

    papers = ctx.sample / "papers"
    sources = [papers] + [p for p in (ctx.sample / "jats",) if p.is_dir()]
    out = ctx.out / "ingested"
    report = ingest(sources, out, arxiv_metadata=papers / "arxiv-metadata.jsonl", progress=False)
    ctx.say(f"ingest: {report['units']} papers -> {report['records_written']} figure records in {out / MANIFEST_NAME} "
            f"(rejected {report['rejected']}: {report['rejects_by_reason']}; stages: {', '.join(report['stages']) or 'none'})")
    # One manifest for the next steps: the bundled sample's records, then the ingested ones.
    # Its images are written beside it; the ingested ones are there already.
    combined = out / "with_sample.jsonl"
    scratch = Rejects()
    n = write_manifest(itertools.chain(read_manifest(ctx.manifest, scratch), read_manifest(out / MANIFEST_NAME, scratch)), combined)
    ctx.manifest = combined
    ctx.notes["ingested"] = out
    ctx.say(f"ingest: {n} records (bundled sample + ingested papers) -> {combined}")
