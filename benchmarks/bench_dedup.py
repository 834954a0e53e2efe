"""Dedup speed and memory: the local stage vs the partitioned dedup, side by side.

    .venv/bin/python benchmarks/bench_dedup.py [--hashes 1000000] [--partitions 64] [--queries 2000]

Prints: hashing images/s (320x240 plots); lookups/s of the local stage's multi-index at
``--hashes`` stored next to a brute-force numpy Hamming scan; then, for ``--hashes`` synthetic
signatures (5 % near and 1 % exact duplicates planted), peak RSS of one process holding the local
stage's state vs each partition worker of the partitioned dedup (every worker a fresh process,
two at a time), the partitioned dedup's time (workers and the driver's resolve), and whether
both decide alike on a corpus of ``--check`` signatures made the same way.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import multiprocessing as mp
import resource
import time

import numpy as np

CHUNK = 20_000  # signatures per generated chunk (= per "unit" of the order key)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def signatures(n: int, start: int = 0, stop: int | None = None, keep=None):
    """Chunks (index, [Signature], positions) of a deterministic synthetic corpus; ``keep(h, sha)``
    (arrays of the chunk) selects the rows made into signatures."""
    from s1mmalign.builder.stages.dedup import CAPTION_SKETCH, Signature

    rng = np.random.default_rng(0)
    h = rng.integers(0, 1 << 63, size=n, dtype=np.uint64)
    fine = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    sha = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    words = np.sort(rng.integers(0, 1 << 32, size=(n, CAPTION_SKETCH), dtype=np.uint32), axis=1)
    near = rng.choice(np.arange(n // 2, n), size=n // 20, replace=False)
    src = rng.integers(0, n // 2, size=near.size)
    h[near] = h[src] ^ (np.uint64(1) << rng.integers(0, 63, size=near.size).astype(np.uint64))
    fine[near] = fine[src]
    fine[near, 0] ^= 1
    exact = rng.choice(np.arange(n // 2, n), size=n // 100, replace=False)
    sha[exact] = sha[rng.integers(0, n // 2, size=exact.size)]
    for c in range(start, stop if stop is not None else (n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        rows = np.arange(lo, hi) if keep is None else lo + np.flatnonzero(keep(h[lo:hi], sha[lo:hi]))
        yield c, [Signature(f"arxiv_{i // 6:07d}_fig{i % 6}", sha[i].tobytes(), int(h[i]), fine[i].tobytes(), (640, 480),
                            int(i // 6) + 1, words[i].tobytes()) for i in rows.tolist()], rows - lo


def _local(n: int, queries: int, q) -> None:
    """The local stage's state for n hashes (remembered without lookups), then timed lookups."""
    from s1mmalign.builder.stages.dedup import Deduplicator, Signature

    base = _rss_mb()
    dedup = Deduplicator(max_entries=n + 1)
    last = None
    for _, sigs, _ in signatures(n):
        for s in sigs:
            dedup._remember_exact(s.sha, s.key)
            dedup._remember_near(s)
        last = sigs
    rss = _rss_mb()
    rng = np.random.default_rng(1)
    qs = [Signature("q", b"", s.h ^ (1 << int(rng.integers(0, 63))), s.fine) for s in last[:queries]]
    t = time.perf_counter()
    found = sum(dedup.find_near(s) is not None for s in qs)
    q.put({"rss": rss, "base": base, "lookups_s": len(qs) / (time.perf_counter() - t), "found": found})


def _worker(n: int, partitions: int, p: int, q) -> None:
    """One partition: its share of the routed rows (as a Ray task receives them), then its pairs."""
    from s1mmalign.builder.stages.dedup import NearRule
    from s1mmalign.builder.stages.dedup_partitioned import ROUTE_BANDS, partition_pairs, route

    base = _rss_mb()
    t = time.perf_counter()

    def my_sha(h, sha):
        return np.ascontiguousarray(sha[:, :8]).view(">u8").ravel() % np.uint64(partitions) == p

    def mine(h, sha):
        keys = [((np.uint64(j << 8) | ((h >> np.uint64(8 * j)) & np.uint64(0xFF))) % np.uint64(partitions)) == p
                for j in range(ROUTE_BANDS)]
        return np.logical_or.reduce(keys)

    exact_rows, near_rows = [], []
    for which, keep in ((0, my_sha), (1, mine)):  # as route() sends them: sha -> 1 partition, bands -> 8
        for c, sigs, pos in signatures(n, keep=keep):
            full: list = [None] * CHUNK
            for i, s in zip(pos.tolist(), sigs):
                full[i] = s
            (exact_rows, near_rows)[which].extend(route(c, full, partitions)[which][p])
    t_route = time.perf_counter() - t
    t = time.perf_counter()
    groups, pairs, stats = partition_pairs(exact_rows, near_rows, NearRule(), 64)
    q.put({"p": p, "rss": _rss_mb(), "base": base, "rows": len(near_rows), "exact_rows": len(exact_rows),
           "pairs_s": time.perf_counter() - t, "route_s": t_route, "groups": groups, "pairs": pairs})


def _run(target, args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, q))
    proc.start()
    out = q.get()
    proc.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--check", type=int, default=40_000)
    ap.add_argument("--workers", type=int, default=0, help="run only this many of the partitions (0: all); "
                    "times are then scaled to all, the driver resolves the pairs of those only")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from s1mmalign.builder.stages.dedup import Deduplicator, image_hashes
    from s1mmalign.builder.stages.dedup_partitioned import decide, resolve

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
    print(f"hashing: {len(imgs) / (time.perf_counter() - t):.0f} images/s (320x240 plots, 63-bit + 255-bit pHash)")

    n = args.hashes
    local = _run(_local, (n, args.queries))
    stored = np.random.default_rng(0).integers(0, 1 << 63, size=n, dtype=np.uint64)
    t = time.perf_counter()
    for q in stored[:100]:
        d = np.unpackbits((stored ^ q).view(np.uint8).reshape(-1, 8), axis=1).sum(1)
        int(d.argmin())
    brute = 100 / (time.perf_counter() - t)
    print(f"lookup at {n} stored: multi-index {local['lookups_s']:.0f}/s (found {local['found']}/{args.queries}), "
          f"brute-force numpy scan {brute:.1f}/s, ratio {local['lookups_s'] / brute:.1f}x")

    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two worker processes at a time
        ran = args.workers or args.partitions
        results = list(pool.map(lambda p: _run(_worker, (n, args.partitions, p)), range(ran)))
    scale = args.partitions / ran
    wall = time.perf_counter() - t
    t = time.perf_counter()
    decisions = resolve([g for r in results for g in r["groups"]], [x for r in results for x in r["pairs"]])
    t_resolve = time.perf_counter() - t
    worker_rss = max(r["rss"] for r in results)
    pairs_s = sum(r["pairs_s"] for r in results) * scale
    print(f"\nstate for {n} hashes (peak RSS of a fresh process; an idle one with the imports: {local['base']:.0f} MB):")
    print(f"  local stage, one process:          {local['rss']:7.0f} MB "
          f"({(local['rss'] - local['base']) * 2**20 / n:.0f} B per image)")
    print(f"  partitioned, worst of {ran} (of {args.partitions}) workers: {worker_rss:7.0f} MB "
          f"(rows: {min(r['rows'] for r in results)}-{max(r['rows'] for r in results)} near, "
          f"~{n // args.partitions} exact per worker); ratio local / worker {local['rss'] / worker_rss:.1f}x, "
          f"above idle {(local['rss'] - local['base']) / (worker_rss - results[0]['base']):.1f}x")
    print(f"  driver: {len(decisions)} duplicates decided from {sum(len(r['pairs']) for r in results)} pairs "
          f"in {t_resolve:.2f} s")
    print(f"partitioned time: finding pairs {pairs_s:.1f} s of worker time for all {args.partitions} partitions"
          f"{' (scaled from ' + str(ran) + ')' if scale != 1 else ''} = {n / pairs_s:.0f} hashes/s per core; "
          f"on {args.partitions} cores {pairs_s / args.partitions:.1f} s (this run's wall {wall:.0f} s on 2 processes, "
          f"generating the synthetic rows included)")
    print(f"local lookups at {n} stored: {local['lookups_s']:.0f}/s -> {n / local['lookups_s'] / 3600:.2f} h "
          f"of one core for {n} records")

    m = min(args.check, n)
    sigs = [s for _, ss, _ in signatures(m) for s in ss]
    dedup = Deduplicator(max_entries=n + 1)
    t = time.perf_counter()
    local_dec = {i: why for i, s in enumerate(sigs) if (why := dedup.check(s))}
    t_local = time.perf_counter() - t
    units = [sigs[i:i + CHUNK] for i in range(0, m, CHUNK)]
    t = time.perf_counter()
    part = {u * CHUNK + pos: why[:2] for u, d in enumerate(decide(units, Deduplicator(), args.partitions)) for pos, why in d.items()}
    t_part = time.perf_counter() - t
    print(f"\nsame decisions on {m} signatures made the same way: {part == local_dec} ({len(local_dec)} duplicates); "
          f"local {m / t_local:.0f}/s, partitioned in one process {m / t_part:.0f}/s")


if __name__ == "__main__":
    main()
