"""The local process pool: units of a CPU-bound segment on every CPU of this machine.

A unit is GIL-bound Python work (inflate, join, image checks, shard writing), so processes,
not threads, are what scale it. This process runs units in a thread (it has everything
imported, so it starts at once) while ``workers - 1`` fork-server processes take the others,
largest unit first (the last to finish is a small one). A worker ends itself when the driver is
gone (killed, OOM) or stopping (Ctrl-C, SIGTERM): an orphan finishing its unit would race the
rerun that redoes it, and a driver waiting for its workers' units would not stop. Progress
(bytes read) travels back on a queue.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import threading
import time
from typing import Any, Callable, Optional

#: The call a worker makes: ``fn(args, unit, on_bytes) -> marker`` (``unit.id`` names it).
UnitFn = Callable[[Any, Any, Optional[Callable[[int], None]]], dict]


def default_workers(units: int) -> int:
    """One process per CPU this process may use, at most one per unit."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, units))


_progress_queue = None  # set in each worker process by _init_worker


def _init_worker(progress_queue, driver_pid: int, stop) -> None:
    global _progress_queue
    _progress_queue = progress_queue
    threading.Thread(target=_exit_with_driver, args=(driver_pid, stop), name="driver-watch", daemon=True).start()


def _exit_with_driver(driver_pid: int, stop, every: float = 0.2) -> None:
    while True:
        time.sleep(every)
        if stop.value:
            os._exit(1)
        try:
            os.kill(driver_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive, owned by someone else: cannot be ours, but not gone
            pass


def _in_worker(fn: UnitFn, args: Any, unit: Any) -> dict:
    return fn(args, unit, _progress_queue.put)


def _worker_context(preload: list[str]):
    """A fork server that has imported ``preload`` once (workers start in milliseconds, without
    the driver's threads or open files); spawn where there is no fork server."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(preload)
    return ctx


@contextlib.contextmanager
def _stop_on_interrupt(stop):
    """Set ``stop`` when a KeyboardInterrupt (SIGTERM is one, see the CLI) leaves the block; the pool's
    own exit then waits for workers that are already ending, not for their units."""
    try:
        yield
    except KeyboardInterrupt:
        stop.value = 1
        raise


def run_parallel(fn: UnitFn, args: Any, units: list[tuple[Any, int]], workers: int, *,
                 on_bytes: Optional[Callable[[int], None]] = None, preload: Optional[list[str]] = None,
                 on_done: Optional[Callable[[str, dict], None]] = None,
                 on_error: Optional[Callable[[str, BaseException], None]] = None) -> tuple[dict[str, dict], set[str]]:
    """Run ``fn(args, unit, on_bytes)`` for every ``(unit, size)`` of ``units`` on ``workers`` CPUs.
    ``fn``, ``args`` and the units must pickle (``fn`` a module-level function). Returns the
    markers of the units that finished, by unit id, and the ids of those run in this process.
    A unit that raises is reported to ``on_error`` (default: re-raised once the running ones
    finish, and no new unit starts)."""
    ctx = _worker_context(preload or [fn.__module__])
    progress = ctx.SimpleQueue()
    # set when the driver stops (Ctrl-C, SIGTERM): the workers end at once. A lock-free flag: a worker
    # killed inside an Event's wait() leaves its Condition such that the driver's set() never returns
    stop = ctx.RawValue("b", 0)
    todo = [u for u, _ in sorted(units, key=lambda u: -u[1])]
    lock = threading.Lock()
    done: dict[str, dict] = {}
    here: set[str] = set()
    failed: list[BaseException] = []

    def take() -> Optional[Any]:
        with lock:
            return todo.pop(0) if todo and not failed else None

    def finished(unit: Any, marker: dict) -> None:
        done[unit.id] = marker
        if on_done is not None:
            on_done(unit.id, marker)

    def error(unit: Any, e: BaseException) -> None:
        if on_error is not None and isinstance(e, Exception):
            on_error(unit.id, e)
            return
        with lock:
            failed.append(e)

    def convert_here() -> None:
        while (unit := take()) is not None:
            try:
                marker = fn(args, unit, progress.put)
            except BaseException as e:  # noqa: BLE001 - reported, or re-raised by the main thread
                error(unit, e)
                continue
            here.add(unit.id)
            finished(unit, marker)

    def drain() -> None:
        while not progress.empty():
            n = progress.get()
            if on_bytes is not None:
                on_bytes(n)

    driver = threading.Thread(target=convert_here, name="units-here", daemon=True)
    driver.start()  # before the pool: starting the fork server takes a while, and blocks submit()
    with cf.ProcessPoolExecutor(max_workers=workers - 1, mp_context=ctx, initializer=_init_worker,
                                initargs=(progress, os.getpid(), stop)) as pool, _stop_on_interrupt(stop):
        futures: dict = {}
        for _ in range(workers - 1):
            if (unit := take()) is not None:
                futures[pool.submit(_in_worker, fn, args, unit)] = unit
        pending = set(futures)
        while pending or driver.is_alive():
            if pending:
                ready, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            else:
                ready = set()
                driver.join(0.5)
            drain()
            for f in ready:
                try:
                    finished(futures[f], f.result())  # finished units keep their markers whatever happens next
                except BaseException as e:  # noqa: BLE001
                    error(futures[f], e)
                    continue
                if (unit := take()) is not None:
                    nxt = pool.submit(_in_worker, fn, args, unit)
                    futures[nxt] = unit
                    pending.add(nxt)
        drain()
    if failed:
        raise failed[0]
    return done, here
