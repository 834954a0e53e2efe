"""``S1MMAlignStream(url, cache_dir=...)``: remote shards read whole are kept locally for later epochs.

A real dataset from the real writer, served by a real loopback HTTP server that logs every byte
range it sends: the samples are those of the local folder, epoch after epoch; the second epoch
asks the server for no shard byte; partly read shards and shards whose bytes do not match the
index are not kept; nothing half-written is left in the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.loaders import S1MMAlignStream, make_dataloader
from s1mmalign.loaders.tiny import serve_http, synthetic_records

SMALL = ShardOptions(parquet_shard_bytes=60_000, tar_shard_bytes=60_000, row_group_bytes=15_000)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cache")
    write_dataset(synthetic_records(300), out / "ds", options=SMALL)
    return out


@pytest.fixture
def http(root):
    server, state = serve_http(root)
    yield f"http://127.0.0.1:{server.server_address[1]}/ds", state
    server.shutdown()
    server.server_close()


def keys(stream, epoch: int) -> list[str]:
    stream.set_epoch(epoch)
    return [s["key"] for s in stream]


def shard_requests(state) -> int:
    return sum(1 for path, _, _ in state["ranges"] if path.endswith((".tar", ".parquet")) and ".idx." not in path)


def cached(cache: Path) -> set[str]:
    return {p.name for p in cache.rglob("*") if p.is_file()}


def index_entries(root: Path) -> dict[str, dict]:
    return {s["path"]: s for s in json.loads((root / "ds" / "index" / "shards.json").read_text())["shards"]}


@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_second_epoch_reads_the_cache_and_yields_the_same_samples(root, http, tmp_path, fmt):
    url, state = http
    local = S1MMAlignStream(root / "ds", disciplines="biology", format=fmt, seed=3)
    stream = S1MMAlignStream(url, disciplines="biology", format=fmt, seed=3, cache_dir=tmp_path / "cache")
    assert keys(stream, 0) == keys(local, 0)
    entries = index_entries(root)
    picked = {p.path for p in stream.selection.picks}
    want = {entries[p]["sha256"] + Path(p).suffix for p in picked}
    assert cached(tmp_path / "cache") == want  # every shard of the slice, named by its sha256
    for p in (tmp_path / "cache").rglob("*.*"):
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name.split(".")[0]
    before = shard_requests(state)
    assert before > 0
    assert keys(stream, 1) == keys(local, 1)
    assert shard_requests(state) == before  # the second epoch asked the server for no shard byte
    assert stream.source.cache_bytes_read[0] > 0
    # a new stream (a new run) over the same cache reads nothing remote either
    again = S1MMAlignStream(url, disciplines="biology", format=fmt, seed=3, cache_dir=tmp_path / "cache")
    assert keys(again, 2) == keys(local, 2) and shard_requests(state) == before


def test_a_partly_read_file_is_kept_only_when_little_is_missing(tmp_path):
    """What a reader fetched, over real HTTP: kept when at most FILL_GAPS bytes are missing (fetched
    at close: a tar's end blocks, a Parquet header), else discarded (a pruned slice of a big shard)."""
    import os

    import fsspec

    from s1mmalign.loaders.cache import FILL_GAPS, Keeper, ShardCache
    from s1mmalign.loaders.remote import RetryingFile

    data = os.urandom(3 * FILL_GAPS)
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "big.tar").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    cache = ShardCache(tmp_path / "cache")
    server, state = serve_http(tmp_path / "srv")
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    url = f"http://127.0.0.1:{server.server_address[1]}/big.tar"
    try:
        def read(spans):
            f = RetryingFile(fs, url, [0], open_kwargs={"cache_type": "none"},
                             keeper=Keeper(cache.path("big.tar", sha), sha, len(data)))
            for a, n in spans:
                f.seek(a)
                assert f.read(n) == data[a : a + n]
            f.close()

        read([(0, FILL_GAPS // 2), (2 * FILL_GAPS, FILL_GAPS // 2)])  # 2 MiB missing
        assert cache.lookup("big.tar", sha, len(data)) is None
        read([(FILL_GAPS // 4, len(data) - FILL_GAPS // 2)])  # the first and last 256 KiB missing
        kept = cache.lookup("big.tar", sha, len(data))
        assert kept is not None and kept.read_bytes() == data
        assert {(a, b) for _, a, b in state["ranges"][-2:]} == {(0, FILL_GAPS // 4 - 1),
                                                                (len(data) - FILL_GAPS // 4, len(data) - 1)}
    finally:
        server.shutdown()
        server.server_close()
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_bytes_that_do_not_match_the_index_are_not_kept(root, tmp_path, caplog):
    """A shard changed on the server after the index was read (same size) is read but not cached."""
    import shutil

    copy = tmp_path / "srv"
    shutil.copytree(root / "ds", copy / "ds")
    server, state = serve_http(copy)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ds"
        stream = S1MMAlignStream(url, disciplines="biology", format="wds", seed=3, cache_dir=tmp_path / "cache")
        changed = stream.selection.picks[0].path
        data = bytearray((copy / "ds" / changed).read_bytes())
        data[-1] ^= 0xFF  # the tar's zero padding: the samples do not change, the sha256 does
        (copy / "ds" / changed).write_bytes(bytes(data))
        with caplog.at_level(logging.WARNING, logger="s1mmalign.loaders.cache"):
            got = keys(stream, 0)
    finally:
        server.shutdown()
        server.server_close()
    assert got == keys(S1MMAlignStream(root / "ds", disciplines="biology", format="wds", seed=3), 0)
    sha = index_entries(root)[changed]["sha256"]
    assert sha + ".tar" not in cached(tmp_path / "cache") and "hash to" in caplog.text
    assert len(cached(tmp_path / "cache")) == len(stream.selection.picks) - 1
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_workers_fill_one_cache_and_later_epochs_match(root, http, tmp_path):
    url, state = http
    local = S1MMAlignStream(root / "ds", disciplines=["biology", "physics"], format="wds", seed=5)
    stream = S1MMAlignStream(url, disciplines=["biology", "physics"], format="wds", seed=5, cache_dir=tmp_path / "cache")

    def epoch(s, n):
        s.set_epoch(n)
        return [k for b in make_dataloader(s, batch_size=8, num_workers=2) for k in b["key"]]

    assert epoch(stream, 0) == epoch(local, 0)
    assert cached(tmp_path / "cache")  # the workers kept the shards they read whole
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    first = shard_requests(state)
    assert epoch(stream, 1) == epoch(local, 1)
    assert shard_requests(state) - first < first  # most of the second epoch came from the cache


def test_local_folders_are_not_cached(root, tmp_path):
    stream = S1MMAlignStream(root / "ds", disciplines="biology", cache_dir=tmp_path / "cache")
    assert stream.source.cache is None
    keys(stream, 0)
    assert not (tmp_path / "cache").exists()


def test_temporaries_of_killed_runs_are_removed_and_live_ones_kept(tmp_path):
    """A worker killed mid-download leaves a temporary file; the next stream removes it, but never
    one that a live process (another worker, another run) may still be writing."""
    import os
    import subprocess
    import sys
    import time

    from s1mmalign.loaders.cache import ShardCache

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    folder = tmp_path / "cache" / "ab"
    folder.mkdir(parents=True)
    kept = folder / "abc.tar"
    kept.write_bytes(b"x")
    stale, fresh, live = (folder / f".abc.tar.{dead}-000001.tmp", folder / f".abd.tar.{dead}-000002.tmp",
                          folder / f".abe.tar.{os.getpid()}-000003.tmp")
    for p in (stale, fresh, live):
        p.write_bytes(b"partial")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(live, (hour_ago, hour_ago))
    cache = ShardCache(tmp_path / "cache")
    assert cache.removed == 1 and not stale.exists()
    assert fresh.exists() and live.exists() and kept.exists()  # too recent / its writer is alive / a shard


KILLED = r"""
import sys
from s1mmalign.loaders import S1MMAlignStream

for s in S1MMAlignStream(sys.argv[1], disciplines=["biology", "physics"], format="wds", cache_dir=sys.argv[2]):
    pass
"""


def test_a_killed_download_leaves_nothing_under_a_final_name(tmp_path):
    """SIGKILL while a shard streams in over a slow link (read in several requests, its first bytes
    already in a temporary file): every file under a final name is a whole shard whose bytes hash
    to its name; a rerun completes the cache with the same samples."""
    import signal
    import subprocess
    import sys
    import time

    write_dataset(synthetic_records(300), tmp_path / "srv" / "ds", options=ShardOptions(tar_shard_bytes=1_000_000))
    server, _ = serve_http(tmp_path / "srv", bytes_per_s=400_000)
    cache = tmp_path / "cache"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ds"
        proc = subprocess.Popen([sys.executable, "-c", KILLED, url, str(cache)])
        deadline = time.monotonic() + 60
        while not list(cache.rglob(".*.tmp")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert list(cache.rglob(".*.tmp")), "the run ended before a download was under way"
        for p in cache.rglob("*"):
            if p.is_file() and not p.name.startswith("."):
                assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name.split(".")[0]
        local = S1MMAlignStream(tmp_path / "srv" / "ds", disciplines=["biology", "physics"], format="wds")
        again = S1MMAlignStream(url, disciplines=["biology", "physics"], format="wds", cache_dir=cache)
        assert keys(again, 0) == keys(local, 0)
    finally:
        server.shutdown()
        server.server_close()
    shards = json.loads((tmp_path / "srv" / "ds" / "index" / "shards.json").read_text())["shards"]
    sha = {s["path"]: s["sha256"] for s in shards}
    assert {p.name for p in cache.rglob("*.tar")} == {sha[p.path] + ".tar" for p in again.selection.picks}


def test_an_unwritable_cache_does_not_stop_the_reading(root, http, tmp_path, caplog):
    url, _ = http
    (tmp_path / "a-file").write_bytes(b"")
    local = S1MMAlignStream(root / "ds", disciplines="biology", format="wds", seed=3)
    stream = S1MMAlignStream(url, disciplines="biology", format="wds", seed=3, cache_dir=tmp_path / "a-file" / "cache")
    with caplog.at_level(logging.WARNING, logger="s1mmalign.loaders.cache"):
        assert keys(stream, 0) == keys(local, 0)
    assert "not caching" in caplog.text and "NotADirectoryError" in caplog.text
