"""The resumable build, stage by stage, next to a plain ``write_dataset`` of the same records.

    .venv/bin/python benchmarks/bench_build.py [--records 3000] [--unit-size 40] [--workdir /tmp/bench-build]

Generates ``--records`` figure records (480x360 PNG plots with a noise inset, 3 figures per paper) as a
manifest, then, in this process:

* ``plain``: ``write_dataset`` over the manifest (Parquet + tar shards, index, card) -- the floor;
* ``build``: ``s1mmalign build`` (local runner) with ingest -> filter -> dedup -> classify (rules)
  -> recaption (context) -> write -> card, every stage materialised per unit (resume state);
* ``rerun``: the same build again (every unit finished: the cost of checking the markers).

Prints per stage: seconds, records/s, and core-hours for 15.5 M figures at that rate (one
process, one core busy); the resume state's bytes per record; and the ratios build/plain and
write-stage/plain.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import time
from pathlib import Path

FULL = 15_500_000


def figure(i: int, rng: random.Random) -> bytes:
    from PIL import Image, ImageDraw

    w, h = 480, 360
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.line([(40, h - 30), (w - 10, h - 30)], fill="black", width=2)
    d.line([(40, h - 30), (40, 10)], fill="black", width=2)
    for series in range(3):
        y = h / 2
        pts = []
        for x in range(40, w - 10, 3):
            y = min(h - 32, max(12, y + rng.gauss(0, 4)))
            pts.append((x, y))
        d.line(pts, fill=((i * 53 + series * 90) % 255, (series * 70) % 255, 180), width=2)
    for _ in range(40):  # scatter markers
        x, y = rng.randrange(45, w - 15), rng.randrange(15, h - 35)
        d.ellipse([x - 3, y - 3, x + 3, y + 3], outline="black")
    # an inset heatmap of noise: real figures (~195 kB on average in the release) are not all flat colour
    noise = Image.frombytes("RGB", (160, 120), rng.randbytes(160 * 120 * 3))
    img.paste(noise, (w - 180, 20))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_manifest(root: Path, n: int) -> Path:
    from s1mmalign.builder.records.manifest import write_manifest
    from s1mmalign.core import contract

    rng = random.Random(0)
    recs = []
    for i in range(n):
        paper = f"2401.{i // 3:05d}"
        recs.append({
            "key": contract.make_key("arxiv", paper, f"fig{i}"),
            "image": {"bytes": figure(i, rng), "path": f"fig{i}.png"},
            "caption": f"Figure {i % 3 + 1}: measured response of sample {i} versus temperature for three couplings.",
            "recaption": None, "title": f"Spin correlations in system {i // 3}",
            "abstract": "We study spin correlations with exact diagonalisation and tensor networks. " * 4,
            "citation_contexts": [f"As shown in Fig. {i % 3 + 1}, the susceptibility follows a Curie-Weiss law."],
            "paper_id": paper, "figure_label": f"fig:{i}", "source": "arxiv", "categories": ["cond-mat.str-el"],
            "license": "http://creativecommons.org/licenses/by/4.0/",
        })
    path = root / "src" / "manifest.jsonl"
    path.parent.mkdir(parents=True)
    write_manifest(recs, path)
    return path


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--unit-size", type=int, default=40, help="papers per unit")
    ap.add_argument("--workdir", default="/tmp/bench-build")
    args = ap.parse_args()
    root = Path(args.workdir)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)

    from s1mmalign.builder.commands.build import run_build
    from s1mmalign.builder.records.manifest import read_manifest
    from s1mmalign.builder.records.rejects import Rejects
    from s1mmalign.builder.shards.write import write_dataset

    t = time.perf_counter()
    manifest = make_manifest(root, args.records)
    print(f"generated {args.records} figures ({du(manifest.parent) / args.records / 1e3:.1f} kB each) "
          f"in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    rep = write_dataset(read_manifest(manifest, Rejects()), root / "plain")
    plain_s = time.perf_counter() - t
    print(f"plain write_dataset: {rep['written']} records in {plain_s:.2f} s = {rep['written'] / plain_s:.0f} rec/s")

    cfg = root / "build.yaml"
    cfg.write_text(f"sources: [{manifest}]\nout: {root / 'out'}\nunit_size: {args.unit_size}\n"
                   "stages: [ingest, filter, dedup, classify, recaption, write, card]\n"
                   "recaption: {backend: context}\nfilter: {min_side: 64}\n")
    t = time.perf_counter()
    report = run_build(str(cfg), progress=False)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    again = run_build(str(cfg), progress=False)
    rerun_s = time.perf_counter() - t
    assert report["complete"] and all(a.get("units_run", 0) == 0 for s, a in again["stages"].items() if s != "card")

    print(f"\nbuild ({report['stages']['ingest']['units']} units of {args.unit_size} papers), local runner:")
    print(f"{'stage':<10} {'records':>8} {'seconds':>8} {'rec/s':>8} {'core-h @15.5M':>14}")
    for s, a in report["stages"].items():
        n = a.get("records_in", a.get("records_out", 0))
        secs = a.get("seconds", 0.0)
        rate = n / secs if secs else float("inf")
        print(f"{s:<10} {n:>8} {secs:>8.2f} {rate:>8.0f} {FULL / rate / 3600 if secs else 0:>14.1f}")
    work = root / "out" / ".build"
    state = du(work)
    print(f"\nwhole build {build_s:.2f} s = {args.records / build_s:.0f} rec/s; rerun with nothing to do {rerun_s:.2f} s")
    print(f"resume state: {state / 1e6:.1f} MB = {state / args.records / 1e3:.1f} kB per record "
          f"(dataset {du(root / 'out') / 1e6 - state / 1e6:.1f} MB)")
    print(f"ratio build / plain write: {build_s / plain_s:.2f}x; write stage / plain write: "
          f"{report['stages']['write']['seconds'] / plain_s:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
