"""The release as pyarrow tables in the contract's schema, for the ``datasets`` adapter (``S1MMAlign``)."""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.release.unit import ReleaseUnit
from s1mmalign.core import contract
from s1mmalign.core.prefetch import RECORDS_AHEAD, ReadAhead


def release_tables(
    units: Sequence[ReleaseUnit],
    *,
    disciplines: Optional[Sequence[str]] = None,
    batch_size: int = 256,
    max_pixels: Optional[int] = None,
    rejects: Optional[Rejects] = None,
) -> Iterator[Any]:
    """Joined records of ``units`` as pyarrow tables in the contract's schema, images checked
    and normalised by the writer's ``prepare_record`` (bad ones go to ``rejects``)."""
    import pyarrow as pa

    from s1mmalign.builder.records.prepare import prepare_record, reason_of
    from s1mmalign.core.images import DEFAULT_MAX_PIXELS

    rejects = rejects if rejects is not None else Rejects()
    rows: list[dict] = []
    for unit in units:
        for rec in ReadAhead(unit.read(rejects, disciplines=disciplines), RECORDS_AHEAD):
            try:
                clean, _ = prepare_record(rec, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
            except contract.RecordError as e:
                rejects.add(e.key, e.field, reason_of(e), e.reason, stage="builder", source=unit.source)
                continue
            rows.append(clean)
            if len(rows) >= batch_size:
                yield pa.Table.from_pylist(rows, schema=contract.SCHEMA)
                rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=contract.SCHEMA)
