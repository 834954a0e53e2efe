"""The ``S1MMAlign`` datasets builder reading the published release layout directly."""

from __future__ import annotations

import fsspec
import pytest

import s1mmalign_dataset as contract
from s1mmalign.builder.sources.release import is_release_root
from s1mmalign.builder.sources.sample_release import sample_release


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return sample_release(tmp_path_factory.mktemp("rel") / "release", part_size=8192)


def test_streaming_per_discipline_and_source(release, tmp_path):
    assert is_release_root(str(release))
    rows = list(contract.S1MMAlign(config_name="physics", data_dir=str(release), cache_dir=str(tmp_path))
                .as_streaming_dataset(split="train"))
    assert len(rows) == 2 and {r["discipline"] for r in rows} == {"physics"}
    r = rows[0]
    assert r["caption"] and r["title"] and r["paper_id"] == "2101.00123" and r["image_path"].startswith("images/2101/")
    assert r["image"].size == (r["width"], r["height"]) and len(r["image_sha256"]) == 64
    src = list(contract.S1MMAlign(config_name="source-chemrxiv", data_dir=str(release), cache_dir=str(tmp_path))
               .as_streaming_dataset(split="train"))
    assert len(src) == 2 and {x["source"] for x in src} == {"chemrxiv"}
    every = list(contract.S1MMAlign(config_name="all", data_dir=str(release), cache_dir=str(tmp_path))
                 .as_streaming_dataset(split="train"))
    assert len(every) == 10 and len({x["key"] for x in every}) == 10


def test_download_and_prepare_columns_and_filters(release, tmp_path):
    b = contract.S1MMAlign(config_name="all", data_dir=str(release), cache_dir=str(tmp_path),
                           columns=["key", "caption", "discipline", "source"], filters=[("source", "=", "arxiv")])
    b.download_and_prepare()
    ds = b.as_dataset(split="train")
    assert ds.num_rows == 6 and ds.column_names == ["key", "caption", "discipline", "source"]
    assert set(ds["source"]) == {"arxiv"}


def test_remote_release_root(release, tmp_path):
    mem = fsspec.filesystem("memory")
    for p in release.rglob("*"):
        if p.is_file():
            mem.pipe(f"/builder-rel/{p.relative_to(release).as_posix()}", p.read_bytes())
    try:
        rows = list(contract.S1MMAlign(config_name="medicine", data_dir="memory://builder-rel", cache_dir=str(tmp_path))
                    .as_streaming_dataset(split="train"))
        assert [r["source"] for r in rows] == ["medrxiv"]
    finally:
        mem.rm("/builder-rel", recursive=True)


def test_layout_is_explicit_when_asked(release, tmp_path):
    with pytest.raises(ValueError, match="layout must be"):
        contract.S1MMAlign(config_name="all", data_dir=str(release), cache_dir=str(tmp_path), layout="zip") \
            .as_streaming_dataset(split="train")
    with pytest.raises(FileNotFoundError, match="no Parquet shards"):
        contract.S1MMAlign(config_name="all", data_dir=str(release), cache_dir=str(tmp_path), layout="parquet") \
            .as_streaming_dataset(split="train")
