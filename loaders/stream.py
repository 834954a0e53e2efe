"""``S1MMAlignStream``: the filtered, shuffled, rank-split sample stream (a torch IterableDataset).

Per epoch and per (rank, worker) the stream is a fixed list of shard segments (``split``)
read in order (``readers``, a bounded number of bytes ahead in a background thread) through
a bounded position buffer (``shuffle``). Its state is
``(epoch, emitted, yielded, pad)``; restoring replays the buffer's draws on integers and
re-reads only the samples that were in the buffer, so the samples after a restore are
exactly those of an uninterrupted run.

Every worker yields exactly its planned count: a sample that cannot be read or decoded is
skipped and counted, and the worker tops its count up at the end with re-reads of its first
samples (``pad``), so ranks stay in step. More than ``max_errors`` failures in one worker
raise.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Iterator, Optional

import torch
from torch.utils.data import IterableDataset, get_worker_info

from s1mmalign.core.images import DEFAULT_MAX_PIXELS
from s1mmalign.loaders import split as splitting
from s1mmalign.loaders.captions import check_caption_mode, choose_caption
from s1mmalign.loaders.readers import DEFAULT_READ_AHEAD, Failed, SampleError, decode, read_plan, reader
from s1mmalign.loaders.select import select
from s1mmalign.loaders.shuffle import PositionShuffle
from s1mmalign.loaders.source import Source

log = logging.getLogger(__name__)
STATE_VERSION = 1


def _dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class S1MMAlignStream(IterableDataset):
    """Stream S1-MMAlign samples from a dataset folder, ``hf://datasets/<org>/<name>`` or any fsspec URL.

    Samples are dicts: every contract metadata field (``key``, ``caption``, ``recaption``,
    ``discipline``, ``modality``, ``source``, ``license``, ``paper_id``, ...), ``image``
    (RGB PIL), ``text`` (the caption chosen by ``caption=``) and ``__shard__``.

    Filters (``disciplines``, ``modalities``, ``sources``, ``licenses``: a name or a list;
    ``min_clip_score``) are resolved from the index before anything is read. ``weights``
    ({discipline: weight}) rebalances disciplines per epoch; ``mix_chunk`` (e.g. 256) moves
    readers to another shard every that many samples, so batches mix disciplines. ``rank``/``world_size`` default
    to ``torch.distributed`` when it is initialised. Call :meth:`set_epoch` each epoch.

    The shuffle buffer holds up to ``shuffle_buffer`` samples; like webdataset's it starts
    emitting at ``shuffle_initial`` samples and grows by one per sample (the first batch comes
    after ``shuffle_initial`` reads, not ``shuffle_buffer``; ``shuffle_initial=shuffle_buffer``
    fills it first).

    ``read_ahead`` (bytes, default 32 MiB; 0: off): each iterating process or DataLoader worker
    reads the next samples of its plan in a background thread while the current ones are
    decoded, holding at most that many bytes of samples ahead — the same samples in the same order.

    ``cache_dir`` (remote sources): shards fetched whole are kept there, checked against the
    index's sha256, and read from there in later epochs and runs (see :mod:`s1mmalign.loaders.cache`).
    """

    def __init__(
        self,
        source: "str | os.PathLike | Source",
        *,
        disciplines=None,
        modalities=None,
        sources=None,
        licenses=None,
        min_clip_score: Optional[float] = None,
        caption: str = "recaption",
        mix_p: float = 0.5,
        seed: int = 0,
        shuffle: bool = True,
        shuffle_buffer: int = 1000,
        shuffle_initial: int = 100,
        mix_chunk: Optional[int] = None,
        weights: Optional[dict[str, float]] = None,
        format: str = "auto",
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        max_errors: int = 100,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        read_ahead: int = DEFAULT_READ_AHEAD,
        storage_options: Optional[dict] = None,
        check_index: bool = True,
        cache_dir: "Optional[str | os.PathLike]" = None,
    ):
        check_caption_mode(caption, mix_p)
        self.source = source if isinstance(source, Source) else Source(
            source, storage_options=storage_options, check_index=check_index, cache_dir=cache_dir)
        self.selection = select(
            self.source, format=format, disciplines=disciplines, modalities=modalities, sources=sources,
            licenses=licenses, min_clip_score=min_clip_score, caption=caption,
        )
        self.quotas = splitting.discipline_quotas(self.selection.by_discipline, weights) if weights else None
        r, w = _dist_rank_world()
        self.rank = r if rank is None else int(rank)
        self.world_size = w if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not in [0, {self.world_size})")
        self.caption, self.mix_p, self.seed = caption, mix_p, int(seed)
        self.shuffle, self.shuffle_buffer = shuffle, int(shuffle_buffer) if shuffle else 1
        if int(shuffle_initial) < 1:
            raise ValueError(f"shuffle_initial must be >= 1, got {shuffle_initial}")
        self.shuffle_initial = min(int(shuffle_initial), self.shuffle_buffer)
        if mix_chunk is not None and int(mix_chunk) < 1:
            raise ValueError(f"mix_chunk must be >= 1 (or None), got {mix_chunk}")
        self.mix_chunk = int(mix_chunk) if mix_chunk else None
        self.max_errors, self.max_pixels = int(max_errors), max_pixels
        if int(read_ahead) < 0:
            raise ValueError(f"read_ahead must be >= 0 bytes (0: no background reading), got {read_ahead}")
        self.read_ahead = int(read_ahead)
        self.epoch = 0
        self.samples_per_rank = splitting.per_rank(self.epoch_size, self.world_size)

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def epoch_size(self) -> int:
        """Samples in one epoch over all ranks (before dropping the < world_size left over)."""
        return sum(self.quotas.values()) if self.quotas else self.selection.total

    def __len__(self) -> int:
        return self.samples_per_rank

    def worker_counts(self, num_workers: int) -> list[int]:
        """Samples each DataLoader worker of this rank yields per epoch (0 workers: one count)."""
        return splitting.worker_counts(self.samples_per_rank, num_workers)

    def batches_per_rank(self, batch_size: int, num_workers: int = 0, drop_last: bool = False) -> int:
        """Batches per epoch on every rank (the same on all ranks)."""
        if drop_last:
            return sum(c // batch_size for c in self.worker_counts(num_workers))
        return sum(-(-c // batch_size) for c in self.worker_counts(num_workers))

    # -- epochs and state -------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _fingerprint(self) -> dict:
        picks = "\n".join(f"{p.path}:{p.count}" for p in self.selection.picks)
        return {"total": self.epoch_size, "seed": self.seed, "world_size": self.world_size,
                "rank": self.rank, "shuffle_buffer": self.shuffle_buffer,
                "shuffle_initial": self.shuffle_initial, "caption": self.caption,
                "mix_chunk": self.mix_chunk,
                "selection": hashlib.blake2b(picks.encode(), digest_size=8).hexdigest()}

    def state_dict(self) -> dict:
        """Dataset-level state (the epoch); the position in the epoch is the iterator's state."""
        return {"version": STATE_VERSION, "epoch": self.epoch, **self._fingerprint()}

    def load_state_dict(self, state: dict) -> None:
        mine = self._fingerprint()
        diff = {k: (state.get(k), v) for k, v in mine.items() if state.get(k) != v}
        if diff:
            raise ValueError(
                "cannot resume: the stream was built differently from the saved one "
                + ", ".join(f"{k}: saved {a!r} != now {b!r}" for k, (a, b) in diff.items())
                + " (same filters, seed, shuffle_buffer, shuffle_initial and world size are needed for an exact resume)"
            )
        self.epoch = int(state["epoch"])

    def __iter__(self) -> "_EpochIterator":
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return _EpochIterator(self, self.epoch, worker, workers)

    # -- planning ------------------------------------------------------------------------------
    def plan(self, epoch: int, worker: int = 0, num_workers: int = 1) -> list[splitting.Segment]:
        """The segments ``(pick, lo, hi)`` that ``worker`` of this rank reads in ``epoch``."""
        counts = [p.count for p in self.selection.picks]
        disciplines = [p.discipline for p in self.selection.picks]
        segments = splitting.epoch_segments(counts, disciplines, seed=self.seed, epoch=epoch,
                                            shuffle=self.shuffle, quotas=self.quotas, mix_chunk=self.mix_chunk)
        n = self.samples_per_rank
        a, b = splitting.part(n, num_workers, worker)
        start = self.rank * n
        return splitting.slice_segments(segments, start + a, start + b)

    def describe(self) -> str:
        s = self.selection
        total_bytes = sum(e["bytes"] for e in self.source.index["shards"] if e["format"] == s.format)
        return (f"{s.total} samples in {len(s.picks)} {s.format} shards "
                f"({', '.join(f'{d} {n}' for d, n in s.by_discipline.items())}); reads about "
                f"{s.bytes / max(total_bytes, 1):.1%} of the {s.format} bytes; "
                f"{self.samples_per_rank} samples per rank x {self.world_size} ranks")


class _EpochIterator:
    """One worker's pass over one epoch; ``state_dict``/``load_state_dict`` before the first ``next``.

    Its reader thread (``read_ahead``) stops when the epoch ends, on an error, on :meth:`close`,
    or when the iterator is dropped (a ``break``).
    """

    def __init__(self, stream: S1MMAlignStream, epoch: int, worker: int, num_workers: int):
        self.s, self.epoch, self.worker, self.num_workers = stream, epoch, worker, num_workers
        self.emitted = 0  # positions popped from the buffer (good or failed)
        self.yielded = 0  # samples handed out
        self.pad = 0  # next position re-read to top the count up
        self.errors: dict[str, int] = {}
        self._started = False
        self.reader: Optional[Iterator] = None

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "worker": self.worker, "num_workers": self.num_workers,
                "emitted": self.emitted, "yielded": self.yielded, "pad": self.pad, "errors": dict(self.errors)}

    def load_state_dict(self, state: dict) -> None:
        if self._started:
            raise RuntimeError("load_state_dict must come before iteration starts")
        if (state["worker"], state["num_workers"]) != (self.worker, self.num_workers):
            raise ValueError(f"cannot resume worker {state['worker']}/{state['num_workers']} state in worker "
                             f"{self.worker}/{self.num_workers}: use the same num_workers as the saved run")
        self.epoch = int(state["epoch"])
        self.emitted, self.yielded, self.pad = int(state["emitted"]), int(state["yielded"]), int(state["pad"])
        self.errors = dict(state.get("errors") or {})

    # -- iteration --------------------------------------------------------------------------------
    def __iter__(self) -> "_EpochIterator":
        return self

    def _start(self) -> None:
        self._started = True
        s = self.s
        self.segments = s.plan(self.epoch, self.worker, self.num_workers)
        self.n = sum(hi - lo for _, lo, hi in self.segments)
        rng = splitting.epoch_rng(s.seed, self.epoch, "buffer", s.rank, self.worker, self.num_workers)
        self.buffer = PositionShuffle(self.n, s.shuffle_buffer, rng, s.shuffle_initial)
        self.store: dict[int, Any] = {}
        self.buffer.advance(self.emitted)
        # on a restore, re-read what sat in the buffer, from its oldest position, then go on
        keep = set(self.buffer.buffer)
        first = min(keep, default=self.buffer.next_in)
        self.reader = reader(s.source, s.selection.picks, self.segments, first, s.read_ahead)
        for pos in range(first, self.buffer.next_in):
            item = next(self.reader)
            if pos in keep:
                self.store[pos] = item

    def close(self) -> None:
        """Stop reading ahead (the iterator is done with)."""
        if self.reader is not None and hasattr(self.reader, "close"):
            self.reader.close()

    def _fail(self, key, reason: str, detail: str, shard: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1
        total = sum(self.errors.values())
        log.warning("skipped sample %s of %s: %s (%s) [%d skipped in this worker]", key, shard, reason, detail[:200], total)
        if total > self.s.max_errors:
            raise RuntimeError(
                f"{total} samples failed in worker {self.worker} (more than max_errors={self.s.max_errors}); "
                f"by reason: {self.errors}. Last: {reason} in {shard}: {detail[:300]}"
            )

    def _finish(self, item) -> Optional[dict]:
        if isinstance(item, Failed):
            self._fail(item.key, item.reason, item.detail, item.shard)
            return None
        try:
            sample = decode(item, max_pixels=self.s.max_pixels)
        except SampleError as e:
            self._fail(e.key, e.reason, e.detail, item.shard)
            return None
        sample["text"] = choose_caption(sample, self.s.caption, mix_p=self.s.mix_p, seed=self.s.seed, epoch=self.epoch)
        return sample

    def __next__(self) -> dict:
        try:
            return self._next()
        except BaseException:  # the end of the epoch, max_errors, an interrupt: no thread outlives it
            self.close()
            raise

    def _next(self) -> dict:
        if not self._started:
            self._start()
        while self.buffer.emitted < self.n:
            for _ in range(self.buffer.wanted()):
                self.store[self.buffer.push()] = next(self.reader)
            pos = self.buffer.pop()
            self.emitted = self.buffer.emitted
            sample = self._finish(self.store.pop(pos))
            if sample is not None:
                self.yielded += 1
                return sample
        # top up the count with the first samples again (only after failures)
        while self.yielded < self.n:
            if self.pad >= self.n:
                raise RuntimeError(f"worker {self.worker}: no readable sample to keep the planned count")
            items = read_plan(self.s.source, self.s.selection.picks, self.segments, self.pad)
            try:
                item = next(items)
            finally:
                items.close()
            self.pad += 1
            sample = self._finish(item)
            if sample is not None:
                self.yielded += 1
                sample["__padded__"] = True
                return sample
        raise StopIteration
