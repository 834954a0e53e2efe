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

import copy
import hashlib
import logging
import numbers
import os
from typing import Any, Iterator, Optional

import torch
from torch.utils.data import IterableDataset, get_worker_info

from s1mmalign.core.images import DEFAULT_MAX_PIXELS
from s1mmalign.core.prefetch import ReadAhead
from s1mmalign.loaders import elastic
from s1mmalign.loaders import split as splitting
from s1mmalign.loaders.captions import check_caption_mode, choose_caption
from s1mmalign.loaders.readers import DEFAULT_READ_AHEAD, Failed, SampleError, decode, read_plan, reader
from s1mmalign.loaders.remote import DEFAULT_TIMEOUT
from s1mmalign.loaders.select import TEXT_FIELDS, check_columns, merge_selections, select
from s1mmalign.loaders.shuffle import PositionShuffle
from s1mmalign.loaders.source import Source

log = logging.getLogger(__name__)
STATE_VERSION = 2
DEFAULT_DECODE_AHEAD = 32 << 20  # bytes of decoded pixels a stream outside DataLoader workers holds ahead


def _dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _as_sources(source, **kw) -> list[Source]:
    items = source if isinstance(source, (list, tuple)) else [source]
    if not items:
        raise ValueError("no source given")
    if len(items) > 1 and kw.get("local") is not None:
        raise ValueError("local= names the staged copy of one source: pass Source(url, local=...) objects in a list")
    return [x if isinstance(x, Source) else Source(x, **kw) for x in items]


class S1MMAlignStream(IterableDataset):
    """Stream S1-MMAlign samples from a dataset folder, ``hf://datasets/<org>/<name>``, any fsspec URL,
    or a list of these (mixed; ``weights=[...]`` per source).

    Samples are dicts: the contract's metadata fields (all, or ``columns=``), ``image`` (RGB PIL),
    ``text`` (the caption chosen by ``caption=``) and ``__shard__``.

    Filters (``disciplines``, ``modalities``, ``sources``, ``licenses``: a name or a list;
    ``min_clip_score``; ``where=`` in ``datasets``' ``filters=`` form over the index's sample
    columns; ``filter_fn(row)`` on each candidate's index row) are resolved from the index
    before anything is read. ``weights``: {discipline: weight} rebalances disciplines, a list
    (one per source) mixes sources; ``samples_per_epoch`` sets the epoch's size and
    ``resampled=True`` draws shards with replacement. ``mix_chunk`` (e.g. 256) moves readers to
    another shard every that many samples. ``rank``/``world_size`` default to
    ``torch.distributed``. Call :meth:`set_epoch` each epoch.

    ``shuffle_buffer``/``shuffle_initial``: a bounded buffer that starts emitting at
    ``shuffle_initial`` samples and grows by one per sample (webdataset's policy).
    ``read_ahead`` (bytes, default 32 MiB; 0: off): reading in a background thread. ``decode_ahead``
    (bytes of decoded pixels, default 32 MiB where the stream runs outside DataLoader workers, else 0):
    shuffling and decoding in a second thread, which PIL's decoders run beside the consumer's own work
    (resize, tokenize) on another core; the samples and their order are the same. ``decode=False``:
    ``image`` is the stored PNG/JPEG bytes, for a decoder elsewhere (the pixel-count guard is then its own).
    ``cache_dir``/``cache_limit`` (remote sources): shards fetched whole are kept there, checked
    against the index's sha256, evicted least recently used over the limit; ``local=``: a
    pre-staged copy read instead of the remote where its files are whole; ``verify="sha256"``
    hashes every shard before use; ``timeout=(connect, read)`` seconds for remote requests.
    """

    def __init__(
        self,
        source,
        *,
        disciplines=None,
        modalities=None,
        sources=None,
        licenses=None,
        min_clip_score: Optional[float] = None,
        where=None,
        filter_fn=None,
        columns=None,
        caption: str = "recaption",
        mix_p: float = 0.5,
        seed: int = 0,
        shuffle: bool = True,
        shuffle_buffer: int = 1000,
        shuffle_initial: int = 100,
        mix_chunk: Optional[int] = None,
        weights=None,
        samples_per_epoch: Optional[int] = None,
        resampled: bool = False,
        format: str = "auto",
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        max_errors: int = 100,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        decode: bool = True,
        read_ahead: int = DEFAULT_READ_AHEAD,
        decode_ahead: Optional[int] = None,
        storage_options: Optional[dict] = None,
        check_index: bool = True,
        cache_dir: "Optional[str | os.PathLike]" = None,
        cache_limit=None,
        local: "Optional[str | os.PathLike]" = None,
        verify: Optional[str] = None,
        timeout=DEFAULT_TIMEOUT,
    ):
        check_caption_mode(caption, mix_p)
        self.sources = _as_sources(source, storage_options=storage_options, check_index=check_index,
                                   cache_dir=cache_dir, cache_limit=cache_limit, local=local, verify=verify,
                                   timeout=timeout)
        self.source = self.sources[0]
        self.columns = check_columns(columns)
        parts = [select(src, format=format, disciplines=disciplines, modalities=modalities, sources=sources,
                        licenses=licenses, min_clip_score=min_clip_score, caption=caption, where=where,
                        filter_fn=filter_fn, src=i)
                 for i, src in enumerate(self.sources)]
        self.selection = merge_selections(parts)
        if samples_per_epoch is not None and int(samples_per_epoch) < 1:
            raise ValueError(f"samples_per_epoch must be >= 1, got {samples_per_epoch}")
        if resampled and samples_per_epoch is None:
            raise ValueError("resampled=True needs samples_per_epoch= (an epoch of draws has no natural end)")
        self.resampled = bool(resampled)
        if isinstance(weights, (list, tuple)):
            if len(weights) != len(self.sources):
                raise ValueError(f"weights= has {len(weights)} values for {len(self.sources)} sources")
            by_src = {i: sum(p.count for p in self.selection.picks if p.src == i) for i in range(len(self.sources))}
            self.group_by = "src"
            self.quotas = splitting.group_quotas(by_src, dict(enumerate(weights)), samples_per_epoch)
        else:
            self.group_by = "discipline"
            self.quotas = (splitting.group_quotas(self.selection.by_discipline, weights or None, samples_per_epoch)
                           if weights or samples_per_epoch is not None else None)
        self.limit: Optional[int] = None
        r, w = _dist_rank_world()
        self.rank = r if rank is None else int(rank)
        self.world_size = w if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not in [0, {self.world_size})")
        self.caption, self.mix_p, self.seed = caption, mix_p, int(seed)
        self.shuffle, self.shuffle_buffer = shuffle, int(shuffle_buffer) if shuffle else 1
        if min(self.shuffle_buffer, int(shuffle_initial)) < 1:
            raise ValueError(f"shuffle_buffer and shuffle_initial must be >= 1, got {shuffle_buffer}, {shuffle_initial}")
        self.shuffle_initial = min(int(shuffle_initial), self.shuffle_buffer)
        if mix_chunk is not None and int(mix_chunk) < 1:
            raise ValueError(f"mix_chunk must be >= 1 (or None), got {mix_chunk}")
        self.mix_chunk = int(mix_chunk) if mix_chunk else None
        self.max_errors, self.max_pixels, self.decode = int(max_errors), max_pixels, bool(decode)
        if int(read_ahead) < 0:
            raise ValueError(f"read_ahead must be >= 0 bytes (0: no background reading), got {read_ahead}")
        self.read_ahead = int(read_ahead)
        if decode_ahead is not None and int(decode_ahead) < 0:
            raise ValueError(f"decode_ahead must be >= 0 bytes (0: decode in the consumer's thread), got {decode_ahead}")
        self.decode_ahead, self.epoch = None if decode_ahead is None else int(decode_ahead), 0
        self.layers: list = []  # elastic resume: the interrupted runs of epoch ``layers_epoch``
        self.layers_epoch: Optional[int] = None
        self._remaining: dict = {}
        splitting.per_rank(self.epoch_size, self.world_size)

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def epoch_size(self) -> int:
        """Samples in one epoch over all ranks (before dropping the < world_size left over)."""
        total = sum(self.quotas.values()) if self.quotas else self.selection.total
        return total if self.limit is None else min(total, self.limit)

    @property
    def samples_per_rank(self) -> int:
        """Samples each rank yields in the current epoch."""
        return splitting.per_rank(len(self._left(self.epoch)) if self._layered(self.epoch) else self.epoch_size,
                                  self.world_size)

    @property
    def read_columns(self) -> Optional[frozenset]:
        """What the readers fetch: ``columns=``, plus the captions that ``text`` is chosen from unless the
        tar's ``.txt`` member (the recaption, else the caption) is that choice."""
        if self.columns is None or self.caption == "recaption":
            return self.columns
        return self.columns | frozenset(TEXT_FIELDS)

    def __len__(self) -> int:
        return self.samples_per_rank

    def take(self, n: int) -> "S1MMAlignStream":
        """A copy of this stream whose epochs are their first ``n`` samples (a quick run)."""
        if int(n) < 1:
            raise ValueError(f"take(n) needs n >= 1, got {n}")
        out = copy.copy(self)
        out.limit = int(n) if self.limit is None else min(self.limit, int(n))
        out._remaining = {}
        splitting.per_rank(out.epoch_size, out.world_size)
        return out

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
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"set_epoch takes an epoch number >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def _fingerprint(self) -> dict:
        picks = "\n".join(f"{p.src}:{p.path}:{p.count}" for p in self.selection.picks)
        return {"total": self.epoch_size, "seed": self.seed, "world_size": self.world_size,
                "rank": self.rank, "shuffle_buffer": self.shuffle_buffer,
                "shuffle_initial": self.shuffle_initial, "caption": self.caption,
                "mix_chunk": self.mix_chunk,
                "selection": hashlib.blake2b(picks.encode(), digest_size=8).hexdigest()}

    def state_dict(self) -> dict:
        """Dataset-level state (the epoch, earlier interrupted runs of it); the position is the iterator's."""
        layers = [[w, k, list(e)] for w, k, e in self.layers] if self._layered(self.epoch) else []
        return {"version": STATE_VERSION, "epoch": self.epoch, "layers": layers, **self._fingerprint()}

    def load_state_dict(self, state: dict, elastic: bool = False) -> None:
        """Restore the epoch; ``elastic``: the saved world size may differ (its layers are kept)."""
        mine = self._fingerprint()
        skip = ("world_size", "rank") if elastic else ()
        diff = {k: (state.get(k), v) for k, v in mine.items() if k not in skip and state.get(k) != v}
        if diff:
            raise ValueError(
                "cannot resume: the stream was built differently from the saved one "
                + ", ".join(f"{k}: saved {a!r} != now {b!r}" for k, (a, b) in diff.items())
                + " (same filters, seed, shuffle_buffer, shuffle_initial and sources are needed; a different "
                "world size or num_workers resumes through loader.load_state_dict)"
            )
        self.epoch = int(state["epoch"])
        self.layers = [(int(w), int(k), [int(x) for x in e]) for w, k, e in state.get("layers") or []]
        self.layers_epoch = self.epoch if self.layers else None
        self._remaining = {}

    def resume_elastic(self, epoch: int, layers: list) -> None:
        """Read, in ``epoch``, only what the interrupted runs ``layers`` did not (see :mod:`elastic`)."""
        self.epoch, self.layers, self.layers_epoch, self._remaining = int(epoch), list(layers), int(epoch), {}

    def _layered(self, epoch: int) -> bool:
        return bool(self.layers) and epoch == self.layers_epoch

    def _left(self, epoch: int):
        if epoch not in self._remaining:
            self._remaining = {epoch: elastic.remaining(
                self.epoch_size, self.layers, seed=self.seed, epoch=epoch, size=self.shuffle_buffer,
                initial=self.shuffle_initial)}
        return self._remaining[epoch]

    def __iter__(self) -> "_EpochIterator":
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        ahead = self.decode_ahead
        if ahead is None:  # DataLoader workers already decode in parallel; bytes need no decoding
            ahead = DEFAULT_DECODE_AHEAD if info is None and self.decode else 0
        return _EpochIterator(self, self.epoch, worker, workers, ahead)

    # -- planning ------------------------------------------------------------------------------
    def epoch_segments(self, epoch: int) -> list[splitting.Segment]:
        """The whole epoch's sample sequence (all ranks), as shard segments."""
        picks = self.selection.picks
        groups = [p.src if self.group_by == "src" else p.discipline for p in picks]
        return splitting.epoch_segments([p.count for p in picks], groups, seed=self.seed, epoch=epoch,
                                        shuffle=self.shuffle, quotas=self.quotas, mix_chunk=self.mix_chunk,
                                        limit=self.limit, resampled=self.resampled)

    def plan(self, epoch: int, worker: int = 0, num_workers: int = 1):
        """``(picks, segments)``: what ``worker`` of this rank reads in ``epoch``, segments ``(pick, lo, hi)``."""
        segments = self.epoch_segments(epoch)
        if not self._layered(epoch):
            n = splitting.per_rank(self.epoch_size, self.world_size)
            a, b = splitting.part(n, num_workers, worker)
            start = self.rank * n
            return self.selection.picks, splitting.slice_segments(segments, start + a, start + b)
        left = self._left(epoch)
        n = splitting.per_rank(len(left), self.world_size)
        a, b = splitting.part(n, num_workers, worker)
        return elastic.picks_for(left[self.rank * n + a: self.rank * n + b], segments, self.selection.picks)

    def describe(self) -> str:
        s = self.selection
        total_bytes = sum(e["bytes"] for src in self.sources for e in src.index["shards"] if e["format"] == s.format)
        return (f"{s.total} samples in {len(s.picks)} {s.format} shards "
                f"({', '.join(f'{d} {n}' for d, n in s.by_discipline.items())}); reads about "
                f"{s.bytes / max(total_bytes, 1):.1%} of the {s.format} bytes; "
                f"{self.samples_per_rank} samples per rank x {self.world_size} ranks")


class _EpochIterator:
    """One worker's pass over one epoch; ``state_dict``/``load_state_dict`` before the first ``next``.

    Its reader thread (``read_ahead``) and decoding thread (``decode_ahead``) stop when the epoch
    ends, on an error, on :meth:`close`, or when the iterator is dropped (a ``break``). The decoding
    thread only pops positions and decodes (:func:`_produce`); what is counted (``emitted``, errors,
    ``max_errors``) is counted here, as each result is taken, so the state is the consumer's.
    """

    def __init__(self, stream: S1MMAlignStream, epoch: int, worker: int, num_workers: int, decode_ahead: int = 0):
        self.s, self.epoch, self.worker, self.num_workers = stream, epoch, worker, num_workers
        self.decode_ahead = decode_ahead
        self.results: Optional[Iterator] = None
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
        self.picks, self.segments = s.plan(self.epoch, self.worker, self.num_workers)
        self.n = sum(hi - lo for _, lo, hi in self.segments)
        depth = len(s.layers) if s._layered(self.epoch) else 0
        rng = elastic.buffer_rng(s.seed, self.epoch, s.rank, self.worker, self.num_workers, depth)
        self.buffer = PositionShuffle(self.n, s.shuffle_buffer, rng, s.shuffle_initial)
        self.store: dict[int, Any] = {}
        self.buffer.advance(self.emitted)
        # on a restore, re-read what sat in the buffer, from its oldest position, then go on
        keep = set(self.buffer.buffer)
        first = min(keep, default=self.buffer.next_in)
        self.reader = reader(s.sources, self.picks, self.segments, first, s.read_ahead, s.read_columns)
        for pos in range(first, self.buffer.next_in):
            item = next(self.reader)
            if pos in keep:
                self.store[pos] = item
        produce = _produce(self.buffer, self.store, self.reader, self.n, s, self.epoch)
        self.results = (ReadAhead(produce, self.decode_ahead, size=_result_bytes, name="s1mmalign-decode-ahead")
                        if self.decode_ahead > 0 else produce)

    def close(self) -> None:
        """Stop reading and decoding ahead (the iterator is done with)."""
        for ahead in (self.results, self.reader):  # the decoding thread first: it reads from the reader
            if ahead is not None and hasattr(ahead, "close"):
                ahead.close()

    def _fail(self, key, reason: str, detail: str, shard: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1
        total = sum(self.errors.values())
        log.warning("skipped sample %s of %s: %s (%s) [%d skipped in this worker]", key, shard, reason, detail[:200], total)
        if total > self.s.max_errors:
            raise RuntimeError(
                f"{total} samples failed in worker {self.worker} (more than max_errors={self.s.max_errors}); "
                f"by reason: {self.errors}. Last: {reason} in {shard}: {detail[:300]}"
            )

    def _finish(self, result) -> Optional[dict]:
        if isinstance(result, Failed):
            self._fail(result.key, result.reason, result.detail, result.shard)
            return None
        return result

    def __next__(self) -> dict:
        try:
            return self._next()
        except BaseException:  # the end of the epoch, max_errors, an interrupt: no thread outlives it
            self.close()
            raise

    def _next(self) -> dict:
        if not self._started:
            self._start()
        for emitted, result in self.results:
            self.emitted = emitted
            sample = self._finish(result)
            if sample is not None:
                self.yielded += 1
                return sample
        # top up the count with the first samples again (only after failures)
        while self.yielded < self.n:
            if self.pad >= self.n:
                raise RuntimeError(f"worker {self.worker}: no readable sample to keep the planned count")
            items = read_plan(self.s.sources, self.picks, self.segments, self.pad, self.s.read_columns)
            try:
                item = next(items)
            finally:
                items.close()
            self.pad += 1
            sample = self._finish(_sample(self.s, self.epoch, item))
            if sample is not None:
                self.yielded += 1
                sample["__padded__"] = True
                return sample
        raise StopIteration


def _result_bytes(result: tuple) -> int:
    """What a decoded sample counts against ``decode_ahead``: its pixels' bytes (1 KiB for the rest)."""
    image = result[1].get("image") if isinstance(result[1], dict) else None
    if image is None or isinstance(image, (bytes, bytearray)):
        return 1024 + len(image or b"")
    return 1024 + image.width * image.height * len(image.getbands())


def _sample(stream: S1MMAlignStream, epoch: int, item) -> "dict | Failed":
    """The sample of a read item, or why there is none (counted where it is taken: ``_EpochIterator._finish``)."""
    if isinstance(item, Failed):
        return item
    try:
        sample = decode(item, max_pixels=stream.max_pixels, columns=stream.columns, images=stream.decode)
    except SampleError as e:
        return Failed(e.key, e.reason, e.detail, item.shard)
    sample["text"] = choose_caption(sample, stream.caption, mix_p=stream.mix_p, seed=stream.seed, epoch=epoch)
    if stream.columns is not None:  # the captions were read to choose ``text``; keep them only when asked for
        for name in TEXT_FIELDS:
            if name not in stream.columns:
                del sample[name]
    return sample


def _produce(buffer: PositionShuffle, store: dict, reader: Iterator, n: int, stream: S1MMAlignStream,
             epoch: int) -> Iterator[tuple[int, "dict | Failed"]]:
    """(positions emitted so far, the sample or why it failed) of the buffer's draws, in order. Holds no
    reference to its iterator, so that an iterator dropped mid-epoch is collected and stops its threads."""
    while buffer.emitted < n:
        for _ in range(buffer.wanted()):
            store[buffer.push()] = next(reader)
        pos = buffer.pop()
        yield buffer.emitted, _sample(stream, epoch, store.pop(pos))
