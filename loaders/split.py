"""Cutting one epoch into ranks and DataLoader workers, with counts known up front.

An epoch is a sequence of *segments* ``(pick, lo, hi)`` — selected samples ``lo..hi-1`` of one
shard pick — in a shard order shuffled from ``(seed, epoch)``. Rank ``r`` of ``W`` takes
samples ``[r*n, (r+1)*n)`` of that sequence with ``n = total // W`` (the fewer than ``W``
samples left over are dropped, different ones each epoch), and worker ``k`` of ``K`` takes
a contiguous part of its rank's range; part sizes depend only on ``n`` and ``K``, so every
rank yields exactly the same number of batches — no DDP hang on uneven shards or filters.
No sample appears twice within an epoch (without ``weights`` that upsample).
"""

from __future__ import annotations

import numbers
import random
from typing import Optional

Segment = tuple[int, int, int]  # (pick index, lo, hi)


def epoch_rng(seed: int, epoch: int, *parts) -> random.Random:
    """A generator that depends only on its arguments (string seeds hash with SHA-512)."""
    return random.Random("/".join(str(p) for p in ("s1mmalign", seed, epoch, *parts)))


def group_quotas(by_group: dict, weights: Optional[dict], total: Optional[int] = None) -> dict:
    """Samples per group (a discipline, or a source of a mix) in one epoch, rebalanced by ``weights``.

    The epoch has ``total`` samples (default: the selection's size); group ``g`` gets
    ``total * w_g / sum(w)`` samples (cycling its shards when it has fewer, a random part of
    them when more). Groups absent from ``weights`` get weight 0.
    """
    if not weights:
        if total is None:
            return dict(by_group)
        weights = dict(by_group)  # a new epoch size, the groups in their proportions
    bad = sorted(map(str, set(weights) - set(by_group)))
    if bad:
        raise ValueError(f"weights= names groups with no selected sample: {bad}; selected: {sorted(map(str, by_group))}")
    if any(isinstance(w, bool) or not isinstance(w, numbers.Real) for w in weights.values()):  # ("3" >= 0: TypeError)
        raise ValueError(f"weights must be numbers, got {weights}")
    if any(not w >= 0 for w in weights.values()) or not sum(weights.values()):
        raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
    total = sum(by_group.values()) if total is None else int(total)
    wsum = float(sum(weights.values()))
    quotas = {g: int(round(total * weights.get(g, 0.0) / wsum)) for g in by_group}
    return {g: q for g, q in quotas.items() if q > 0}


def epoch_segments(
    counts: list[int],
    groups: list,
    *,
    seed: int,
    epoch: int,
    shuffle: bool,
    quotas: Optional[dict] = None,
    mix_chunk: Optional[int] = None,
    limit: Optional[int] = None,
    resampled: bool = False,
) -> list[Segment]:
    """The epoch's sample order at shard granularity (see the module docstring).

    With ``mix_chunk`` (and ``shuffle``) shards are cut into runs of that many samples and the
    runs of all shards are shuffled together: a reader then moves to another shard (often
    another discipline) every ``mix_chunk`` samples instead of every shard, so the shuffle
    buffer mixes disciplines within a batch. Runs are still read sequentially.
    """
    segments = _shard_segments(counts, groups, seed=seed, epoch=epoch, shuffle=shuffle, quotas=quotas)
    if shuffle and mix_chunk:
        segments = [(i, a, min(a + mix_chunk, hi)) for i, lo, hi in segments for a in range(lo, hi, mix_chunk)]
        epoch_rng(seed, epoch, "chunks").shuffle(segments)
    return segments


def _shard_segments(counts, groups, *, seed, epoch, shuffle, quotas, resampled=False) -> list[Segment]:
    order = list(range(len(counts)))
    if shuffle:
        epoch_rng(seed, epoch, "shards").shuffle(order)
    if quotas is None:
        return [(i, 0, counts[i]) for i in order if counts[i]]
    segments: list[Segment] = []
    draw = epoch_rng(seed, epoch, "resample")
    for g, quota in sorted(quotas.items(), key=lambda kv: str(kv[0])):
        mine = [i for i in order if groups[i] == g and counts[i]]
        k = 0
        while quota > 0 and mine:
            i = draw.choices(mine, weights=[counts[j] for j in mine])[0] if resampled else mine[k % len(mine)]
            take = min(quota, counts[i])
            segments.append((i, 0, take))
            quota -= take
            k += 1
    if shuffle:
        epoch_rng(seed, epoch, "mix").shuffle(segments)
    return segments


def part(n: int, parts: int, k: int) -> tuple[int, int]:
    """``[start, stop)`` of part ``k`` when ``n`` items are cut into ``parts`` near-equal parts."""
    base, extra = divmod(n, parts)
    start = k * base + min(k, extra)
    return start, start + base + (1 if k < extra else 0)


def slice_segments(segments: list[Segment], start: int, stop: int) -> list[Segment]:
    """The segments covering samples ``[start, stop)`` of the concatenated sequence."""
    out, pos = [], 0
    for i, lo, hi in segments:
        n = hi - lo
        a, b = max(start, pos), min(stop, pos + n)
        if a < b:
            out.append((i, lo + a - pos, lo + b - pos))
        pos += n
        if pos >= stop:
            break
    return out


def per_rank(total: int, world_size: int) -> int:
    n = total // world_size
    if n == 0:
        raise ValueError(f"the selection has {total} samples, fewer than the {world_size} ranks: widen the filters")
    return n


def worker_counts(n_rank: int, num_workers: int) -> list[int]:
    return [b - a for a, b in (part(n_rank, max(num_workers, 1), k) for k in range(max(num_workers, 1)))]
