"""Partitioned dedup: the same decisions as the local Deduplicator, for any number of partitions."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_dedup import _decay, _plot

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.dedup import Deduplicator, NearRule, Signature
from s1mmalign.builder.stages.dedup_partitioned import dedup_in_partitions, partition_pairs, resolve, route, route_keys


def _png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _blank(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (320, 240), "white")
    x = int(rng.integers(20, 300))
    ImageDraw.Draw(img).line([x, 20, x + 3, 220], fill=(120, 120, 120), width=1)
    return img


def _rec(key: str, data: bytes, paper: str, caption: str) -> dict:
    return {"key": key, "image": {"bytes": data, "path": None}, "caption": caption, "paper_id": paper,
            "source": "arxiv"}


@pytest.fixture(scope="module")
def corpus() -> list[list[dict]]:
    """Four units of papers: originals, re-encodings and resizes in and across papers, exact
    copies, near-blank images, template plots of different data, broken and missing images."""
    rng = np.random.default_rng(1)
    plots = [_plot(s, "line") for s in range(8)] + [_plot(s, "scatter") for s in range(6)] + [_decay(0.8), _decay(1.0)]
    caps = [" ".join("".join(rng.choice(list("abcdefghijklmnop"), 6)) for _ in range(8)) for _ in plots]
    units: list[list[dict]] = [[] for _ in range(4)]
    for i, img in enumerate(plots):
        units[i % 2].append(_rec(f"p{i}", _png(img), f"paper{i % 5}", caps[i]))
    for i, img in enumerate(plots[:12]):
        w, h = img.size
        kind = i % 4
        if kind == 0:  # same paper, resized JPEG
            v, paper, cap = _png(img.resize((w * 3 // 4, h * 3 // 4)), "JPEG", quality=70), f"paper{i % 5}", "x"
        elif kind == 1:  # another paper, same size, re-encoded
            v, paper, cap = _png(img, "JPEG", quality=80), "other-a", "Unrelated words entirely here."
        elif kind == 2:  # another paper, resized, same caption (another version of the paper)
            v, paper, cap = _png(img.resize((w * 2, h * 2))), "other-b", caps[i]
        else:  # another paper, resized, different caption: kept
            v, paper, cap = _png(img.resize((w * 2, h * 2))), "other-c", "A different figure text."
        units[2 + i % 2].append(_rec(f"v{i}", v, paper, cap))
    units[3].append(_rec("copy0", units[0][0]["image"]["bytes"], "other-d", "copy"))
    units[2].append(_rec("copy0b", units[0][0]["image"]["bytes"], "other-e", "copy"))
    blanks = [_png(_blank(s)) for s in range(4)]
    for i, b in enumerate(blanks):
        units[i % 4].append(_rec(f"b{i}", b, f"paper{i}", "blank"))
    units[3].append(_rec("b0again", blanks[0], "paper9", "blank"))
    units[1].append(_rec("broken", b"\x89PNG\r\n\x1a\nbroken", "paper1", "broken"))
    units[2].append({"key": "noimg", "image": None, "paper_id": "paper2", "caption": "none"})
    # a chain: A kept, B near A rejected, C = B's bytes in a later unit
    units[0].append(_rec("chainA", _png(plots[13]), "paperX", "chain"))
    w, h = plots[13].size
    units[1].append(_rec("chainB", _png(plots[13].crop((2, 2, w - 2, h - 2)), "JPEG", quality=85), "paperX", "chain"))
    units[3].append(_rec("chainC", units[1][-1]["image"]["bytes"], "paperY", "chain"))
    return units


def _rows(rejects: Rejects) -> list[tuple]:
    return sorted((r.key, r.reason, re.sub(r" at 0x[0-9a-f]+", "", r.detail)) for r in rejects)  # PIL names a buffer


def _local(units: list[list[dict]]) -> tuple[list[list[str]], list[tuple]]:
    dedup, rejects = Deduplicator(), Rejects()
    kept = [[r["key"] for r in dedup(u, rejects)] for u in units]
    return kept, _rows(rejects)


@pytest.mark.parametrize("partitions", [1, 3, 16])
def test_partitioned_decisions_equal_the_local_stage(corpus, partitions):
    local_kept, local_rejects = _local(corpus)
    dedup, rejects = Deduplicator(), Rejects()
    kept = [[r["key"] for r in u] for u in dedup_in_partitions(corpus, dedup, rejects, partitions)]
    got = _rows(rejects)
    reasons = {}
    for _, reason, _ in local_rejects:
        reasons[reason] = reasons.get(reason, 0) + 1
    print(f"\n[dedup partitioned x{partitions}] {sum(map(len, corpus))} records: local rejects {reasons}; "
          f"pairs {dedup.stats['pairs']}, near rows {dedup.stats['near_rows']}")
    assert kept == local_kept and got == local_rejects
    assert reasons.get("near_duplicate", 0) >= 8 and reasons.get("exact_duplicate", 0) >= 3
    assert {"undecodable", "no_image"} <= set(reasons)
    assert ("chainC", "near_duplicate", "looks like chainA") in got  # B (0 bits from C) was rejected: A (2 bits)
    assert "v3" in sum(kept, []) and "v7" in sum(kept, [])  # another paper, another caption, other size
    assert {"p14", "p15"} <= set(sum(kept, []))  # decay plots of other data from two papers


def test_every_pair_within_seven_bits_meets_in_a_partition():
    rng = np.random.default_rng(0)
    rule = NearRule(max_distance=7, max_fine_distance=255)
    fine = bytes(32)
    base = [int(x) for x in rng.integers(0, 1 << 63, size=200, dtype=np.uint64)]
    sigs = [Signature(f"s{i}", i.to_bytes(32, "big"), h, fine) for i, h in enumerate(base)]
    near = []
    for i, h in enumerate(base[:100]):
        for b in rng.choice(63, size=int(rng.integers(1, 8)), replace=False):
            h ^= 1 << int(b)
        near.append(Signature(f"n{i}", (1000 + i).to_bytes(32, "big"), h, fine))
    exact_rows, near_rows = route(0, sigs + near, 5)
    assert sum(map(len, near_rows)) == 8 * 300 and len(set(route_keys(base[0]))) == 8
    pairs = []
    for p in range(5):
        pairs.extend(partition_pairs(exact_rows[p], near_rows[p], rule)[1])
    found = {(later, earlier) for later, _, earlier, _, _ in pairs}
    assert len(pairs) == len(found)  # each pair once
    assert {(200 + i, i) for i in range(100)} <= found
    decisions = resolve([], pairs)
    assert all(decisions[200 + i][1] == f"looks like s{i}" for i in range(100)) and len(decisions) == 100
