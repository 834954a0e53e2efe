"""The dataset folder layout (a dataset folder is a Hub dataset repository).

``data/<discipline>/*.parquet``, ``wds/<discipline>/*.tar``, ``index/`` (the shard index and
per-shard sidecars) and ``sizes.json``: written by the builder, read by the loaders and the
datasets adapter.

``index/shards.json`` is what loaders read to prune before opening anything::

    {"version": 1, "contract": "1.0", "num_samples": N,
     "counts": {discipline: {modality: n}},
     "shards": [{"path": "wds/physics/physics-00000.tar", "format": "wds", "discipline": "physics",
                 "num_samples": n, "bytes": b, "sha256": "...",
                 "modalities": {...}, "sources": {...}, "licenses": {...},
                 "sample_index": "index/wds/physics/physics-00000.tar.idx.parquet",
                 "row_groups": [{"num_rows": n, "modalities": {...}}]   # Parquet shards only
                }, ...],
     "duplicate_keys": {"count": n, "examples": [...]}}    # only when a key is in two shards

Shards are named ``<wds|data>/<d>/<d>-NNNNN.<tar|parquet>``, numbered from 0 per discipline
(:func:`shard_rel`), so ``wds/physics/physics-{00000..00011}.tar`` is one discipline.
``sizes.json`` at the root maps every shard path to its sample count; ``wds/<d>/sizes.json``
maps every tar basename of the dataset to its count (open_clip reads the one beside the
first shard and looks the others up by basename, so each holds them all).

Each shard has a per-sample sidecar ``index/<shard path>.idx.parquet`` (columns
:data:`SAMPLE_INDEX_SCHEMA`; the shard's facts in its ``s1mmalign_shard`` schema metadata).
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Iterator, Optional, Sequence

import pyarrow as pa

from s1mmalign.core.urls import fs_and_root, url_of
from s1mmalign.core.years import paper_year

PARQUET_DIR = "data"
WDS_DIR = "wds"
INDEX_DIR = "index"
SHARD_INDEX_FILE = "index/shards.json"
SIZES_FILE = "sizes.json"


def parquet_glob(discipline: str = "*") -> str:
    return f"{PARQUET_DIR}/{discipline}/*.parquet"


def shard_rel(fmt: str, discipline: str, n: int) -> str:
    """The final name of a discipline's ``n``-th shard of a format (numbered per discipline;
    the discipline in the basename keeps basenames unique across the dataset)."""
    folder, ext = (WDS_DIR, "tar") if fmt == "wds" else (PARQUET_DIR, "parquet")
    return f"{folder}/{discipline}/{discipline}-{n:05d}.{ext}"


def parquet_files(root: str | Path, disciplines: Sequence[str] = ("*",), storage_options: Optional[dict] = None) -> list[str]:
    """The Parquet shards of a dataset folder (local path or fsspec URL), sorted per discipline:
    paths on local disk, URLs elsewhere. The one way every reader finds them."""
    fs, base = fs_and_root(root, storage_options)
    files: list[str] = []
    for d in disciplines:
        files += sorted(fs.glob(posixpath.join(base, parquet_glob(d))))
    return [url_of(fs, f) for f in files]


def require_parquet_files(root: str | Path) -> list[str]:
    """:func:`parquet_files` of every discipline, or the one-line error of a folder that has none."""
    files = parquet_files(root)
    if not files:
        if "://" not in str(root) and not Path(root).is_dir():
            raise FileNotFoundError(f"{root}: no such dataset folder")
        raise FileNotFoundError(f"no Parquet shards under {root} (expected {parquet_glob()}); "
                                "is it a dataset folder written by `s1mmalign write`?")
    return files


def iter_parquet_batches(root: str | Path, columns: Optional[Sequence[str]] = None, batch_size: int = 64) -> Iterator[list[dict]]:
    """Records of every Parquet shard of a dataset folder, in file order, as lists of dicts,
    with only ``columns`` read (all when None)."""
    import fsspec
    import pyarrow.parquet as pq

    for f in require_parquet_files(root):
        with fsspec.open(f, "rb") as fh:
            pf = pq.ParquetFile(fh)
            cols = [c for c in (columns or pf.schema_arrow.names) if c in pf.schema_arrow.names]
            for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
                yield batch.to_pylist()

INDEX_VERSION = 1


def sidecar_rel(shard_rel: str) -> str:
    """The sidecar of a shard, relative to the dataset folder."""
    return f"{INDEX_DIR}/{shard_rel}.idx.parquet"


#: Columns of the per-sample index sidecar.
SAMPLE_INDEX_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("modality", pa.string()),
        ("source", pa.string()),
        ("license", pa.string()),
        ("paper_id", pa.string()),
        ("caption_chars", pa.int32()),
        ("recaption_chars", pa.int32()),  # -1 without a recaption
        ("clip_score_caption", pa.float32()),
        ("clip_score_recaption", pa.float32()),
        ("width", pa.int32()),  # filter columns of the loader's where= (null in sidecars of older datasets)
        ("height", pa.int32()),
        ("multi_panel", pa.bool_()),
        ("year", pa.int32()),  # the record's, else the year its arXiv id / dated DOI names (core.years)
        ("offset", pa.int64()),  # tar: byte offset of the sample's first header; parquet: row in shard
        ("size", pa.int64()),  # tar: bytes of the sample's members; parquet: 1
        ("row_group", pa.int32()),  # parquet: row group of the row; tar: -1
        # parquet: where the row's image bytes lie in the shard (stored PLAIN, uncompressed), so a
        # slice reads its images with ranged reads instead of whole column chunks; null for tar,
        # for pages that cannot be addressed so, and in sidecars written before these columns
        ("image_offset", pa.int64()),
        ("image_size", pa.int64()),
    ]
)


def note_sample(cols: dict[str, list], rec: dict, offset: int, size: int, row_group: int) -> None:
    """Append one sample's row to sidecar columns (also used to rebuild an index from shards); its
    image range is null until :func:`note_image_ranges` sets a Parquet shard's."""
    cols["key"].append(rec.get("key"))
    cols["modality"].append(rec.get("modality") or "other")
    cols["source"].append(rec.get("source") or "")
    cols["license"].append(rec.get("license") or "")
    cols["paper_id"].append(rec.get("paper_id") or "")
    cols["caption_chars"].append(len(rec.get("caption") or ""))
    cols["recaption_chars"].append(len(rec["recaption"]) if rec.get("recaption") is not None else -1)
    cols["clip_score_caption"].append(rec.get("clip_score_caption"))
    cols["clip_score_recaption"].append(rec.get("clip_score_recaption"))
    for name in ("width", "height", "multi_panel"):
        cols[name].append(rec.get(name))
    cols["year"].append(paper_year(rec))
    cols["offset"].append(offset)
    cols["size"].append(size)
    cols["row_group"].append(row_group)
    cols["image_offset"].append(None)
    cols["image_size"].append(None)


def note_image_ranges(cols: dict[str, list], path: str | Path, image_sizes: Optional[Sequence[int]] = None) -> bool:
    """Set the image ranges of a Parquet shard's sidecar columns from the local shard file ``path``;
    ``image_sizes``, the lengths of the images written, when known, must agree with them. False (the
    columns stay null, readers use pyarrow) when the pages cannot be addressed or do not agree."""
    from s1mmalign.core.parquet_values import value_ranges

    ranges = value_ranges(path, "image.bytes")
    n = len(cols["key"])
    if ranges is None or len(ranges[0]) != n or (image_sizes is not None and list(ranges[1]) != list(image_sizes)):
        return False
    cols["image_offset"] = ranges[0].tolist()
    cols["image_size"] = ranges[1].tolist()
    return True


def read_sidecar(path: Path) -> tuple[dict, pa.Table]:
    """(shard facts, per-sample index table) of one sidecar."""
    import pyarrow.parquet as pq  # on first use: importing the layout stays cheap for a loader

    table = pq.read_table(path)
    facts = json.loads(table.schema.metadata[b"s1mmalign_shard"])
    return facts, table.replace_schema_metadata(None)


def read_index(out: str | Path) -> dict:
    with open(Path(out) / SHARD_INDEX_FILE, encoding="utf-8") as f:
        return json.load(f)


SHARD_SUFFIXES = {".tar": "wds", ".parquet": "parquet"}
SCAN_FIELDS = ("key", "modality", "source", "license", "paper_id", "caption", "recaption",
               "clip_score_caption", "clip_score_recaption", "width", "height", "multi_panel")


def split_member(name: str) -> tuple[str, str]:
    """(key, extension) of a tar member, webdataset's convention: the key is the member path up to the
    first dot of its basename, the extension what follows that dot."""
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext


def member_key(name: str) -> str:
    """webdataset's convention: the key is the member path up to the first dot of its basename."""
    return split_member(name)[0]


def scan_shard(f, fmt: str, cols: dict) -> None:
    """Append every sample of an open shard file to sidecar columns (:func:`note_sample`): a shard's
    index rebuilt from its own metadata (a dataset without index; ``s1mmalign reindex``)."""
    import json
    import tarfile

    if fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(f)
        names = [n for n in SCAN_FIELDS if n in pf.schema_arrow.names]
        row = 0
        for g in range(pf.num_row_groups):
            for rec in pf.read_row_group(g, columns=names).to_pylist():
                note_sample(cols, rec, row, 1, g)
                row += 1
        return
    with tarfile.open(fileobj=f, mode="r|") as tar:
        current, start, meta = None, 0, None
        for m in tar:
            key = member_key(m.name)
            if key != current:
                if current is not None:
                    note_sample(cols, meta or {"key": current}, start, m.offset - start, -1)
                current, start, meta = key, m.offset, None
            if m.isfile() and m.name.endswith(".json"):
                meta = json.loads(tar.extractfile(m).read())
        if current is not None:
            note_sample(cols, meta or {"key": current}, start, tar.offset - start, -1)
