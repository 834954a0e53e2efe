"""``s1mmalign ingest SOURCE... OUT``: papers in, a manifest of figure records out.

Sources are recognised and cut into units by :mod:`s1mmalign.builder.sources.discover`
(arXiv bulk tars, papers, JATS articles and PMC packages, folders of them). :func:`ingest` runs
the units through the filter, dedup and modality stages and writes ``OUT/manifest.jsonl``
(images under ``OUT/images/``), ``OUT/reports/rejects.jsonl`` and ``OUT/reports/ingest.json``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional, Sequence

from s1mmalign.builder.sources.arxiv import ReaderOptions
from s1mmalign.core.cli_args import positive

log = logging.getLogger(__name__)

REPORTS_DIR = "reports"
PAPER_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".gz")
BATCH = 64


# -- the ingest run ---------------------------------------------------------------------------

def ingest_config(sources: Sequence[str | Path], out: str | Path, *, arxiv_metadata: str | Path | None = None,
                  classifier: Optional[str] = "rules", options: Optional[ReaderOptions] = None) -> dict:
    """The build config an ingest runs: papers, filters, dedup, modality, into a manifest."""
    ingest_opts: dict = {"dpi": (options or ReaderOptions()).dpi}
    if arxiv_metadata is not None:
        ingest_opts["arxiv_metadata"] = str(Path(arxiv_metadata).resolve())
    return {
        "sources": [{"path": str(Path(s).resolve()), "kind": "papers"} for s in sources],
        "out": str(Path(out).resolve()), "stream": True,
        "stages": ["ingest", "filter", "dedup", *(["classify"] if classifier else []), "manifest"],
        "ingest": ingest_opts, "classify": {"name": classifier} if classifier else {},
    }


def ingest(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    arxiv_metadata: str | Path | None = None,
    classifier: Optional[str] = "rules",
    options: Optional[ReaderOptions] = None,
    progress: bool = True,
) -> dict:
    """Read every source into ``out`` (see the module docstring; rerun to resume); returns the run's report."""
    from s1mmalign.builder.commands.build import run_build
    from s1mmalign.builder.records.manifest import MANIFEST_NAME
    from s1mmalign.core.atomic import write_text_atomic

    for s in sources:
        if not Path(s).exists():
            raise FileNotFoundError(f"no such source: {s}")
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder; name a new or empty folder for the manifest")
    if (out_dir / MANIFEST_NAME).exists() and not (out_dir / ".build").is_dir():  # .build: an earlier ingest's state
        raise FileExistsError(f"{out_dir / MANIFEST_NAME} exists and no earlier `s1mmalign ingest` into {out} wrote it "
                              f"(there is no {out_dir / '.build'}); choose another folder, or move the file away")
    started = time.perf_counter()
    cfg = ingest_config(sources, out, arxiv_metadata=arxiv_metadata, classifier=classifier, options=options)
    built = run_build(cfg, progress=progress)
    segment = built["stages"][cfg["stages"][-2]]
    report = {
        "units": segment["units"],
        "records_read": segment["records_in"],
        "records_written": built["stages"].get("manifest", {}).get("records_out", 0),
        "rejected": sum(built["rejects_by_reason"].values()),
        "rejects_by_reason": built["rejects_by_reason"],
        "stages": ["filters", "dedup", *([f"modality:{classifier}"] if classifier else [])],
        "complete": built["complete"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_text_atomic(Path(out) / REPORTS_DIR / "ingest.json", json.dumps(report, indent=1))
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
    p.add_argument("--dpi", type=positive(int), default=150, help="resolution for rasterising EPS/PDF figures (default 150)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from s1mmalign.builder.commands.write import add_outcome_arguments

    add_outcome_arguments(p, overwrite=False)
    p.set_defaults(func=_cli_ingest)


def _cli_ingest(args) -> int:
    from s1mmalign.builder.commands.write import check_outcome

    if args.arxiv_metadata and not Path(args.arxiv_metadata).is_file():
        raise FileNotFoundError(f"--arxiv-metadata {args.arxiv_metadata}: no such file; give the arXiv OAI metadata "
                                "snapshot (JSON Lines) or leave the option out")
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
    if not report["units"]:
        raise ValueError(f"no papers found in {', '.join(args.sources)}: expected arXiv source tars or folders, "
                         "JATS article folders or PMC oa_package archives")
    check_outcome(report["records_written"], report["rejected"], args.max_reject_rate,
                  where=str(out / REPORTS_DIR / "rejects.jsonl"))
    return 0
