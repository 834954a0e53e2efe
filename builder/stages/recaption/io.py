"""Records in and out of the recaption and evaluate commands: a manifest or a dataset folder.

A dataset folder is read from its Parquet shards (``data/<discipline>/train-*.parquet``), in
batches, with only the columns asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Optional, Sequence

from s1mmalign.core import contract


def is_dataset_folder(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and any(p.glob(contract.parquet_glob()))


def dataset_files(root: str | os.PathLike) -> list[Path]:
    files = sorted(Path(root).glob(contract.parquet_glob()))
    if not files:
        raise FileNotFoundError(f"no Parquet shards under {root} (expected {contract.parquet_glob()}); "
                                "is it a dataset folder written by `s1mmalign write`?")
    return files


def count_rows(root: str | os.PathLike) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in dataset_files(root))


def iter_dataset_batches(root: str | os.PathLike, columns: Optional[Sequence[str]] = None,
                         batch_size: int = 64) -> Iterator[list[dict]]:
    """Batches of records (lists of dicts) from every Parquet shard under ``root``, in file order."""
    import pyarrow.parquet as pq

    for f in dataset_files(root):
        pf = pq.ParquetFile(f)
        cols = [c for c in (columns or pf.schema_arrow.names) if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
            yield batch.to_pylist()


def iter_dataset_records(root: str | os.PathLike, columns: Optional[Sequence[str]] = None,
                         batch_size: int = 64) -> Iterator[dict]:
    for batch in iter_dataset_batches(root, columns, batch_size):
        yield from batch


def batched(records, n: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for r in records:
        batch.append(r)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch
