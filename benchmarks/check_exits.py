"""Clean exits: run ``s1mmalign stream DS --min-clip-score 0.3`` many times and count exit statuses.

    .venv/bin/python benchmarks/check_exits.py [--runs 50]

Half the runs select samples (exit 0), half select none (a one-line error, exit 1). A thread still
working at interpreter exit shows up as exit -6/134 (``terminate called without an active
exception``) in a fraction of runs; before the fix in ``loaders/source.py`` (sidecars read on the
calling thread) it was about one run in four of the second kind.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

DISCIPLINES = ("physics", "biology", "astronomy", "chemistry", "medicine", "mathematics")


def make_datasets(root: Path) -> dict[str, Path]:
    """``scored``: a few records pass the filter; ``unscored``: none does. Both over 12 shards."""
    from s1mmalign.builder.shards.write import write_dataset
    from tests.conftest import make_records

    out = {}
    for name, scored in (("scored", 6), ("unscored", 0)):
        recs = make_records(60, disciplines=DISCIPLINES)
        for r in recs[:scored]:
            r["clip_score_recaption"] = r["clip_score_caption"] = 0.5
        write_dataset(recs, root / name)
        out[name] = root / name
    return out


def stream_status(dataset: Path) -> int:
    return subprocess.run([sys.executable, "-m", "s1mmalign.builder.commands.cli", "stream", str(dataset),
                           "--min-clip-score", "0.3", "--show", "2"], capture_output=True, text=True).returncode


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    with tempfile.TemporaryDirectory() as tmp:
        datasets = make_datasets(Path(tmp))
        statuses = {name: collections.Counter() for name in datasets}
        for i in range(args.runs):
            name = ("scored", "unscored")[i % 2]
            statuses[name][stream_status(datasets[name])] += 1
    clean = set(statuses["scored"]) <= {0} and set(statuses["unscored"]) <= {1}
    print(f"stream --min-clip-score 0.3, {args.runs} runs: exit statuses {({k: dict(v) for k, v in statuses.items()})}; "
          f"{'all clean' if clean else 'NOT clean'}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
