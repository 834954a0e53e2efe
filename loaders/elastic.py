"""Resuming an epoch on a different number of ranks or DataLoader workers (elastic resume).

A checkpoint says, for each worker of the saved layout (``world_size`` x ``num_workers``), how
many positions its shuffle buffer emitted. Which positions those were is a function of the
plan and the buffer's seed (:class:`~s1mmalign.loaders.shuffle.PositionShuffle` replays its
draws on integers), so the samples the saved run consumed are known exactly, without I/O. The
rest of the epoch — in epoch order — is what the resumed run reads, cut into its own ranks and
workers as an epoch is. A *layer* is one such interrupted run: ``(world_size, num_workers,
[emitted per worker])``; a run resumed twice in one epoch stacks two.

Every rank of a data-parallel run loads rank 0's checkpoint: ranks step in lockstep (equal
batches), so every rank's worker ``k`` emitted what rank 0's did. With samples that failed to
decode, ranks may have emitted a few more positions than rank 0; those are then read again.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from s1mmalign.loaders import split as splitting
from s1mmalign.loaders.select import ShardPick
from s1mmalign.loaders.shuffle import PositionShuffle

Layer = tuple[int, int, list[int]]  # (world_size, num_workers, emitted per worker)


def buffer_rng(seed: int, epoch: int, rank: int, worker: int, num_workers: int, depth: int = 0):
    """The shuffle buffer's generator of one worker (``depth``: how many layers precede its run)."""
    extra = ("layer", depth) if depth else ()
    return splitting.epoch_rng(seed, epoch, "buffer", rank, worker, num_workers, *extra)


def consumed_positions(n: int, size: int, initial: int, rng, emitted: int) -> np.ndarray:
    """Positions ``0..n-1`` of a worker's plan that its buffer had emitted after ``emitted`` pops."""
    if emitted >= n:
        return np.arange(n)
    shuffle = PositionShuffle(n, size, rng, initial)
    shuffle.advance(emitted)
    done = np.ones(shuffle.next_in, dtype=bool)
    done[np.asarray(shuffle.buffer, dtype=np.int64)] = False
    return np.flatnonzero(done)


def remaining(total: int, layers: list[Layer], *, seed: int, epoch: int, size: int, initial: int) -> np.ndarray:
    """Indices into the epoch's sample sequence that no layer consumed, in epoch order."""
    left = np.arange(total, dtype=np.int64)
    for depth, (world, workers, emitted) in enumerate(layers):
        n = len(left) // world
        if len(emitted) != workers:
            raise ValueError(f"elastic resume: {len(emitted)} worker states for {workers} workers")
        used = np.zeros(len(left), dtype=bool)
        for rank in range(world):
            for k in range(workers):
                a, b = splitting.part(n, workers, k)
                rng = buffer_rng(seed, epoch, rank, k, workers, depth)
                used[rank * n + a + consumed_positions(b - a, size, initial, rng, int(emitted[k]))] = True
        left = left[~used]
    return left


def picks_for(indices: np.ndarray, segments: list[splitting.Segment], picks: list[ShardPick]):
    """Derived picks and segments reading exactly ``indices`` of the epoch's sequence, in that order.

    Consecutive indices of one shard become one pick whose ``rows`` are their shard positions,
    so a resumed run still reads each shard's samples in one pass."""
    lengths = np.fromiter((hi - lo for _, lo, hi in segments), dtype=np.int64, count=len(segments))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    seg = np.searchsorted(starts, indices, side="right") - 1
    pick_of = np.fromiter((i for i, _, _ in segments), dtype=np.int64, count=len(segments))[seg]
    lo_of = np.fromiter((lo for _, lo, _ in segments), dtype=np.int64, count=len(segments))[seg]
    selected = lo_of + (indices - starts[seg])  # number among the pick's selected samples
    out_picks: list[ShardPick] = []
    out_segments: list[splitting.Segment] = []
    cuts = np.flatnonzero(np.diff(pick_of)) + 1
    for run_sel, run_pick in zip(np.split(selected, cuts), np.split(pick_of, cuts)):
        if not len(run_sel):
            continue
        p = picks[int(run_pick[0])]
        rows = run_sel if p.rows is None else p.rows[run_sel]
        derived = ShardPick(path=p.path, format=p.format, discipline=p.discipline, num_samples=p.num_samples,
                            bytes=p.bytes, sample_index=p.sample_index, count=len(rows), rows=rows,
                            offsets=None if p.offsets is None else p.offsets[run_sel],
                            sizes=None if p.sizes is None else p.sizes[run_sel],
                            row_groups=p.row_groups, src=p.src)
        out_segments.append((len(out_picks), 0, len(rows)))
        out_picks.append(derived)
    return out_picks, out_segments


def layer_from_loader_state(state: dict) -> tuple[int, Optional[Layer], dict]:
    """(epoch, the saved run's layer, its dataset state) from a ``StatefulDataLoader`` state dict.

    The layer is None when the saved run had not started the epoch (nothing consumed)."""
    if "_snapshot" in state:  # DataLoader workers
        if state.get("_steps_since_snapshot"):
            raise ValueError("elastic resume needs a snapshot at every step: keep snapshot_every_n_steps=1")
        workers = state["_snapshot"]["_worker_snapshots"]
        num_workers = len(workers)
        snaps = [workers.get(f"worker_{k}") or {} for k in range(num_workers)]
        dataset_state = next((w["dataset_state"] for w in snaps if w.get("dataset_state")), None) or {}
        per = [(w.get("fetcher_state") or {}).get("dataset_iter_state") for w in snaps]
    else:  # the main process
        dataset_state = state.get("dataset_state") or {}
        num_workers, per = 1, [(state.get("fetcher_state") or {}).get("dataset_iter_state")]
    if not dataset_state:
        raise ValueError("cannot resume: the state holds no S1MMAlignStream state (was it saved by make_dataloader?)")
    epochs = {int(p["epoch"]) for p in per if p}
    epoch = epochs.pop() if len(epochs) == 1 else int(dataset_state["epoch"])
    emitted = [int(p["emitted"]) if p and int(p["epoch"]) == epoch else 0 for p in per]
    layer = (int(dataset_state["world_size"]), num_workers, emitted) if any(emitted) else None
    return epoch, layer, dataset_state
