"""A written dataset folder is what `load_dataset` and the `S1MMAlign` builder read."""

import datasets
import pytest
from conftest import make_records
from PIL import Image

import s1mmalign_dataset as c
from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions

RECORDS = make_records(45, disciplines=("physics", "biology", "medicine"), modalities=("plot", "heatmap", "diagram"))


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    write_dataset(RECORDS, out, options=ShardOptions(parquet_shard_bytes=20_000, tar_shard_bytes=20_000, row_group_bytes=5_000))
    return str(out)


def keys(where):
    return sorted(r["key"] for r in RECORDS if where(r))


def check_rows(ds, where):
    rows = list(ds)
    assert sorted(r["key"] for r in rows) == keys(where)
    first = rows[0]
    assert isinstance(first["image"], Image.Image) and first["image"].size == (96, 72)
    assert set(first) == set(c.FIELD_NAMES)
    return rows


@pytest.mark.parametrize("streaming", [False, True])
def test_load_dataset_all_and_per_discipline(out, streaming):
    check_rows(datasets.load_dataset(out, split="train", streaming=streaming), lambda r: True)
    rows = check_rows(datasets.load_dataset(out, "physics", split="train", streaming=streaming),
                      lambda r: r["discipline"] == "physics")
    by_key = {r["key"]: r for r in RECORDS}
    for row in rows:
        src = by_key[row["key"]]
        assert row["caption"] == src["caption"] and row["recaption"] == src["recaption"]
        assert row["citation_contexts"] == src["citation_contexts"] and row["categories"] == src["categories"]


@pytest.mark.parametrize("streaming", [False, True])
def test_load_dataset_with_filters_and_modality_config(out, streaming):
    check_rows(datasets.load_dataset(out, split="train", streaming=streaming, filters=[("modality", "==", "heatmap")]),
               lambda r: r["modality"] == "heatmap")
    check_rows(datasets.load_dataset(out, "modality-diagram", split="train", streaming=streaming),
               lambda r: r["modality"] == "diagram")


def test_builder_class_configs(out, tmp_path):
    for config, where in [
        ("all", lambda r: True),
        ("biology", lambda r: r["discipline"] == "biology"),
        ("modality-heatmap", lambda r: r["modality"] == "heatmap"),
    ]:
        b = c.S1MMAlign(config_name=config, data_dir=out, cache_dir=str(tmp_path / "cache"))
        check_rows(b.as_streaming_dataset(split="train"), where)
    b = c.S1MMAlign(config_name="medicine", data_dir=out, cache_dir=str(tmp_path / "cache"))
    b.download_and_prepare()
    check_rows(b.as_dataset(split="train"), lambda r: r["discipline"] == "medicine")
    b = c.S1MMAlign(config_name="all", data_dir=out, filters=[("modality", "==", "plot"), ("discipline", "==", "physics")],
                    cache_dir=str(tmp_path / "cache"))
    check_rows(b.as_streaming_dataset(split="train"), lambda r: r["modality"] == "plot" and r["discipline"] == "physics")


def test_modality_slices_prune_row_groups(out):
    """Row-group statistics let a modality filter skip the other modalities' row groups."""
    from pathlib import Path

    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    files = sorted(Path(out, "data").rglob("*.parquet"))
    expr = pads.field("modality").isin(["heatmap"])
    kept = total = 0
    for f in files:
        frag = next(pads.dataset(str(f), format="parquet").get_fragments())
        total += pq.ParquetFile(f).num_row_groups
        kept += len(frag.split_by_row_group(filter=expr))
    assert 0 < kept <= total / 2


def test_builder_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Parquet shards"):
        c.S1MMAlign(config_name="physics", data_dir=str(tmp_path), cache_dir=str(tmp_path / "c")).as_streaming_dataset(split="train")
    with pytest.raises(ValueError, match="data_dir"):
        c.S1MMAlign(config_name="all", cache_dir=str(tmp_path / "c")).as_streaming_dataset(split="train")


def test_builder_class_reads_a_remote_fsspec_folder(out, tmp_path):
    """`data_dir` may be any fsspec URL (hf://datasets/... on the Hub); memory:// stands in here."""
    from pathlib import Path

    import fsspec

    fs = fsspec.filesystem("memory")
    for p in Path(out).rglob("*.parquet"):
        if "data" in p.relative_to(out).parts[:1]:
            fs.pipe(f"/remote-ds/{p.relative_to(out).as_posix()}", p.read_bytes())
    b = c.S1MMAlign(config_name="physics", data_dir="memory://remote-ds", cache_dir=str(tmp_path / "cache"))
    check_rows(b.as_streaming_dataset(split="train"), lambda r: r["discipline"] == "physics")


def test_rewritten_folder_is_not_served_from_a_stale_cache(tmp_path):
    """datasets keys its cache on the card, not the files: the card must change with the data."""
    import shutil

    out, cache = tmp_path / "dataset", str(tmp_path / "hf-cache")
    first = make_records(9)
    write_dataset(first, out)
    assert sorted(datasets.load_dataset(str(out), split="train", cache_dir=cache)["key"]) == sorted(r["key"] for r in first)
    shutil.rmtree(out)
    second = make_records(9, start=500)
    write_dataset(second, out)
    assert sorted(datasets.load_dataset(str(out), split="train", cache_dir=cache)["key"]) == sorted(r["key"] for r in second)


def test_the_readmes_examples_run_as_written(out):
    """The README's `load_dataset` and webdataset examples, run verbatim on a written dataset (only
    the folder name OUT is replaced): documentation that drifts from the code fails here."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if '"OUT' in b and "hf://" not in b]
    assert len(blocks) >= 2 and any("load_dataset" in b for b in blocks) and any("wds.WebDataset" in b for b in blocks)
    import warnings

    for block in blocks:
        scope: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # an example that warns its reader is a wrong example
            exec(compile(block.replace('"OUT', f'"{out}'), "README.md", "exec"), scope)
        if "load_dataset" in block:  # what each line promises
            assert sorted(scope["ds"]["key"]) == keys(lambda r: True)
            assert {r["key"] for r in scope["physics"]} == set(keys(lambda r: r["discipline"] == "physics"))
            assert sorted(scope["heatmaps"]["key"]) == keys(lambda r: r["modality"] == "heatmap")
            assert sorted(scope["sliced"]["key"]) == keys(lambda r: r["modality"] == "heatmap" and r["discipline"] == "physics")
