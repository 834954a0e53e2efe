"""``s1mmalign write MANIFEST OUT``: a JSON Lines manifest of figure records into a dataset folder.

Also the shard options every command that writes a dataset folder shares, and the check that
turns a run's counts into an honest exit status (:func:`check_outcome`).
"""

from __future__ import annotations

from pathlib import Path

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.shards.write import REPORTS_DIR, write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.core.cli_args import percent, positive
from s1mmalign.core.images import CHECKS, DEFAULT_MAX_PIXELS


def add_shard_arguments(p) -> None:
    """Shard options shared by every command that writes a dataset folder."""
    p.add_argument("--formats", default="parquet,wds", help="comma-separated: parquet, wds (default: both)")
    p.add_argument("--parquet-shard-mb", type=positive(float), default=500, help="target Parquet shard size in MB (default 500)")
    p.add_argument("--tar-shard-mb", type=positive(float), default=1000, help="target tar shard size in MB (default 1000)")
    p.add_argument("--row-group-mb", type=positive(float), default=32, help="target Parquet row group size in MB (default 32)")
    p.add_argument("--max-pixels", type=positive(int), default=DEFAULT_MAX_PIXELS, help="decompression-bomb limit in pixels")
    p.add_argument("--image-check", choices=CHECKS, default="fast",
                   help="fast: PNG chunk CRCs and JPEG at 1/8 scale (catches corrupt and truncated files, ~4x cheaper); "
                        "full: decode every pixel (default: fast)")
    add_outcome_arguments(p)


def add_outcome_arguments(p, overwrite: bool = True) -> None:
    """``--overwrite`` and ``--max-reject-rate``: what a command that writes OUT may replace and when it fails."""
    if overwrite:
        p.add_argument("--overwrite", action="store_true",
                       help="replace a dataset OUT already holds (it stays readable until the new one is complete)")
    p.add_argument("--max-reject-rate", type=percent, default=100.0, metavar="PERCENT",
                   help="fail (exit 1) when more than this share of the records is rejected (default 100: only "
                        "a run that writes no record fails)")


def shard_options_from_args(args, **overrides) -> ShardOptions:
    return ShardOptions(
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
        parquet_shard_bytes=int(args.parquet_shard_mb * (1 << 20)),
        tar_shard_bytes=int(args.tar_shard_mb * (1 << 20)),
        row_group_bytes=int(args.row_group_mb * (1 << 20)),
        **overrides,
    )


def check_outcome(written: int, rejected: int, max_reject_rate: float = 100.0, *, where: str = "") -> None:
    """Raise ``RuntimeError`` (exit 1, one line) when a run wrote nothing or rejected too much."""
    see = f"; see {where}" if where and rejected else ""
    if written == 0:
        raise RuntimeError(f"no record written ({rejected} rejected{see})")
    total = written + rejected
    if total and 100.0 * rejected / total > max_reject_rate:
        raise RuntimeError(f"{rejected} of {total} records rejected ({100.0 * rejected / total:.1f} %), "
                           f"more than --max-reject-rate {max_reject_rate:g} %{see}")


def print_report(report: dict, out: Path) -> None:
    print(f"wrote {report['written']} records in {report['shards']} shards to {out} ({report['seconds']} s)")
    if report["rejected"]:
        reasons = ", ".join(f"{r}: {n}" for r, n in report["rejects_by_reason"].items())
        print(f"rejected {report['rejected']} ({reasons}); see {out / REPORTS_DIR / 'rejects.jsonl'}")


def add_cli(sub) -> None:
    p = sub.add_parser(
        "write",
        help="shards + index + card from a manifest of figure records",
        description="Write WebDataset and Parquet shards, the shard index, sizes.json and README.md "
        "from a JSON Lines manifest (one contract record per line, `image` a path relative to the manifest "
        "or an absolute path). Rerun the same command after an interruption: the result is the same.",
    )
    p.add_argument("manifest", help="manifest.jsonl")
    p.add_argument("out", help="output dataset folder (a Hub dataset repository as it stands)")
    p.add_argument("--image-root", metavar="DIR",
                   help="confine every image path to DIR (for manifests you did not write): any other is a counted reject")
    add_shard_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_write)


def _cli_write(args) -> int:
    from s1mmalign.builder.records.manifest import check_manifest, read_manifest
    from s1mmalign.builder.shards.target import args_fingerprint, open_target

    check_manifest(args.manifest)
    if args.image_root and not Path(args.image_root).is_dir():
        raise ValueError(f"--image-root {args.image_root} is not a folder")
    options = shard_options_from_args(args)  # a mistyped --formats fails here, before OUT is touched
    target = open_target(args.out, "write", args_fingerprint(args, files=[args.manifest], paths=["manifest", "image_root"]),
                         overwrite=args.overwrite)
    rejects = Rejects()
    records = read_manifest(args.manifest, rejects, image_root=args.image_root)
    try:
        report = write_dataset(
            records, target.path, options=options, rejects=rejects,
            max_pixels=args.max_pixels, image_check=args.image_check, progress=not args.no_progress,
        )
    except Exception:
        target.abandon()  # failed before any shard: leaves no unfinished run that refuses the corrected command
        raise
    try:
        check_outcome(report["written"], report["rejected"], args.max_reject_rate,
                      where=str(target.path / REPORTS_DIR / "rejects.jsonl"))
    except RuntimeError:
        target.fail()
        raise
    target.commit()
    print_report(report, Path(args.out))
    return 0
