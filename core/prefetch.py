"""Read ahead: iterate a generator in a background thread, a bounded amount ahead of its consumer.

The one prefetch of the package: the loaders read shards ahead of decoding with it, and the
release reader inflates archives ahead of the writers. Reading (network, disk, inflate, tar
parsing) then overlaps what the consumer does with the items: max(read, work), not the sum.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import weakref
from typing import Any, Callable, Iterable, Iterator, Optional

JOIN_TIMEOUT = 5  # seconds close() waits for the reading thread to finish its current read
RECORDS_AHEAD = 128  # records a reader of sources holds ahead of its consumer by default

log = logging.getLogger(__name__)


class _Pipe:
    """What the reading thread and its consumer share (never the :class:`ReadAhead` itself, so it can be collected)."""

    def __init__(self, max_bytes: int):
        self.cond = threading.Condition()
        self.items: collections.deque = collections.deque()  # (item, counted bytes)
        self.bytes = 0
        self.max_bytes = max_bytes
        self.done = False  # the producer has finished (items exhausted, error, or stopped)
        self.error: Optional[BaseException] = None
        self.stop = False  # the consumer is gone
        self.producer_waits = self.consumer_waits = False  # who to wake (waking costs more than the item)


def _produce(pipe: _Pipe, items: Iterator, size: Callable[[Any], int]) -> None:
    try:
        for item in items:
            n = size(item)
            with pipe.cond:
                # full (one item always fits): sleep until half is consumed, then refill in one go
                if pipe.bytes and pipe.bytes + n > pipe.max_bytes:
                    pipe.producer_waits = True
                    while pipe.bytes > pipe.max_bytes // 2 and not pipe.stop:
                        pipe.cond.wait()
                    pipe.producer_waits = False
                if pipe.stop:
                    return
                pipe.items.append((item, n))
                pipe.bytes += n
                if pipe.consumer_waits:
                    pipe.cond.notify()
    except BaseException as e:  # handed to the consumer, raised there in sequence
        pipe.error = e
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a generator: closes its open file when stopped early
        with pipe.cond:
            pipe.done = True
            pipe.cond.notify_all()


def _shut(pipe: _Pipe, thread: threading.Thread, pid: int, join_timeout: float) -> None:
    if os.getpid() != pid:  # a forked copy (DataLoader worker): the thread does not exist here
        return
    with pipe.cond:
        pipe.stop = True
        pipe.items.clear()
        pipe.bytes = 0
        pipe.cond.notify_all()
    if thread is not threading.current_thread():
        thread.join(timeout=join_timeout)  # bounded: an interrupt must not wait on a stalled network read
        if thread.is_alive():
            log.warning("read-ahead thread still in a read after %g s; it exits when the read returns", join_timeout)


class ReadAhead:
    """Iterate ``items`` in a background thread, at most ``max_bytes`` (as counted by ``size``) ahead.

    Reading (network, disk, tar parsing, Parquet row groups) then overlaps what the consumer
    does with the items (decode, resize, tokenize): a stream costs max(read, work) instead of
    read + work. Items, and an error the generator raises, reach the consumer in the order the
    generator produced them. The bound counts ``size(item)`` per item (default 1: a count), and
    always lets one item through; a full thread sleeps until half of it is consumed (one wake-up
    per many items, not one per item). The thread stops and closes the generator (its open file)
    when the items run out, on :meth:`close`, or when this object is garbage collected (a
    ``break``); it is a daemon thread, so it never holds a process up at exit.
    """

    def __init__(self, items: Iterable, max_bytes: int, *, size: Callable[[Any], int] = lambda item: 1,
                 join_timeout: float = JOIN_TIMEOUT, name: str = "s1mmalign-read-ahead"):
        self._pipe = _Pipe(max(int(max_bytes), 1))
        thread = threading.Thread(target=_produce, args=(self._pipe, iter(items), size), name=name, daemon=True)
        thread.start()
        self._close = weakref.finalize(self, _shut, self._pipe, thread, os.getpid(), join_timeout)
        self._close.atexit = False  # at exit the daemon thread just ends

    def __iter__(self) -> "ReadAhead":
        return self

    def __next__(self) -> Any:
        p = self._pipe
        with p.cond:
            while not p.items and not p.done:
                p.consumer_waits = True
                p.cond.wait()
                p.consumer_waits = False
            if p.items:
                item, size = p.items.popleft()
                p.bytes -= size
                if p.producer_waits and p.bytes <= p.max_bytes // 2:
                    p.cond.notify()
                return item
            error, p.error = p.error, None
        self.close()
        if error is not None:
            raise error
        raise StopIteration

    def close(self) -> None:
        """Stop the thread and wait for it, at most ``join_timeout`` seconds (idempotent)."""
        self._close()
