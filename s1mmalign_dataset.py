"""The S1-MMAlign dataset for ``datasets``: the contract under one name, and the ``S1MMAlign`` builder.

* the contract (record schema, taxonomies, keys, validation, folder layout) lives in
  :mod:`s1mmalign.core` and is re-exported here, with :data:`FEATURES` (``datasets.Features``);
* :class:`S1MMAlign`, a ``datasets.ArrowBasedBuilder`` over this project's Parquet shards
  (configs ``all``, one per discipline, one per modality, one per source) with predicate
  pushdown, or over the published release (jsonl + split tar.gz archives) joined on the fly.

``load_dataset`` in datasets >= 4 refuses loading scripts, so on the Hub a dataset folder is
served by its Parquet files and the ``configs:`` block of its README; the builder class here is
for direct use: ``S1MMAlign(config_name="physics", data_dir=OUT).as_streaming_dataset()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from s1mmalign.core.layout import *  # noqa: F401,F403
from s1mmalign.core.layout import parquet_files, parquet_glob
from s1mmalign.core.schema import *  # noqa: F401,F403
from s1mmalign.core.schema import FIELD_NAMES, SCHEMA, features_dict
from s1mmalign.core.taxonomy import *  # noqa: F401,F403
from s1mmalign.core.taxonomy import DISCIPLINES, MODALITIES, SOURCES
from s1mmalign.core.urls import fs_and_root

FEATURES: datasets.Features = datasets.Features.from_dict(features_dict())

# --------------------------------------------------------------------------------------
# The datasets builder
# --------------------------------------------------------------------------------------


@dataclass
class S1MMAlignConfig(datasets.BuilderConfig):
    """A slice of the dataset: disciplines / modalities / sources to keep (None = all).

    ``filters`` adds any pyarrow filter in DNF form, e.g. ``[("clip_score_recaption", ">", 0.7)]``.
    """

    disciplines: Optional[Sequence[str]] = None
    modalities: Optional[Sequence[str]] = None
    sources: Optional[Sequence[str]] = None
    filters: Optional[Any] = None
    columns: Optional[Sequence[str]] = None
    batch_size: int = 256
    #: "parquet" (this project's dataset folder), "release" (the published jsonl + tar.gz
    #: archives, joined on the fly) or None: the release when data_dir has no data/ folder.
    layout: Optional[str] = None


def _configs() -> list[S1MMAlignConfig]:
    configs = [S1MMAlignConfig(name="all", description="every figure")]
    configs += [S1MMAlignConfig(name=d, disciplines=(d,), description=f"figures from {d} papers") for d in DISCIPLINES]
    configs += [
        S1MMAlignConfig(name=f"modality-{m}", modalities=(m,), description=f"figures of modality {m}")
        for m in MODALITIES
    ]
    configs += [S1MMAlignConfig(name=f"source-{s}", sources=(s,), description=f"figures from {s}") for s in SOURCES]
    return configs


class S1MMAlign(datasets.ArrowBasedBuilder):
    """S1-MMAlign figure-text pairs from a dataset folder of this project or from the published
    release itself (jsonl + split tar.gz archives, joined on the fly), local or ``hf://``.

    Configs: ``all``; one per discipline (``physics``...); one per modality (``modality-heatmap``...);
    one per source (``source-arxiv``...). Discipline configs read only ``data/<discipline>/``;
    modality and source slices are pushed down to Parquet row-group statistics.

    >>> b = S1MMAlign(config_name="physics", data_dir="out")
    >>> ds = b.as_streaming_dataset(split="train")
    """

    BUILDER_CONFIG_CLASS = S1MMAlignConfig
    BUILDER_CONFIGS = _configs()
    DEFAULT_CONFIG_NAME = "all"

    def _info(self) -> datasets.DatasetInfo:
        features = FEATURES
        if self.config.columns:
            features = datasets.Features({c: FEATURES[c] for c in self.config.columns})
        return datasets.DatasetInfo(
            description="S1-MMAlign: scientific figures with original and enriched captions",
            features=features,
            homepage="https://huggingface.co/datasets/ScienceOne-AI/S1-MMAlign",
        )

    def _filter_expression(self) -> Optional[pads.Expression]:
        c = self.config
        expr = None

        def conj(e):
            nonlocal expr
            expr = e if expr is None else (expr & e)

        for col, values, valid in (
            ("discipline", c.disciplines, DISCIPLINES),
            ("modality", c.modalities, MODALITIES),
            ("source", c.sources, None),
        ):
            if values:
                bad = [v for v in values if valid is not None and v not in valid]
                if bad:
                    raise ValueError(f"unknown {col} {bad}; valid: {', '.join(valid)}")
                conj(pc.field(col).isin(list(values)))
        if c.filters is not None:
            import pyarrow.parquet as pq

            conj(pq.filters_to_expression(c.filters) if isinstance(c.filters, list) else c.filters)
        return expr

    def _data_files(self, dl_manager) -> list[str]:
        base = self.config.data_dir
        if self.config.data_files:
            files = self.config.data_files.get("train") or []
            return list(dl_manager.download(files))
        if not base:
            raise ValueError(
                "S1MMAlign needs data_dir= (a dataset folder written by `s1mmalign write`/`convert`, "
                "local or hf://datasets/<org>/<name>) or data_files="
            )
        disciplines = self.config.disciplines or ["*"]
        files = parquet_files(base, disciplines)
        if not files:
            raise FileNotFoundError(
                f"no Parquet shards under {base!r} for {self.config.name!r} "
                f"(looked for {[parquet_glob(d) for d in disciplines]})"
            )
        return files

    def _is_release(self) -> bool:
        layout = self.config.layout
        if layout not in (None, "parquet", "release"):
            raise ValueError(f"layout must be 'parquet', 'release' or None, got {layout!r}")
        if layout is not None:
            return layout == "release"
        if self.config.data_files or not self.config.data_dir:
            return False
        from s1mmalign.builder.sources.release import is_release_root

        return is_release_root(self.config.data_dir)

    def _split_generators(self, dl_manager):
        if self._is_release():
            # The published release: one generator shard per archive (jsonl partition + parts).
            from s1mmalign.builder.sources.release import discover_units

            units = discover_units(self.config.data_dir, self.config.sources).units
            return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"units": units})]
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"files": self._data_files(dl_manager)})]

    def _generate_release_tables(self, units) -> Iterator[tuple[Any, pa.Table]]:
        from s1mmalign.builder.sources.release import release_tables

        expr = self._filter_expression()
        columns = list(self.config.columns) if self.config.columns else list(FIELD_NAMES)
        key_cls = getattr(datasets.builder, "Key", None)
        for unit_idx, unit in enumerate(units):
            tables = release_tables([unit], disciplines=self.config.disciplines, batch_size=self.config.batch_size)
            for batch_idx, table in enumerate(tables):
                if expr is not None:
                    table = table.filter(expr)
                if table.num_rows:
                    key = key_cls(unit_idx, batch_idx) if key_cls else f"{unit_idx}_{batch_idx}"
                    yield key, table.select(columns)

    def _generate_tables(self, files: Optional[list[str]] = None, units=None) -> Iterator[tuple[Any, pa.Table]]:
        if units:
            yield from self._generate_release_tables(units)
            return
        # A Parquet fragment scanned with a filter skips row groups whose statistics cannot
        # match (rows are clustered by modality, so modality slices skip most row groups),
        # then filters the rows it reads exactly.
        expr = self._filter_expression()
        columns = list(self.config.columns) if self.config.columns else list(FIELD_NAMES)
        schema = pa.schema([SCHEMA.field(c) for c in columns])
        parquet_format = pads.ParquetFileFormat()
        key_cls = getattr(datasets.builder, "Key", None)
        for file_idx, path in enumerate(files):
            fs, fs_path = fs_and_root(path)
            with fs.open(fs_path, "rb") as f:
                fragment = parquet_format.make_fragment(f)
                # a shard written before a nullable field existed (``year``) reads it as nulls
                present = set(fragment.physical_schema.names)
                required = [c for c in columns if c not in present and not SCHEMA.field(c).nullable]
                if required:
                    raise ValueError(f"{path}: no column {required[0]!r}: not an s1mmalign shard")
                batches = fragment.to_batches(
                    columns=[c for c in columns if c in present], filter=expr, batch_size=self.config.batch_size,
                    batch_readahead=0, fragment_readahead=0,
                )
                for batch_idx, batch in enumerate(batches):
                    if batch.num_rows:
                        key = key_cls(file_idx, batch_idx) if key_cls else f"{file_idx}_{batch_idx}"
                        arrays = [batch.column(c) if c in present else pa.nulls(batch.num_rows, schema.field(c).type)
                                  for c in columns]
                        yield key, pa.Table.from_arrays(arrays, names=columns).cast(schema)
