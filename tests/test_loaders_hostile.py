"""The loader does not trust the index: paths stay in the root, digests are checked, stalled
servers time out, malformed fields are one clear error."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.loaders import S1MMAlignStream
from s1mmalign.loaders.index import IndexFormatError
from s1mmalign.loaders.remote import SourceStalled
from s1mmalign.loaders.source import ShardIntegrityError
from s1mmalign.loaders.tiny import serve_http, synthetic_records

SMALL = ShardOptions(parquet_shard_bytes=60_000, tar_shard_bytes=60_000, row_group_bytes=15_000)


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "ds"
    write_dataset(synthetic_records(120), out, options=SMALL)
    return out


def tampered(ds: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(ds, copy)
    index = json.loads((copy / "index/shards.json").read_text())
    edit(index["shards"][0], index)
    (copy / "index/shards.json").write_text(json.dumps(index))
    return copy


@pytest.mark.parametrize("field,value", [
    ("path", "../outside/train-00000.tar"), ("path", "/etc/passwd.tar"), ("sample_index", "../../secret.parquet"),
    ("sample_index", "/etc/hosts"), ("path", "wds\\..\\x.tar")])
def test_index_paths_leaving_the_root_are_refused_even_without_check_index(ds, tmp_path, field, value):
    def edit(entry, _):
        entry[field] = value
        entry["format"] = "wds" if value.endswith(".tar") else entry["format"]
    copy = tampered(ds, tmp_path, edit)
    for check in (True, False):
        with pytest.raises(IndexFormatError, match=f"shards\\[0\\].{field}") as e:
            S1MMAlignStream(copy, check_index=check)
        assert "check_index=False" not in str(e.value)


def test_a_symlink_out_of_the_root_is_not_followed(ds, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(ds, copy)
    outside = tmp_path / "outside.tar"
    shard = next((copy / "wds").rglob("*.tar"))
    shutil.move(shard, outside)
    shard.symlink_to(outside)
    stream = S1MMAlignStream(copy, format="wds", check_index=False)
    with pytest.raises(IndexFormatError, match="symlink leads outside the dataset root"):
        list(stream)


@pytest.mark.parametrize("sha", ["../../../tmp/evil", "AB" * 32, "0" * 63, 12])
def test_a_sha256_that_is_not_a_digest_is_refused_before_it_names_a_cache_file(ds, tmp_path, sha):
    def edit(entry, _):
        entry["sha256"] = sha
    copy = tampered(ds, tmp_path, edit)
    with pytest.raises(IndexFormatError, match=r"shards\[0\].sha256 must be 64 lowercase hex digits"):
        S1MMAlignStream(copy, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("field,value,why", [
    ("num_samples", "12", "non-negative integer"), ("bytes", -1, "non-negative integer"),
    ("modalities", {"plot": "x"}, "map names"), ("row_groups", [{"rows": 3}], "num_rows"),
    ("format", "zip", "one of"), ("discipline", None, "string")])
def test_malformed_index_fields_are_one_clear_error(ds, tmp_path, field, value, why):
    def edit(entry, _):
        entry[field] = value
    copy = tampered(ds, tmp_path, edit)
    with pytest.raises(IndexFormatError, match=f"shards\\[0\\].{field} .*{why}.*rebuild"):
        S1MMAlignStream(copy, check_index=False)
    (copy / "index/shards.json").write_text('{"shards": 3}')
    with pytest.raises(IndexFormatError, match="'shards' list"):
        S1MMAlignStream(copy)
    (copy / "index/shards.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match="not JSON"):
        S1MMAlignStream(copy)


def _tamper_a_caption(copy: Path) -> str:
    shard = sorted((copy / "wds").rglob("*.tar"))[0]
    data = bytearray(shard.read_bytes())
    at = data.index(b'"caption": "A ') + len(b'"caption": "A ')
    data[at: at + 1] = b"X"  # same size: only the hash can tell
    shard.write_bytes(bytes(data))
    return shard.relative_to(copy).as_posix()


def test_verify_sha256_catches_a_tampered_shard_on_direct_and_remote_reads(ds, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(ds, copy)
    rel = _tamper_a_caption(copy)
    assert len(list(S1MMAlignStream(copy, format="wds"))) == 120  # served silently without verify
    with pytest.raises(ShardIntegrityError, match=f"shard {rel}: .*hash to"):
        list(S1MMAlignStream(copy, format="wds", verify="sha256"))
    good = S1MMAlignStream(ds, format="wds", verify="sha256", disciplines="physics")
    assert len(list(good)) == 30
    server, _ = serve_http(copy)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ShardIntegrityError, match=f"shard {rel}"):
            list(S1MMAlignStream(url, format="wds", verify="sha256"))
        with pytest.raises(ShardIntegrityError, match=f"shard {rel}"):
            list(S1MMAlignStream(url, format="wds", verify="sha256", cache_dir=tmp_path / "cache"))
        assert not list((tmp_path / "cache").rglob("*.tar"))[:0] and not any(
            p.name.startswith(Path(rel).stem) for p in (tmp_path / "cache").rglob("*"))
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_accepts_and_never_answers_ends_in_an_error_in_bounded_time(ds):
    """Index and listing come from a real server; shard reads go to a socket that accepts and stays silent."""
    server, _ = serve_http(ds)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])  # never answers
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        stream = S1MMAlignStream(f"http://127.0.0.1:{server.server_address[1]}", format="wds",
                                 disciplines="physics", timeout=(0.5, 0.5))
        stream.source.root = f"http://127.0.0.1:{silent.getsockname()[1]}"  # the shards' host stalls
        for src in stream.sources:
            src.root = stream.source.root
        start = time.monotonic()
        it = iter(stream)
        with pytest.raises(SourceStalled, match="no answer within the read timeout, 5 tries"):
            for _ in it:
                pass
        took = time.monotonic() - start
        assert took < 30, took
        assert held  # it did connect
    finally:
        stop.set()
        for c in held:
            c.close()
        silent.close()
        server.shutdown()
        server.server_close()


def test_a_server_without_range_support_is_read_whole(ds, tmp_path):
    """``python -m http.server``: no Range, no Accept-Ranges; the samples are those of the local folder."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    shutil.copytree(ds, tmp_path / "good")
    shutil.copytree(ds, tmp_path / "grown")
    for shard in (tmp_path / "grown").rglob("*.tar"):  # files larger than the index says
        with open(shard, "ab") as f:
            f.write(bytes(1 << 16))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        url = f"{base}/good"
        for fmt, filters in (("wds", {}), ("wds", {"modalities": "plot"}), ("parquet", {"disciplines": "biology"})):
            want = [s["key"] for s in S1MMAlignStream(ds, format=fmt, seed=3, **filters)]
            got = [s["key"] for s in S1MMAlignStream(url, format=fmt, seed=3, **filters)]
            assert got == want and len(got) > 10
        stream = S1MMAlignStream(f"{base}/grown", format="wds", check_index=False, modalities="plot")
        with pytest.raises(ValueError, match="more than the .* bytes expected"):  # the read stays bounded
            list(stream)
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_cannot_be_reached_is_not_called_a_missing_dataset(tmp_path):
    """Before: a refused connection read as "no index/shards.json ...: is this an s1mmalign dataset
    folder?" (fsspec's HTTP file system turns both into FileNotFoundError)."""
    import functools
    import http.server

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match=rf"http://127.0.0.1:{port}/ds: cannot reach the server"):
        S1MMAlignStream(f"http://127.0.0.1:{port}/ds")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:  # a server that answers 404: the folder is no dataset
        with pytest.raises(FileNotFoundError, match="is this an s1mmalign dataset folder"):
            S1MMAlignStream(f"http://127.0.0.1:{server.server_address[1]}/nothing")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("fmt", ["ustar", "gnu", "pax"])
def test_the_tar_parser_agrees_with_tarfile_and_stops_where_it_does(tmp_path, fmt):
    """The loader's own tar reader (no TarInfo per member) against the standard library, byte for byte."""
    import io
    import tarfile

    from s1mmalign.loaders.readers import _tar_members

    fmt_id = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}[fmt]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt_id) as t:
        names = ["a/key1.png", "a/key1.json", "dir/" + "d" * 90 + "/k2.txt", "b/" + "x" * 120 + ".json",
                 "c/ünï.txt", "e/big.bin"]
        if fmt == "ustar":
            names = names[:3]
        for i, name in enumerate(names):
            data = bytes(range(256)) * (i * 7 + 1)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        d = tarfile.TarInfo("a/folder")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
    data = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as t:
        want = [(m.offset, m.name, t.extractfile(m).read()) for m in t if m.isfile()]
    assert list(_tar_members(io.BytesIO(data))) == want
    for chunk in (700, 1537, 4096):  # read in pieces: headers and members straddle piece edges
        assert list(_tar_members(io.BytesIO(data), None, chunk)) == want
    assert list(_tar_members(io.BytesIO(data + b"more"), len(data), 700)) == want  # a window: nothing past it
    bad = bytearray(data)
    bad[want[1][0] + 10] ^= 0xFF  # the second header's checksum fails: the archive ends there, as in tarfile
    assert [m[1] for m in _tar_members(io.BytesIO(bytes(bad)))] == [want[0][1]]
    with pytest.raises(tarfile.ReadError):  # a member cut short
        list(_tar_members(io.BytesIO(data[: want[1][0] + 600])))
    with pytest.raises(tarfile.ReadError):  # not a tar at all
        list(_tar_members(io.BytesIO(b"x" * 1024)))


def test_parquet_rows_convert_column_by_column_as_to_pylist_does():
    """Rows of a row group (a run: a slice; scattered: a take), the image struct's bytes apart, a null
    image struct read as no bytes (a counted no_image reject), not as its child's leftover value."""
    import numpy as np
    import pyarrow as pa

    from s1mmalign.loaders.readers import _rows

    image = pa.StructArray.from_arrays([pa.array([b"a", b"b", b"c", b"d"]), pa.array(["p", None, None, None])],
                                       names=["bytes", "path"], mask=pa.array([False, False, True, False]))
    table = pa.table({"key": ["k0", "k1", "k2", "k3"], "image": image, "width": [1, 2, None, 4],
                      "categories": [["x"], [], None, ["y", "z"]]})
    want = table.to_pylist()
    for rows in ([0, 1, 2, 3], [1, 2], [3, 0, 2], [2]):
        got = _rows(table, np.array(rows))
        assert [img for _, img in got] == [(want[r]["image"] or {}).get("bytes") for r in rows]
        assert [meta for meta, _ in got] == [{k: v for k, v in want[r].items() if k != "image"} for r in rows]
    assert _rows(table, np.array([2]))[0][1] is None
