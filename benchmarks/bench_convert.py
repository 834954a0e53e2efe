"""Convert a generated release vs a bare pass over the same archives; peak RSS at two sizes.

    .venv/bin/python benchmarks/bench_convert.py [--records 50000] [--mb 1100] [--workdir /tmp/bench-convert]

Generates a release in the published layout (eight arXiv year archives growing year on year,
split into parts, and a bioRxiv archive -- the release has 19 arXiv years and four other
sources --, one jsonl partition per archive, figure-like PNG and JPEG images, ~760-character
recaptions), then runs, each in its own process so that peak RSS is its own:

* bare: ``tarfile`` over the concatenated parts (decompress + list every member, read its
  bytes) in one process -- the floor for any reader of the release;
* convert: ``s1mmalign convert`` writing Parquet + WebDataset (images checked, index, card),
  with 1 worker and with its default (one process per CPU), on a fifth of the release and on
  all of it (peak RSS must not grow).

Prints MB/s of compressed archive bytes, the ratio convert/bare by wall time (the target) and
per CPU-second (what one core of convert does against one core of the bare pass), and peak
RSS of the largest process.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from s1mmalign.builder.sources.sample_release import write_archive, write_jsonl

GENERATOR = 2  # bumped when generate() changes (a kept release of another version is made again)
PART_SIZE = 256 << 20  # split like the release (its parts are 30 GiB)
#: How Qwen-VL recaptions in the release open: they name the kind of figure first.
OPENINGS = ("The figure displays a line plot", "The figure presents a line plot with an inset panel",
            "This figure shows a plot", "The image is a scientific plot", "The figure displays a composite plot")
WORDS = ("field", "spectrum", "phase", "transition", "lattice", "energy", "density", "galaxy", "protein", "network",
         "temperature", "coupling", "model", "sample", "measured", "simulation", "shows", "the", "of", "and", "with")


def _figure(rng: np.random.Generator, target: int, i: int) -> tuple[bytes, str]:
    """A figure-like image (white page, axes, curves, a noisy panel) of about ``target`` bytes."""
    w, h = int(rng.integers(360, 640)), int(rng.integers(260, 480))
    arr = np.full((h, w, 3), 255, np.uint8)
    arr[h - 30, 20:] = 0
    arr[:, 30] = 0
    x = np.arange(40, w)
    for k in range(3):
        y = (h / 2 + (h / 3) * np.sin(x / rng.uniform(15, 60) + k)).astype(int).clip(0, h - 1)
        arr[y, x] = (rng.integers(0, 200, 3)).astype(np.uint8)
    # a noisy panel (microscopy / heatmap) sized so the encoded file is near the target
    side = int(min(h - 40, w - 60, max(8, (target / 3 / 1.45) ** 0.5)))
    arr[5 : 5 + side, 40 : 40 + side] = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    buf = io.BytesIO()
    if i % 4 == 3:
        img.save(buf, format="JPEG", quality=90)
        return buf.getvalue(), "jpg"
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue(), "png"


def generate(root: Path, records: int, mb: float, seed: int = 0) -> dict:
    """A release of ``records`` figures (about ``mb`` MB of images) in 2 arXiv years + bioRxiv."""
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    target = int(mb * 1e6 / records)
    # arXiv grows year on year (2012 has 1/36 of the arXiv records, 2019 8/36); bioRxiv a tenth
    arxiv = records * 9 // 10
    plan = [("arxiv", year, arxiv * (year - 2011) // 36) for year in range(2012, 2020)]
    plan.append(("biorxiv", None, records - sum(n for _, _, n in plan)))
    image_bytes = 0
    n = 0
    for source, year, count in plan:
        recs = []

        def members():
            nonlocal image_bytes, n
            for j in range(count):
                data, ext = _figure(rng, target, n)
                n += 1
                image_bytes += len(data)
                if source == "arxiv":
                    paper = f"{year % 100:02d}{(j % 12) + 1:02d}.{j // 4:05d}"
                    member = f"{paper[:4]}/{paper}.tar.gz/fig{j % 4:03d}.{ext}"
                    rec = {"arxiv_id": paper, "image_path": f"images/{member}", "categories": "cond-mat.str-el hep-th"}
                else:
                    member = f"10.1101_{j // 3:07d}/Figure_{j % 3}.{ext}"
                    rec = {"doi": f"10.1101/{j // 3:07d}", "image_path": member, "categories": ["Cell Biology"]}
                rec.update(
                    title=" ".join(pyrng.choices(WORDS, k=10)),
                    caption=" ".join(pyrng.choices(WORDS, k=40)),
                    recaption=f"{pyrng.choice(OPENINGS)} of " + " ".join(pyrng.choices(WORDS, k=104)),
                )
                recs.append(rec)
                yield member, data

        if source == "arxiv":
            write_archive(root / "arxiv" / f"images_{year}.tar.gz", members(), part_size=PART_SIZE)
            write_jsonl(root / "arxiv" / "jsonl" / f"{year % 100:02d}_recaption.jsonl", recs)
        else:
            write_archive(root / "biorxiv" / "images.tar.gz", members(), part_size=PART_SIZE)
            write_jsonl(root / "biorxiv" / "jsonl" / "biorxiv_recaption_updated.jsonl", recs)
    archive_bytes = sum(p.stat().st_size for p in root.rglob("*.tar.gz*"))
    return {"records": records, "image_bytes": image_bytes, "archive_bytes": archive_bytes}


BARE = r"""
import resource, sys, tarfile, time, glob, io, os
class Chain(io.RawIOBase):
    def __init__(self, paths): self.paths, self.f = list(paths), None
    def readable(self): return True
    def readinto(self, b):
        while True:
            if self.f is None:
                if not self.paths: return 0
                self.f = open(self.paths.pop(0), "rb", buffering=0)
            n = self.f.readinto(b)
            if n: return n
            self.f.close(); self.f = None
root = sys.argv[1]
t = time.perf_counter(); members = 0; total = 0
groups = {}
for p in sorted(glob.glob(root + "/*/*.tar.gz*")):
    groups.setdefault(p.split(".tar.gz")[0], []).append(p)
def open_tar(parts):
    if len(sys.argv) > 2 and sys.argv[2] == "isal":  # the reference: the same pass inflated as convert's reader does
        from s1mmalign.builder.sources.release.streams import GzipStream
        return tarfile.open(fileobj=io.BufferedReader(GzipStream(Chain(parts)), 1 << 20), mode="r|")
    return tarfile.open(fileobj=io.BufferedReader(Chain(parts), 1 << 20), mode="r|gz")
for parts in groups.values():
    with open_tar(parts) as tar:
        for m in tar:
            if m.isfile():
                tar.extractfile(m).read(); members += 1
                total += m.size
ru = resource.getrusage(resource.RUSAGE_SELF)
print(time.perf_counter() - t, members, ru.ru_maxrss, ru.ru_utime + ru.ru_stime)
"""

DECODE = r"""
import glob, io, sys, tarfile, time
from s1mmalign.core.images import normalize_image
groups = {}
for p in sorted(glob.glob(sys.argv[1] + "/*/*.tar.gz*")):
    groups.setdefault(p.split(".tar.gz")[0], []).append(p)
data = []
for parts in groups.values():
    blob = b"".join(open(p, "rb").read() for p in parts)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for m in tar:
            if m.isfile() and len(data) < 5000:
                data.append(tar.extractfile(m).read())
t = time.perf_counter()
for d in data:
    normalize_image(d, check="fast")  # what convert does by default (--image-check fast)
print(time.perf_counter() - t, len(data), 0)
"""

CONVERT = r"""
import importlib, importlib.util, resource, sys, time
# commits before the reorganisation had convert at s1mmalign.builder.convert (--compare-with)
old = importlib.util.find_spec("s1mmalign.builder.convert") is not None
convert_release = importlib.import_module("s1mmalign.builder.convert" if old else "s1mmalign.builder.commands.convert").convert_release
t = time.perf_counter()
kw = {} if old else {"classifier": None if sys.argv[4] == "none" else sys.argv[4]}
rep = convert_release(sys.argv[1], sys.argv[2], progress=False, workers=int(sys.argv[3]), **kw)
# the report's peak RSS is the largest process's (driver or worker); CPU is the driver's + the workers'
print(time.perf_counter() - t, rep["written"], rep["peak_rss_mb"] * 1024, rep["rejected"], rep["cpu_seconds"])
"""


def run(code: str, *args: str, site: str = "") -> list[float]:
    """``code`` in its own process; ``site``: import s1mmalign from that folder (an install of another commit)."""
    env = dict(os.environ, PYTHONPATH=site) if site else None
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, env=env).stdout
    return [float(x) for x in out.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--mb", type=float, default=1100, help="MB of images in the full release")
    ap.add_argument("--workdir", default="/tmp/s1mmalign-bench-convert")
    ap.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=[1, os.cpu_count() or 1],
                    help="comma-separated worker counts to run convert with (default: 1 and one per CPU, "
                         "convert's default)")
    ap.add_argument("--keep", action="store_true", help="keep the generated releases (reused by the next --keep run)")
    ap.add_argument("--compare-with", metavar="SITE", default="",
                    help="also run convert from this folder (pip install --no-deps --target SITE <an earlier commit>) "
                         "right after each run, and print this commit's time over that one's")
    ap.add_argument("--only", choices=("small", "full"), help="run one size only")
    ap.add_argument("--classifier", default="rules", help="convert's modality classifier (rules, none); "
                                                         "commits before the one pipeline did not classify")
    args = ap.parse_args()
    work = Path(args.workdir)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sizes = {}
    for name, n, mb in (("small", args.records // 5, args.mb / 5), ("full", args.records, args.mb)):
        t = time.perf_counter()
        marker = work / f"release-{name}.json"  # a kept release of the same size is reused
        if args.keep and marker.is_file() and json.loads(marker.read_text())["asked"] == [n, mb, GENERATOR]:
            sizes[name] = json.loads(marker.read_text())["sizes"]
            print(f"reusing {work / f'release-{name}'}", flush=True)
            continue
        shutil.rmtree(work / f"release-{name}", ignore_errors=True)
        sizes[name] = generate(work / f"release-{name}", n, mb, seed=1 if name == "small" else 0)
        marker.write_text(json.dumps({"asked": [n, mb, GENERATOR], "sizes": sizes[name]}))
        print(f"generated {name}: {sizes[name]['records']} records, {sizes[name]['image_bytes'] / 1e6:.0f} MB of images, "
              f"{sizes[name]['archive_bytes'] / 1e6:.0f} MB of archives in {time.perf_counter() - t:.0f} s", flush=True)
    results = {}
    for name in ((args.only,) if args.only else ("small", "full")):
        rel = str(work / f"release-{name}")
        bare_s, members, bare_rss, bare_cpu = run(BARE, rel)
        mb = sizes[name]["archive_bytes"] / 1e6
        print(f"[{name}] {int(members)} members, {mb:.0f} MB of archives")
        print(f"  bare tarfile pass      : {bare_s:7.1f} s  {mb / bare_s:7.1f} MB/s  peak RSS {bare_rss / 1024:6.0f} MB"
              "  (stdlib zlib: the baseline of the target)")
        isal_s = run(BARE, rel, "isal")[0]
        print(f"  same, ISA-L inflate    : {isal_s:7.1f} s  {mb / isal_s:7.1f} MB/s  (how convert's reader inflates)")
        results[name] = dict(bare_s=bare_s, bare_rss=bare_rss, bare_isal_s=isal_s)
        dec_s, dec_n, _ = run(DECODE, rel)
        per_image = dec_s / dec_n
        print(f"  image checks alone     : {per_image * 1e3:.2f} ms per image (normalize_image fast check, {int(dec_n)} images) "
              f"= {per_image * members:.1f} s for all {int(members)}, {bare_s / (per_image * members):.2f}x the bare pass")
        for workers in args.workers:
            conv_s, written, conv_rss, rejected, conv_cpu = run(CONVERT, rel, str(work / f"out-{name}-{workers}"), str(workers),
                                                                args.classifier)
            results[name][f"conv_s_w{workers}"] = conv_s
            results[name].setdefault("conv_rss", conv_rss)
            print(f"  convert, {workers} worker(s)  : {conv_s:7.1f} s  {mb / conv_s:7.1f} MB/s  peak RSS "
                  f"{conv_rss / 1024:6.0f} MB (largest process)  ({int(written)} written, {int(rejected)} rejected)")
            print(f"    ratio convert/bare: {bare_s / conv_s:.2f}x by wall time (target >= 0.6x; "
                  f"{isal_s / conv_s:.2f}x of the ISA-L pass); per CPU-second "
                  f"{bare_cpu / conv_cpu:.2f}x ({conv_cpu:.1f} CPU-s in all processes vs {bare_cpu:.1f})", flush=True)
            shutil.rmtree(work / f"out-{name}-{workers}", ignore_errors=True)
            if args.compare_with:
                old = run(CONVERT, rel, str(work / f"out-{name}-{workers}-old"), str(workers), args.classifier,
                          site=args.compare_with)
                old_s, old_cpu = old[0], old[4]
                shutil.rmtree(work / f"out-{name}-{workers}-old", ignore_errors=True)
                results[name][f"earlier_s_w{workers}"] = old_s
                results[name][f"earlier_cpu_w{workers}"] = old_cpu
                results[name][f"conv_cpu_w{workers}"] = conv_cpu
                print(f"    earlier commit ({args.compare_with}): {old_s:7.1f} s, {old_cpu:.1f} CPU-s; this/earlier = "
                      f"{conv_s / old_s:.3f} by wall time, {conv_cpu / old_cpu:.3f} by CPU-s (< 1 is faster)", flush=True)
    if args.only:
        print(json.dumps({"sizes": sizes, "results": results}))
        return
    s, f = results["small"], results["full"]
    print(f"peak RSS of convert: {s['conv_rss'] / 1024:.0f} MB at {sizes['small']['records']} records, "
          f"{f['conv_rss'] / 1024:.0f} MB at {sizes['full']['records']} records "
          f"({f['conv_rss'] / s['conv_rss']:.2f}x for {sizes['full']['archive_bytes'] / sizes['small']['archive_bytes']:.1f}x the archive bytes)")
    print(json.dumps({"sizes": sizes, "results": results}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
