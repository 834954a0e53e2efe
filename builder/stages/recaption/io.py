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
    return Path(path).is_dir() and bool(contract.parquet_files(path))


def count_rows(root: str | os.PathLike) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in contract.require_parquet_files(root))


def iter_dataset_batches(root: str | os.PathLike, columns: Optional[Sequence[str]] = None,
                         batch_size: int = 64) -> Iterator[list[dict]]:
    """Batches of records from every Parquet shard under ``root``, in file order (only ``columns``)."""
    return contract.iter_parquet_batches(root, columns, batch_size)


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
