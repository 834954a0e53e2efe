"""``hf://`` streaming and ``load_dataset("<org>/<name>")`` through the real Hub client code.

The Hub is unreachable here: ``tests/hub_server.FakeHub`` serves a dataset folder written by
``write_dataset`` as a read-only Hub dataset repo on loopback, and records every request. The loader
runs in this process with the documented per-filesystem endpoint (``HfFileSystem(endpoint=...)``,
through ``storage_options``); ``datasets`` reads ``HF_ENDPOINT`` at import, so ``load_dataset`` runs
in a subprocess with ``HF_ENDPOINT`` pointing at the fake.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hub_server import SHA, FakeHub
from PIL import Image

from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.loaders import S1MMAlignStream, make_dataloader
from s1mmalign.loaders.tiny import synthetic_records

REPO = "org/name"
PICKED = ["physics", "astronomy"]  # two of the four disciplines of synthetic_records

try:
    from huggingface_hub import constants as hf_constants

    HUB_OFFLINE = bool(hf_constants.HF_HUB_OFFLINE)
except ImportError:  # pragma: no cover - huggingface_hub is a dependency of datasets
    HUB_OFFLINE = True

needs_online_client = pytest.mark.skipif(
    HUB_OFFLINE, reason="HF_HUB_OFFLINE is set in this test environment: huggingface_hub refuses every request, "
                        "even to the loopback fake Hub (unset it to run these tests)")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hub") / "ds"
    write_dataset(synthetic_records(240), out,
                  options=ShardOptions(parquet_shard_bytes=30_000, tar_shard_bytes=30_000, row_group_bytes=8_000))
    return out


@pytest.fixture
def hub(folder):
    """A fresh fake Hub per test (a fresh endpoint, so no file system instance is reused across tests)."""
    with FakeHub(folder, REPO, page_size=5) as h:  # small pages: the client follows the Link header
        yield h
    assert not h.unexpected, f"the client asked the fake Hub for endpoints it does not serve: {h.unexpected}"


def remote(hub: FakeHub, revision: str = "", **kw) -> S1MMAlignStream:
    # token=False: nothing saved on this machine is sent, even to loopback
    return S1MMAlignStream(f"hf://datasets/{REPO}{revision}", storage_options={"endpoint": hub.url, "token": False}, **kw)


def discipline_of(repo_path: str) -> str | None:
    """The discipline folder of a shard or sidecar path (``data/<d>/...``, ``index/wds/<d>/...``)."""
    parts = repo_path.split("/")
    if parts[0] == "index":
        parts = parts[1:]
    return parts[1] if len(parts) >= 3 and parts[0] in ("data", "wds") else None


def sample_view(s: dict) -> tuple:
    return s["key"], s["text"], s["discipline"], hashlib.sha256(s["image"].tobytes()).hexdigest()


# -- S1MMAlignStream over hf:// ------------------------------------------------------------------------------


@needs_online_client
@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_hf_stream_equals_the_local_folder_and_reads_only_the_slice(folder, hub, fmt):
    # a modality filter too: the per-shard sample indexes are read (wds: exact byte ranges of the slice)
    kw = dict(disciplines=PICKED, modalities="plot", format=fmt, seed=7, shuffle_buffer=32, shuffle_initial=8)
    stream = remote(hub, **kw)
    resolved = list(hub.requests)  # everything the process building the stream asked

    # the listing is paginated, each page asked once; the index is read once
    pages = [(r.path, r.query) for r in resolved if r.kind == "tree"]
    assert pages and len(pages) == len(set(pages)) and any("cursor=" in q for _, q in pages)
    assert [r.path for r in hub.downloads()].count("index/shards.json") == 1

    local = S1MMAlignStream(folder, **kw)
    assert [sample_view(s) for s in stream] == [sample_view(s) for s in local]  # same samples, same order
    one_pass = hub.requests[len(resolved):]

    batches = [k for b in make_dataloader(stream, batch_size=8, num_workers=2) for k in b["key"]]
    assert batches == [k for b in make_dataloader(local, batch_size=8, num_workers=2) for k in b["key"]]
    assert len(batches) == len(stream) == 40

    # the workers asked for no listing, repo info or index: they got the resolved source by pickling
    after = hub.requests[len(resolved):]
    assert [r for r in after if r.kind != "resolve"] == []
    assert [r.path for r in hub.downloads()].count("index/shards.json") == 1

    # only the selected shards' bytes (and their sidecars) were downloaded, in ranges
    picked = {p.path for p in stream.selection.picks}
    shard_gets = {r.path for r in hub.downloads() if r.path.startswith(("data/", "wds/"))}
    assert shard_gets == picked
    assert all(r.range is not None for r in hub.downloads() if r.path in picked)
    touched = {r.path for r in hub.requests if r.kind == "resolve" and discipline_of(r.path)}
    assert {discipline_of(p) for p in touched} <= set(PICKED)
    assert all(p.startswith(("data/", "index/data/")) == (fmt == "parquet") for p in touched)
    assert all(r.status in (200, 206) for r in hub.requests if r.kind == "resolve")
    # the URL named no revision: the stream pinned the commit "main" pointed to, for every process
    assert {r.rev for r in hub.requests if r.kind != "info"} == {SHA}

    # and of those only what the slice needs: wds the byte runs of its samples; Parquet the row
    # groups and, per shard, pyarrow's speculative footer read (the last 64 KiB)
    fetched = sum(r.range[1] - r.range[0] + 1 for r in one_pass if r.path in picked)
    sizes = {p: (folder / p).stat().st_size for p in picked}
    if fmt == "wds":
        assert fetched < 0.75 * sum(sizes.values()), (fetched, sum(sizes.values()))
    else:
        assert fetched <= sum(p.bytes for p in stream.selection.picks) + sum(min(n, 65536) for n in sizes.values())


@needs_online_client
def test_transient_503s_are_retried_and_the_samples_do_not_change(folder):
    local = S1MMAlignStream(folder, disciplines="biology", format="wds", seed=3)
    flaky = {"index/shards.json", *sorted(p.path for p in local.selection.picks)[:2]}
    with FakeHub(folder, REPO, fail=flaky.__contains__) as hub:
        stream = remote(hub, f"@{SHA}", disciplines="biology", format="wds", seed=3)  # pinned to the commit
        got = [sample_view(s) for s in stream]
    assert not hub.unexpected
    assert got == [sample_view(s) for s in local]
    assert sorted(hub.failed) == sorted(flaky)  # each failed once ...
    for path in flaky:  # ... and the same bytes were asked again and served
        asked = [r for r in hub.requests if r.path == path and r.method == "GET"]
        assert asked[0].status == 503 and asked[1].status in (200, 206) and asked[1].range == asked[0].range
    assert {r.rev for r in hub.requests if r.kind in ("resolve", "tree")} == {SHA}


@needs_online_client
@pytest.mark.parametrize("fmt", ["wds", "parquet"])
def test_cache_dir_serves_later_epochs_without_the_hub(folder, hub, tmp_path, fmt):
    local = S1MMAlignStream(folder, disciplines="physics", format=fmt, seed=4)
    stream = remote(hub, disciplines="physics", format=fmt, seed=4, cache_dir=tmp_path / "cache")
    for epoch in (0, 1):
        local.set_epoch(epoch)
        stream.set_epoch(epoch)
        assert [sample_view(s) for s in stream] == [sample_view(s) for s in local]
        if epoch == 0:
            first = len(hub.downloads())
    assert not hub.unexpected
    assert len(hub.downloads()) == first  # the second epoch downloaded nothing
    assert len(list((tmp_path / "cache").rglob("*" + (".tar" if fmt == "wds" else ".parquet")))) == len(
        stream.selection.picks)


@needs_online_client
def test_a_403_is_not_retried(folder):
    """A permanent answer (expired token, gated repo) is not retried: its shard's samples are counted at once."""
    local = S1MMAlignStream(folder, disciplines="biology", format="wds", seed=3)
    denied = sorted(p.path for p in local.selection.picks)[0]
    with FakeHub(folder, REPO, fail=denied.__eq__, fail_status=403) as hub:
        stream = remote(hub, disciplines="biology", format="wds", seed=3)
        it = iter(stream)
        started = time.perf_counter()
        got = [s["key"] for s in it]
        seconds = time.perf_counter() - started
    assert not hub.unexpected and hub.failed == [denied]
    gets = [r for r in hub.requests if r.path == denied and r.method == "GET"]
    assert [r.status for r in gets] == [403]  # asked once: the retries (0.2 + 0.4 + 0.8 + 1.6 s) are skipped
    assert it.errors.get("read_error", 0) > 0 and len(got) == len(list(local))  # padded to the planned count
    assert seconds < 3


# -- datasets.load_dataset("org/name", "<discipline>") --------------------------------------------------------

CLIENT = r"""
import hashlib, json, sys
import datasets
from PIL import Image

out = {}
for streaming in [True, False][: int(sys.argv[3])]:
    ds = datasets.load_dataset(sys.argv[1], sys.argv[2], split="train", streaming=streaming)
    rows = []
    for r in ds:
        assert isinstance(r["image"], Image.Image), type(r["image"])
        rows.append([r["key"], r["discipline"], r["caption"], r["image"].size,
                     hashlib.sha256(r["image"].convert("RGB").tobytes()).hexdigest()])
    out["streaming" if streaming else "downloaded"] = rows
print(json.dumps(out))
"""


def local_rows(folder: Path, discipline: str = "*", modality: str | None = None) -> list[list]:
    rows = []
    for f in sorted(folder.glob(f"data/{discipline}/*.parquet")):
        for r in pq.read_table(f, columns=["key", "discipline", "caption", "image", "modality"]).to_pylist():
            if modality and r["modality"] != modality:
                continue
            img = Image.open(io.BytesIO(r["image"]["bytes"]))
            rows.append([r["key"], r["discipline"], r["caption"], list(img.size),
                         hashlib.sha256(img.convert("RGB").tobytes()).hexdigest()])
    return rows


def load_from_hub(hub: FakeHub, tmp_path: Path, config: str, both: bool = True) -> dict:
    """Run CLIENT in a fresh interpreter whose huggingface_hub talks to ``hub`` (HF_ENDPOINT)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}  # HF_HUB_OFFLINE too
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf_home"), HF_DATASETS_CACHE=str(tmp_path / "hf_datasets"),
               HF_HUB_DISABLE_TELEMETRY="1")
    p = subprocess.run([sys.executable, "-c", CLIENT, REPO, config, "2" if both else "1"], capture_output=True,
                       text=True, env=env, timeout=240)
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_load_dataset_reads_one_discipline_config_from_the_hub(folder, hub, tmp_path):
    got = load_from_hub(hub, tmp_path, "physics")
    want = local_rows(folder, "physics")
    assert len(want) == 60 and {r[1] for r in want} == {"physics"}
    assert sorted(got["streaming"]) == sorted(got["downloaded"]) == sorted(want)

    # the card's configs sent the client to data/physics only: no other discipline, no tar, no index
    files = {r.path for r in hub.requests if r.kind == "resolve" and r.status in (200, 206)}
    assert {f for f in files if f.startswith(("data/", "wds/", "index/"))} == \
        {f"data/physics/{f.name}" for f in (folder / "data" / "physics").glob("*.parquet")}
    assert "README.md" in files
    assert any(r.range for r in hub.downloads() if r.path.startswith("data/"))  # streaming read byte ranges


def test_load_dataset_modality_config_from_the_hub(folder, hub, tmp_path):
    """A modality config is a `filters` config over every Parquet file (the card's YAML)."""
    got = load_from_hub(hub, tmp_path, "modality-plot", both=False)["streaming"]
    want = local_rows(folder, modality="plot")
    assert len(want) == 80 and sorted(got) == sorted(want)


# -- the fake itself -----------------------------------------------------------------------------------------


def test_fake_hub_answers_like_the_hub_and_stays_inside_its_folder(folder):
    with FakeHub(folder, REPO, page_size=3) as hub:
        conn = http.client.HTTPConnection("127.0.0.1", int(hub.url.rsplit(":", 1)[1]), timeout=10)

        def ask(method, path, headers=None):
            conn.request(method, path, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()

        size = (folder / "index" / "shards.json").stat().st_size
        status, headers, body = ask("GET", "/datasets/org/name/resolve/main/index/shards.json", {"Range": "bytes=2-9"})
        assert status == 206 and headers["Content-Range"] == f"bytes 2-9/{size}" and body == (
            folder / "index" / "shards.json").read_bytes()[2:10]
        assert headers["X-Repo-Commit"] == SHA and headers["ETag"] and not any(h.lower().startswith("x-xet") for h in headers)
        status, headers, _ = ask("HEAD", "/datasets/org/name/resolve/main/README.md")
        assert status == 200 and int(headers["Content-Length"]) == (folder / "README.md").stat().st_size

        for escape in ("/datasets/org/name/resolve/main/../../etc/passwd", "/datasets/org/name/resolve/main/%2e%2e/x",
                       "/api/datasets/org/name/tree/main/..%2F..", "/datasets/org/name/resolve/main//etc/passwd"):
            status, headers, _ = ask("GET", escape)
            assert status == 404 and headers["X-Error-Code"] == "EntryNotFound", escape
        status, headers, _ = ask("GET", "/api/datasets/org/name/revision/v9")
        assert status == 404 and headers["X-Error-Code"] == "RevisionNotFound"

        status, headers, body = ask("GET", "/api/datasets/org/name/tree/main/index?recursive=true")
        assert status == 200 and len(json.loads(body)) == 3 and 'rel="next"' in headers["Link"]

        status, _, body = ask("GET", "/api/models/org/name")
        assert status == 404 and "does not serve" in json.loads(body)["error"]
        assert hub.unexpected == ["GET /api/models/org/name"]
        conn.close()


@needs_online_client
def test_fake_hub_speaks_the_hub_api_to_the_real_client(folder, tmp_path):
    """HfApi's read calls and hf_hub_download get what they expect (pages, LFS metadata, ETag)."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    with FakeHub(folder, REPO, page_size=3) as hub:
        api = HfApi(endpoint=hub.url, token=False)
        info = api.dataset_info(REPO, revision=SHA, files_metadata=True)
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert info.sha == SHA and {s.rfilename for s in info.siblings} == on_disk

        tree = list(api.list_repo_tree(REPO, "index", recursive=True, repo_type="dataset"))
        assert {t.path for t in tree if isinstance(t, RepoFile)} == {p for p in on_disk if p.startswith("index/")}
        assert len(hub.asked("tree")) == -(-len(tree) // 3)  # followed every page

        shard = sorted(p for p in on_disk if p.startswith("data/"))[0]
        got = {t.path: t for t in api.get_paths_info(REPO, ["index/shards.json", "data", shard, "absent.txt"],
                                                       repo_type="dataset", revision=SHA)}
        assert set(got) == {"index/shards.json", "data", shard} and isinstance(got["data"], RepoFolder)
        assert got["index/shards.json"].lfs is None  # text files are stored in git, binaries in LFS
        assert got[shard].lfs.sha256 == hashlib.sha256((folder / shard).read_bytes()).hexdigest()

        local = hf_hub_download(REPO, "index/shards.json", repo_type="dataset", endpoint=hub.url, token=False,
                                cache_dir=str(tmp_path / "cache"))
        assert Path(local).read_bytes() == (folder / "index" / "shards.json").read_bytes()
        assert [r.method for r in hub.asked("resolve")] == ["HEAD", "GET"]
    assert not hub.unexpected
