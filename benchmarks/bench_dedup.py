"""Dedup speed and memory: multi-index lookup vs a brute-force numpy scan, side by side.

    .venv/bin/python benchmarks/bench_dedup.py [--stored 200000] [--queries 2000]

Prints: hashing images/s (320x240 plots), lookups/s of Deduplicator's multi-index at
``--stored`` hashes next to a vectorised brute-force Hamming scan over the same hashes, and the
traced memory per remembered image.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import time
import tracemalloc

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stored", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=2_000)
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from s1mmalign.builder.stages.dedup import Deduplicator, image_hashes

    imgs = []
    for s in range(50):
        fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
        ax.plot(np.cumsum(np.random.default_rng(s).normal(size=100)))
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        imgs.append(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    t = time.perf_counter()
    for im in imgs:
        image_hashes(im)
    hash_rate = len(imgs) / (time.perf_counter() - t)

    rng = np.random.default_rng(0)
    stored = rng.integers(0, 1 << 63, size=args.stored, dtype=np.uint64)
    tracemalloc.start()
    dedup = Deduplicator(max_entries=args.stored + 1)
    fine = os.urandom(32)
    for i, h in enumerate(stored):
        key = f"arxiv_2101_{i:06d}_fig_1_abcdef12"
        dedup._remember_exact(hashlib.sha256(key.encode()).digest(), key)
        dedup._remember_near(int(h), fine, key)
    per_entry = tracemalloc.get_traced_memory()[0] / args.stored
    tracemalloc.stop()

    queries = [int(stored[i]) ^ (1 << int(rng.integers(0, 63))) for i in range(args.queries)]
    t = time.perf_counter()
    found = sum(dedup._find_near(q, fine) is not None for q in queries)
    mi_rate = args.queries / (time.perf_counter() - t)

    n_brute = min(args.queries, 200)
    t = time.perf_counter()
    for q in queries[:n_brute]:
        x = stored ^ np.uint64(q)
        d = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
        int(d.argmin())
    brute_rate = n_brute / (time.perf_counter() - t)

    print(f"hashing: {hash_rate:.0f} images/s (320x240 plots, 63-bit + 255-bit pHash)")
    print(f"lookup at {args.stored} stored: multi-index {mi_rate:.0f}/s (found {found}/{args.queries}), "
          f"brute-force numpy scan {brute_rate:.0f}/s, ratio {mi_rate / brute_rate:.1f}x")
    print(f"memory: {per_entry:.0f} bytes per remembered image (exact + near state)")


if __name__ == "__main__":
    main()
