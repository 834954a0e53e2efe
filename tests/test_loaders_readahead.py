"""Read-ahead (``S1MMAlignStream(read_ahead=...)``): a background thread reads the next samples.

Real datasets from the real writer, a real loopback HTTP server (with transient failures),
real threads: the same samples in the same order with it on and off, the bound holds, errors
reach the consumer as before, and no thread or open shard outlives an iteration.
"""

from __future__ import annotations

import gc
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.loaders import S1MMAlignStream, make_dataloader
from s1mmalign.loaders.readers import ITEM_OVERHEAD, READ_CHUNK, Raw, ReadAhead, item_bytes
from s1mmalign.loaders.source import IndexMismatchError
from s1mmalign.loaders.tiny import serve_http, synthetic_records

SMALL = ShardOptions(parquet_shard_bytes=60_000, tar_shard_bytes=60_000, row_group_bytes=15_000)
THREADS = ("s1mmalign-read-ahead", "s1mmalign-decode-ahead")


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("readahead") / "ds"
    write_dataset(synthetic_records(300), out, options=SMALL)
    return out


def reader_threads() -> list[threading.Thread]:
    """The stream's threads: reading ahead, and decoding ahead (a stream outside DataLoader workers)."""
    return [t for t in threading.enumerate() if t.name in THREADS and t.is_alive()]


def open_shards(root: Path) -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(root)) and target.endswith((".tar", ".parquet")):
            out.append(target)
    return out


def run(stream) -> tuple[list[tuple[str, str]], dict]:
    it = iter(stream)
    return [(x["key"], x["text"]) for x in it], it.errors


@pytest.fixture(autouse=True)
def no_thread_left():
    assert not reader_threads()
    yield
    gc.collect()
    assert not reader_threads(), "a read-ahead thread outlived its test"


# -- the same samples, in the same order --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_same_samples_in_the_same_order_with_and_without_read_ahead(ds, fmt):
    def stream(read_ahead, **kw):
        s = S1MMAlignStream(ds, format=fmt, modalities=["plot", "diagram"], seed=3, shuffle_buffer=30,
                            read_ahead=read_ahead, **kw)
        s.set_epoch(1)
        return s

    for kw in ({}, {"mix_chunk": 7}):
        off, _ = run(stream(0, decode_ahead=0, **kw))
        assert len(off) == 200
        assert run(stream(32 << 20, **kw))[0] == off  # the default bounds (decoding ahead too: no workers here)
        assert run(stream(1, decode_ahead=1, **kw))[0] == off  # one sample at a time
        assert run(stream(0, decode_ahead=1 << 20, **kw))[0] == off  # decoding ahead, reading in its thread
    with pytest.raises(ValueError, match="read_ahead must be >= 0"):
        stream(-1)
    with pytest.raises(ValueError, match="decode_ahead must be >= 0"):
        stream(0, decode_ahead=-1)


@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_same_order_over_http_with_transient_errors_and_exact_requests(ds, fmt):
    server, state = serve_http(ds.parent, fail_every=4)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{ds.name}"
        got = {}
        for read_ahead in (0, 1 << 20):
            before = len(state["ranges"])
            s = S1MMAlignStream(url, format=fmt, disciplines=["biology", "physics"], modalities="plot", seed=2,
                                shuffle_buffer=20, mix_chunk=5, read_ahead=read_ahead)
            got[read_ahead] = run(s)[0]
            requests = [(path, a, b) for path, a, b in state["ranges"][before:] if path.endswith((".tar", ".parquet"))]
            assert requests and all(b - a + 1 <= READ_CHUNK for _, a, b in requests)
            if fmt == "wds":  # the selected samples' byte runs, each fetched once (no cache blocks fetched twice)
                for path in {p for p, _, _ in requests}:
                    spans = sorted((a, b) for p, a, b in requests if p == path)
                    assert all(b1 < a2 for (_, b1), (a2, _) in zip(spans, spans[1:])), (path, spans)
    finally:
        server.shutdown()
        server.server_close()
    assert len(got[0]) == 50 and got[1 << 20] == got[0]
    assert state["failed"] > 0  # requests failed with 503 and were retried, in the reading thread


def test_another_fsspec_file_system_reads_in_pieces_and_gives_the_same_samples(ds):
    """memory:// is remote to the loader (tar runs in pieces, no cache options it does not take)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/readahead-{os.getpid()}"
    for path in ds.rglob("*"):
        if path.is_file():
            fs.pipe(f"{root}/{path.relative_to(ds).as_posix()}", path.read_bytes())
    try:
        for fmt in ("wds", "parquet"):
            local = run(S1MMAlignStream(ds, format=fmt, modalities="plot", seed=1, mix_chunk=5))
            remote = S1MMAlignStream(f"memory://{root}", format=fmt, modalities="plot", seed=1, mix_chunk=5)
            assert not remote.source.is_local and run(remote) == local and len(local[0]) == 100
    finally:
        fs.rm(root, recursive=True)


# -- the bound, and stopping -----------------------------------------------------------------------------


def test_read_ahead_holds_at_most_its_bound():
    produced = [0]

    def items():
        for i in range(40):
            produced[0] += 1
            yield Raw(f"k{i}", {}, b"x" * (10_000 - ITEM_OVERHEAD), "shard")

    ahead = []
    reader = ReadAhead(items(), size=item_bytes, max_bytes=35_000)  # room for 3 items of 10,000 counted bytes
    for consumed, item in enumerate(reader, 1):
        time.sleep(0.005)  # a slow consumer: the thread runs ahead until the bound stops it
        ahead.append(produced[0] - consumed)
    assert consumed == 40
    # 3 queued + 1 produced and waiting for room; the thread does run ahead
    assert max(ahead) == 4 and sorted(ahead)[len(ahead) // 2] >= 3, ahead


def test_close_does_not_hang_on_a_stalled_read(caplog):
    """An interrupt while the thread waits on a read: close() returns, the thread ends when the read does."""
    stalled, released = threading.Event(), threading.Event()

    def items():
        yield "first"
        stalled.set()
        released.wait(30)  # a network read that does not return
        yield "second"

    reader = ReadAhead(items(), size=item_bytes, max_bytes=1 << 20, join_timeout=0.2)
    assert next(reader) == "first" and stalled.wait(5)
    started = time.perf_counter()
    reader.close()
    assert time.perf_counter() - started < 2 and "still in a read" in caplog.text
    assert len(reader_threads()) == 1
    released.set()
    for _ in range(100):
        if not reader_threads():
            break
        time.sleep(0.05)
    assert not reader_threads()
    with pytest.raises(StopIteration):
        next(reader)


def test_break_and_garbage_collection_stop_the_thread_and_close_the_shard(ds):
    gc.collect()  # streams of earlier tests held in reference cycles (pytest.raises tracebacks) stop now
    before = set(reader_threads())

    def reader_threads_here():
        return [t for t in reader_threads() if t not in before]

    # a bound of one sample keeps the thread alive and in a shard until the consumer moves on (a
    # larger one lets a fast thread read the whole small dataset and exit before the checks)
    stream = S1MMAlignStream(ds, format="wds", shuffle_buffer=5, read_ahead=1, decode_ahead=0)
    for x in stream:
        assert len(reader_threads_here()) == 1 and open_shards(ds)  # reading ahead, in a shard
        break
    assert not reader_threads_here() and not open_shards(ds)
    for x in S1MMAlignStream(ds, format="wds", shuffle_buffer=5, read_ahead=1, decode_ahead=1):
        assert len(reader_threads_here()) == 2 and open_shards(ds)  # reading and decoding ahead
        break
    assert not reader_threads_here() and not open_shards(ds)
    # a DataLoader in the main process dropped mid-epoch (it keeps its iterator for state_dict())
    loader = make_dataloader(S1MMAlignStream(ds, format="parquet", shuffle_buffer=5, read_ahead=1), batch_size=4)
    it = iter(loader)
    next(it)
    assert len(reader_threads_here()) == 2  # no workers: this process decodes ahead too
    del it, loader
    gc.collect()
    assert not reader_threads_here() and not open_shards(ds)
    # an explicit close, and the end of an epoch
    it = iter(stream)
    next(it)
    it.close()
    assert not reader_threads_here() and not open_shards(ds)
    list(stream)
    assert not reader_threads_here() and not open_shards(ds)


# -- errors reach the consumer as before -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_decoding_ahead_counts_bad_images_and_resumes_exactly_like_decoding_in_place(tmp_path, fmt):
    """The decoding thread pops and decodes; what is counted (emitted, rejects) is counted as results are
    taken, so a state saved with it restores without it (and back) onto the same samples."""
    out = tmp_path / "ds"
    write_dataset(synthetic_records(120), out, options=SMALL)  # 7 widths, 64 to 70 pixels

    def stream(decode_ahead):  # images over 68x64 pixels are rejects: counted in the consumer, and padded
        return S1MMAlignStream(out, format=fmt, seed=5, shuffle_buffer=16, decode_ahead=decode_ahead,
                               max_pixels=68 * 64)

    whole = {}
    for ahead in (0, 1 << 20):
        it = iter(stream(ahead))
        whole[ahead] = ([x["key"] for x in it], it.errors)
    # 34 rejects in the pass, more among the first samples re-read to keep the planned count
    assert whole[0] == whole[1 << 20] and set(whole[0][1]) == {"decompression_bomb"} and whole[0][1]["decompression_bomb"] > 34
    assert len(whole[0][0]) == 120
    keys = whole[0][0]
    for saved_with, resumed_with in ((1 << 20, 0), (0, 1 << 20), (1, 1)):
        it = iter(stream(saved_with))
        first = [next(it)["key"] for _ in range(37)]
        state = it.state_dict()
        it.close()
        again = iter(stream(resumed_with))
        again.load_state_dict(state)
        assert first + [x["key"] for x in again] == keys


def test_truncated_shard_gives_the_same_counted_rejects(ds, tmp_path):
    copy = tmp_path / "trunc"
    shutil.copytree(ds, copy)
    path = copy / S1MMAlignStream(copy, format="wds", shuffle=False).selection.picks[0].path
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    off = run(S1MMAlignStream(copy, format="wds", seed=1, shuffle_buffer=10, check_index=False, read_ahead=0))
    on = run(S1MMAlignStream(copy, format="wds", seed=1, shuffle_buffer=10, check_index=False))
    assert on == off and off[1].get("truncated_shard", 0) > 0 and len(off[0]) == 300


def test_shard_gone_after_planning_gives_the_same_counted_rejects(ds, tmp_path):
    """The open fails in the reading thread: the consumer counts the same rejects, in the same places."""
    copy = tmp_path / "gone"
    shutil.copytree(ds, copy)
    streams = {ra: S1MMAlignStream(copy, format="wds", seed=4, shuffle_buffer=10, read_ahead=ra) for ra in (0, 1 << 20)}
    victim = streams[0].selection.picks[2]
    (copy / victim.path).rename((copy / victim.path).with_suffix(".moved"))
    seen = {}
    for read_ahead, s in streams.items():
        seen[read_ahead] = run(s)
        assert not reader_threads() and not open_shards(copy)
    assert seen[0] == seen[1 << 20]
    assert seen[0][1] == {"read_error": victim.count} and len(seen[0][0]) == 300


def test_an_error_raised_while_reading_ahead_reaches_the_consumer_in_sequence(ds, tmp_path):
    """A run that starts mid-shard needs the shard's sidecar; when it is gone, the same error, after the same samples."""
    copy = tmp_path / "nosidecar"
    shutil.copytree(ds, copy)

    def stream(seed, read_ahead=0):
        return S1MMAlignStream(copy, format="wds", seed=seed, mix_chunk=7, shuffle_buffer=4, read_ahead=read_ahead)

    # a plan whose first runs start shards (no sidecar needed) and a later one starts mid-shard
    seed = next(seed for seed in range(100) if [lo for _, lo, _ in stream(seed).plan(0)[1]][:3] == [0, 0, 0])
    streams = {ra: stream(seed, ra) for ra in (0, 1 << 20)}
    for sidecar in (copy / "index").rglob("*.parquet"):
        sidecar.unlink()
    seen = {}
    for read_ahead, s in streams.items():
        got = []
        with pytest.raises(IndexMismatchError, match="names the sample index .* which is not there"):
            for x in s:
                got.append(x["key"])
        seen[read_ahead] = got
        assert not reader_threads() and not open_shards(copy)
    assert len(seen[0]) >= 21 - 4 and seen[0] == seen[1 << 20]

    def items():
        yield from ("a", "b", "c")
        raise KeyError("boom")

    reader = ReadAhead(items(), size=item_bytes, max_bytes=1)
    assert [next(reader) for _ in range(3)] == ["a", "b", "c"]
    with pytest.raises(KeyError, match="boom"):
        next(reader)
    with pytest.raises(StopIteration):
        next(reader)


def test_max_errors_raise_stops_the_thread(tmp_path):
    out = tmp_path / "corrupt"
    write_dataset(synthetic_records(40), out, options=ShardOptions(formats=("wds",), tar_shard_bytes=30_000))
    for tar_path in sorted((out / "wds").rglob("*.tar"))[:3]:
        raw = bytearray(tar_path.read_bytes())
        at = raw.find(b"\x89PNG\r\n\x1a\n")
        raw[at + 16 : at + 200] = b"\x00" * 184
        tar_path.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="more than max_errors=1"):
        list(S1MMAlignStream(out, shuffle=False, check_index=False, max_errors=1))
    assert not reader_threads() and not open_shards(out)


# -- resume ------------------------------------------------------------------------------------------------


def test_state_counts_what_was_consumed_not_what_was_read(ds):
    """The thread runs ahead; the saved state is the consumer's, so a restore is exact."""
    def stream(read_ahead):
        return S1MMAlignStream(ds, seed=9, shuffle_buffer=25, mix_chunk=11, read_ahead=read_ahead)

    full = [x["key"] for x in stream(0)]
    for read_ahead in (0, 1, 1 << 20):
        it = iter(stream(read_ahead))
        head = [next(it)["key"] for _ in range(57)]
        time.sleep(0.05)  # let the thread run ahead
        state = it.state_dict()
        it.close()
        assert head == full[:57] and state["emitted"] == state["yielded"] == 57
        resumed = iter(stream(read_ahead))
        resumed.load_state_dict(state)
        assert [x["key"] for x in resumed] == full[57:]


# -- the shuffle buffer starts emitting early (webdataset's policy) ---------------------------------------------


def test_shuffle_buffer_starts_at_initial_and_grows_to_its_size():
    import random

    from s1mmalign.loaders.shuffle import PositionShuffle

    def trace(initial):
        b = PositionShuffle(500, 50, random.Random(1), initial)
        out, reads_before_first, biggest = [], None, 0
        while b.emitted < 500:
            for _ in range(b.wanted()):
                b.push()
            biggest = max(biggest, len(b.buffer))
            out.append(b.pop())
            reads_before_first = reads_before_first or b.next_in
        return out, reads_before_first, biggest

    early, first_read, biggest = trace(10)
    assert first_read == 10 and early[0] < 10 and biggest == 50 and sorted(early) == list(range(500))
    full, first_read, _ = trace(None)
    assert first_read == 50 and sorted(full) == list(range(500)) and full != early
    # a restore replays the same draws: the buffer and the input cursor match the live run
    live = PositionShuffle(500, 50, random.Random(1), 10)
    for _ in range(37):
        for _ in range(live.wanted()):
            live.push()
        live.pop()
    replay = PositionShuffle(500, 50, random.Random(1), 10)
    replay.advance(37)
    assert (replay.buffer, replay.next_in) == (live.buffer, live.next_in)


def test_first_sample_needs_shuffle_initial_reads_not_the_whole_buffer(ds):
    def first_sample_bytes(initial):
        s = S1MMAlignStream(ds, format="wds", shuffle_buffer=200, shuffle_initial=initial, read_ahead=0)
        it = iter(s)
        next(it)
        it.close()
        return s.source.bytes_read[0]

    assert first_sample_bytes(10) * 5 < first_sample_bytes(200)
    with pytest.raises(ValueError, match="shuffle_initial must be >= 1"):
        S1MMAlignStream(ds, shuffle_initial=0)


def test_buffered_tar_samples_are_one_object_for_the_garbage_collector(ds):
    """What waits in the read-ahead queue and the shuffle buffer: a tar sample is its member bytes until
    it is decoded (the metadata parsed then), so a full buffer adds about one tracked object a sample."""
    from s1mmalign.loaders.readers import decode, read_segment
    from s1mmalign.loaders.source import Source

    src = Source(ds)
    stream = S1MMAlignStream(ds, format="wds", shuffle=False)
    gc.collect()
    before = len(gc.get_objects())
    items = [x for pick in stream.selection.picks for x in read_segment(src, pick, 0, pick.count)]
    grown = len(gc.get_objects()) - before
    assert len(items) == 300 and all(isinstance(x, Raw) and x.meta is None and x.json for x in items)
    assert grown <= 1.2 * len(items) + 10, (grown, len(items))
    sample = decode(items[0])
    assert sample["key"] == items[0].key and sample["caption"] and isinstance(sample["abstract"], str)
