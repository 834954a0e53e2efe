"""core.parquet_values: byte ranges of plain, uncompressed BYTE_ARRAY values, checked against pyarrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s1mmalign.core.parquet_values import value_ranges


def _blobs(n: int, seed: int = 0, big: int = 300_000) -> list[bytes]:
    """Mostly small values (pages of many values), some up to ``big`` bytes (values larger than a page), some empty."""
    rng = np.random.default_rng(seed)
    sizes = np.where(rng.random(n) < 0.7, rng.integers(0, 2000, n), rng.integers(0, big, n))
    sizes[::17] = 0
    return [rng.integers(0, 256, int(s), dtype=np.uint8).tobytes() for s in sizes]


def _image_table(n: int = 90, seed: int = 0, big: int = 300_000) -> pa.Table:
    blobs = _blobs(n, seed, big)
    image = pa.array([{"bytes": b, "path": f"fig-{i}.png"} for i, b in enumerate(blobs)], pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    return pa.table({"key": [f"k{i:05d}" for i in range(n)], "image": image, "caption": ["a caption " * (i % 5) for i in range(n)]})


def _assert_ranges(path, column: str, values: list) -> None:
    got = value_ranges(path, column)
    assert got is not None
    offsets, sizes = got
    assert offsets.dtype == np.int64 and sizes.dtype == np.int64 and len(offsets) == len(sizes) == len(values)
    data = path.read_bytes()
    for off, size, value in zip(offsets.tolist(), sizes.tolist(), values):
        assert data[off : off + size] == value


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("page_size", [None, 4096])
def test_struct_image_bytes(tmp_path, version, page_size):
    path = tmp_path / "shard.parquet"
    pq.write_table(
        _image_table(),
        path,
        compression={"key": "zstd", "image": "none", "caption": "zstd"},
        use_dictionary=["key", "caption"],
        write_page_index=True,
        row_group_size=25,
        data_page_version=version,
        data_page_size=page_size,
        write_batch_size=4 if page_size else 1024,  # pages are cut between batches: 4096 gives many pages
    )
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 4
    values = pq.read_table(path).column("image").combine_chunks().field("bytes").to_pylist()
    _assert_ranges(path, "image.bytes", values)
    assert value_ranges(path, "key") is None  # dictionary-encoded and compressed
    assert value_ranges(path, "image.path") is not None  # a string leaf is BYTE_ARRAY too
    assert value_ranges(path, "image") is None and value_ranges(path, "missing") is None  # not a leaf


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("nullable", [False, True])
def test_top_level_binary(tmp_path, version, nullable):
    blobs = _blobs(200, seed=1)
    schema = pa.schema([pa.field("blob", pa.binary(), nullable=nullable), pa.field("n", pa.int64())])
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"blob": blobs, "n": range(200)}, schema), path, compression="none", use_dictionary=False, row_group_size=64, data_page_version=version, data_page_size=8192)
    assert pq.ParquetFile(path).metadata.schema.column(0).max_definition_level == int(nullable)
    _assert_ranges(path, "blob", pq.read_table(path).column("blob").to_pylist())


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_many_small_values_and_empty_file(tmp_path, version):
    values = [bytes([i % 251]) * (i % 7) for i in range(5000)]  # long RLE and bit-packed level runs
    path = tmp_path / "small.parquet"
    pq.write_table(pa.table({"v": values}), path, compression="none", use_dictionary=False, data_page_version=version, data_page_size=4096)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).total_compressed_size > 3 * 4096
    _assert_ranges(path, "v", values)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"v": pa.array([], pa.binary())}), empty, compression="none", use_dictionary=False)
    offsets, sizes = value_ranges(empty, "v")
    assert len(offsets) == len(sizes) == 0


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_refusals(tmp_path, version):
    table = _image_table(30)
    opts = {"data_page_version": version, "row_group_size": 10}
    for codec in ("zstd", "snappy"):
        pq.write_table(table, tmp_path / f"{codec}.parquet", compression=codec, use_dictionary=False, **opts)
        assert value_ranges(tmp_path / f"{codec}.parquet") is None
    pq.write_table(table, tmp_path / "dict.parquet", compression="none", use_dictionary=True, **opts)
    assert value_ranges(tmp_path / "dict.parquet") is None

    image = table.column("image").combine_chunks()
    null_bytes = pa.StructArray.from_arrays([pa.array([None if i == 13 else b"x" for i in range(30)], pa.binary()), image.field("path")], ["bytes", "path"])
    null_struct = pa.array([None if i == 27 else {"bytes": b"x", "path": "p"} for i in range(30)], image.type)
    for name, col in (("null_bytes", null_bytes), ("null_struct", null_struct)):
        pq.write_table(table.set_column(1, "image", col), tmp_path / f"{name}.parquet", compression="none", use_dictionary=False, **opts)
        assert value_ranges(tmp_path / f"{name}.parquet") is None

    pq.write_table(pa.table({"l": [[b"a", b"b"], [b"c"]]}), tmp_path / "list.parquet", compression="none", use_dictionary=False)
    assert value_ranges(tmp_path / "list.parquet", "l.list.element") is None  # repeated
    pq.write_table(pa.table({"i": [1, 2]}), tmp_path / "int.parquet", compression="none")
    assert value_ranges(tmp_path / "int.parquet", "i") is None  # not BYTE_ARRAY

    pq.write_table(table, tmp_path / "ok.parquet", compression="none", use_dictionary=False, **opts)
    assert value_ranges(tmp_path / "ok.parquet") is not None
    assert value_ranges(tmp_path / "ok.parquet", max_header=8) is None  # a page header longer than max_header
    assert value_ranges(tmp_path / "missing.parquet") is None


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_corrupted_never_raises(tmp_path, version):
    path = tmp_path / "ok.parquet"
    table = _image_table(40, big=8000)
    pq.write_table(table, path, compression={"image": "none"}, use_dictionary=False, row_group_size=10, data_page_version=version, data_page_size=4096, write_batch_size=3)
    data = path.read_bytes()
    meta = pq.ParquetFile(path).metadata
    starts = [meta.row_group(g).column(1).data_page_offset for g in range(meta.num_row_groups)]
    rng = np.random.default_rng(2)
    bad = tmp_path / "bad.parquet"
    cases = [data[:cut] for cut in (0, 3, 100, len(data) // 2, len(data) - 9, len(data) - 1)]
    for start in starts:  # every byte of the first page header (and its levels), replaced by a few values
        for i in range(48):
            for b in (0x00, 0xFF, 0x15, data[start + i] ^ 0x01):
                cases.append(data[: start + i] + bytes([b]) + data[start + i + 1 :])
    for _ in range(200):
        i = int(rng.integers(starts[0], starts[-1] + 64))
        cases.append(data[:i] + rng.integers(0, 256, 8, dtype=np.uint8).tobytes() + data[i + 8 :])
    results = 0
    for case in cases:
        bad.write_bytes(case)
        got = value_ranges(bad)  # must not raise
        if got is not None:
            results += 1
            offsets, sizes = got
            assert len(offsets) == meta.num_rows and (offsets >= 0).all() and (offsets + sizes <= len(case)).all()
    assert 0 < results < len(cases), results


def test_bit_packed_levels():
    """pyarrow writes runs for all-defined levels; other writers may bit-pack them (LSB first, groups of 8)."""
    from s1mmalign.core.parquet_values import _check_levels

    assert _check_levels(bytes([3, 0xAA, 0xAA]), 0, 3, 8, 2) is None  # one group of eight 2s, 2 bits each
    assert _check_levels(bytes([3, 0xAA, 0x0A]), 0, 3, 6, 2) is None  # six 2s, then padding
    assert _check_levels(bytes([3, 0xFF]) + bytes([4, 1]), 0, 4, 10, 1) is None  # 8 bit-packed 1s, then a run of two
    for levels, n, max_def in ((bytes([3, 0xAA, 0x8A]), 8, 2), (bytes([3, 0xFE]), 8, 1), (bytes([4, 0]), 2, 1), (bytes([3, 0xFF]), 9, 1), (bytes([0, 1]), 1, 1)):
        with pytest.raises(ValueError):
            _check_levels(levels, 0, len(levels), n, max_def)
