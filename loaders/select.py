"""Which samples a stream reads, decided from the index before any shard is opened.

Shards whose index counts rule out every match are dropped; shards that match only in part
get their per-sample sidecar read (in the process that builds the stream, concurrently), and
keep the positions of their matching samples — for tar the byte ranges of those samples, for
Parquet the row numbers (hence the row groups). Reading a 5 % slice then costs about 5 % of
the bytes. The result is exact: the number of samples of every shard is known up front,
which is what lets every rank yield the same number of batches.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np
import pyarrow as pa

from s1mmalign.core import contract
from s1mmalign.core.layout import SAMPLE_INDEX_SCHEMA
from s1mmalign.core.licenses import license_key
from s1mmalign.loaders.index import column_chunks, column_valid, column_values, image_ranges, int64_values

CAPTION_MODES = ("recaption", "caption", "both", "mix")
SHARD_COUNTS = {"modality": "modalities", "source": "sources", "license": "licenses"}  # where= terms the index counts
OPS = {"==": operator.eq, "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
       ">=": operator.ge}


def _canonical(col: str, op: str, want):
    """``want`` of a term on ``col`` as :func:`_mask` compares it (licenses by :func:`license_key`)."""
    if col != "license":
        return want
    return [license_key(w) for w in want] if op in ("in", "not in") else license_key(want)


def normalize_where(where) -> Optional[list[list[tuple]]]:
    """``datasets``' ``filters=`` form: a list of ``(column, op, value)`` (all must hold), or a list of
    such lists (any may hold). ``op``: ``== = != < <= > >= in not in``."""
    if where is None:
        return None
    if not isinstance(where, (list, tuple)) or not where:
        raise ValueError(f"where= must be a non-empty list of (column, op, value) tuples, got {where!r:.100}")
    if isinstance(where, tuple) and len(where) == 3 and isinstance(where[0], str):
        raise ValueError(f"where= is a list of terms: write [{where!r:.100}], not the bare tuple")
    dnf = [list(c) for c in where] if isinstance(where[0], list) else [list(where)]
    for conj in dnf:
        for term in conj:
            if not (isinstance(term, tuple) and len(term) == 3 and isinstance(term[0], str)):
                raise ValueError(f"where= terms are (column, op, value) tuples, got {term!r:.100}")
            if term[1] not in OPS and term[1] not in ("in", "not in"):
                raise ValueError(f"where= op {term[1]!r} is not one of {', '.join([*OPS, 'in', 'not in'])}")
            if term[1] in ("in", "not in") and isinstance(term[2], (str, bytes)) or \
                    term[1] in ("in", "not in") and not hasattr(term[2], "__iter__"):
                raise ValueError(f"where= {term[1]!r} needs a list of values, got {term[2]!r:.100}")
            col, op, want = term
            if col == "discipline" or col in SAMPLE_INDEX_SCHEMA.names and pa.types.is_string(SAMPLE_INDEX_SCHEMA.field(col).type):
                if not all(isinstance(w, str) for w in (want if op in ("in", "not in") else [want])):
                    # (a number never equals a string: == 3 on license silently matched nothing)
                    raise ValueError(f"where= compares the text column {col!r} with {want!r:.60}: not the same kind "
                                     "of value; give text")
    return dnf


def _term_holds(value, op: str, want) -> bool:
    if op in ("in", "not in"):
        return (value in set(want)) == (op == "in")
    try:
        return bool(OPS[op](value, want))
    except TypeError:  # a number against a string: no match, as Arrow's comparison would fail to cast
        raise ValueError(f"where= compares {value!r:.60} with {want!r:.60}: not the same kind of value") from None


def _shard_verdict(dnf, entry: dict) -> Optional[bool]:
    """From the shard's index entry alone: False (no sample can match), True (all do), None (read its sidecar)."""
    verdicts = []
    for conj in dnf:
        verdict = True
        for col, op, want in conj:
            if col == "discipline":
                if not _term_holds(entry["discipline"], op, want):
                    verdict = False
            elif col in SHARD_COUNTS and entry.get(SHARD_COUNTS[col]) is not None:
                key, want = (license_key, _canonical(col, op, want)) if col == "license" else (str, want)
                hits = sum(n for v, n in entry[SHARD_COUNTS[col]].items() if _term_holds(key(v), op, want))
                if hits == 0:
                    verdict = False
                elif hits < entry["num_samples"] and verdict:
                    verdict = None
            elif verdict:
                verdict = None
            if verdict is False:
                break
        if verdict is True:
            return True
        verdicts.append(verdict)
    return None if None in verdicts else False


def _mask(column, op: str, want, canon=None) -> np.ndarray:
    """Where one term holds on a sidecar column (a null never holds), computed in numpy: pyarrow's own
    conversions (``pa.scalar``, ``pa.array``, ``to_numpy``) import pandas on first use, ~0.15 s of CPU
    in every process that filters. ``canon``: applied to each distinct string before the comparison."""
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):  # not from Source, which reads strings as dictionaries
        column, t = column.dictionary_encode(), pa.dictionary(pa.int32(), t)
    if pa.types.is_dictionary(t):  # the term on each distinct value, then looked up by the row's index
        valid, parts, at = column_valid(column), [], 0
        for chunk in column_chunks(column):
            words = chunk.dictionary.to_pylist()
            if canon is not None:
                words = [canon(w) for w in words]
            lookup = np.array([w is not None and _term_holds(w, op, want) for w in words] + [False], dtype=bool)
            kind, width = "u" if pa.types.is_unsigned_integer(chunk.indices.type) else "i", chunk.indices.type.bit_width // 8
            idx = np.frombuffer(chunk.indices.buffers()[1], dtype=f"<{kind}{width}", count=len(chunk), offset=width * chunk.offset)
            parts.append(lookup[np.where(valid[at:at + len(chunk)], idx, len(words))])  # a null's index is arbitrary
            at += len(chunk)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    try:
        values = column_values(column)
    except ValueError:
        raise ValueError(f"where= cannot filter a column of type {t}") from None
    wants = list(want) if op in ("in", "not in") else [want]
    if any(isinstance(w, (str, bytes)) or w is None for w in wants):
        raise ValueError(f"where= compares a column of {t} with {want!r:.60}: give numbers")
    hit = np.isin(values, wants) == (op == "in") if op in ("in", "not in") else OPS[op](values, want)
    return hit & column_valid(column)


def _floats(column) -> np.ndarray:
    """A float sidecar column as float64, a null as NaN."""
    return np.where(column_valid(column), column_values(column).astype("float64"), np.nan)


def where_mask(dnf, table: pa.Table, discipline: str, url: str) -> np.ndarray:
    """The rows of a sidecar that satisfy ``where=`` (a null never does)."""
    out = np.zeros(table.num_rows, dtype=bool)
    for conj in dnf:
        mask = np.ones(table.num_rows, dtype=bool)
        for col, op, want in conj:
            if col == "discipline":
                mask &= _term_holds(discipline, op, want)
                continue
            if col not in table.column_names:
                has = ", ".join(c for c in table.column_names if c not in ("offset", "size", "row_group"))
                if col in SAMPLE_INDEX_SCHEMA.names:
                    raise ValueError(f"where= column {col!r} is not in the sample index of {url} (it has: {has}, "
                                     f"discipline); an index written before it existed gains it with `s1mmalign reindex DATASET`")
                raise ValueError(f"where= column {col!r} is no column of the sample index; filter on one of: {has}, discipline")
            mask &= _mask(table[col], op, _canonical(col, op, want), license_key if col == "license" else None)
        out |= mask
    return out


@dataclass
class ShardPick:
    """One shard and the samples of it that the stream reads."""

    path: str
    format: str  # "wds" | "parquet"
    discipline: str
    num_samples: int  # in the shard
    bytes: int
    sample_index: Optional[str]  # sidecar path (None when the index was built by reading)
    count: int  # selected samples
    rows: Optional[np.ndarray] = None  # positions of the selected samples; None = all of them
    offsets: Optional[np.ndarray] = None  # byte offset of each selected sample (tar) or of its image (parquet)
    sizes: Optional[np.ndarray] = None  # byte size of the same
    row_groups: list[int] = field(default_factory=list)  # parquet: rows per row group
    src: int = 0  # which source of a mix

    def positions(self, lo: int, hi: int) -> np.ndarray:
        """Shard positions of selected samples ``lo..hi-1``."""
        return np.arange(lo, hi) if self.rows is None else self.rows[lo:hi]


@dataclass
class Selection:
    picks: list[ShardPick]
    format: str
    by_discipline: dict[str, int]

    @property
    def total(self) -> int:
        return sum(p.count for p in self.picks)

    @property
    def bytes(self) -> int:
        """Upper bound of the bytes a full pass reads (whole row groups / exact tar ranges)."""
        out = 0
        for p in self.picks:
            if p.rows is None:
                out += p.bytes
            elif p.sizes is not None and p.format == "wds":
                out += int(p.sizes.sum())
            else:
                out += int(p.bytes * p.count / max(p.num_samples, 1))
        return out


def _as_set(name: str, values, valid: Optional[Iterable[str]] = None) -> Optional[set[str]]:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    values = set(values)
    if not values:
        raise ValueError(f"{name}= is empty; pass None to keep all")
    if valid is not None:
        bad = sorted(values - set(valid))
        if bad:
            raise ValueError(f"unknown {name} {', '.join(map(repr, bad))}; valid: {', '.join(valid)}")
    return values


def choose_format(index: dict, format: str) -> str:
    have = {s["format"] for s in index["shards"]}
    if format == "auto":
        # Tar: whole samples in one contiguous byte range (exact pruning, cheap sequential reads).
        return "wds" if "wds" in have else "parquet"
    if format in ("tar", "webdataset"):
        format = "wds"
    if format not in ("wds", "parquet"):
        raise ValueError(f"format must be 'auto', 'wds' (tar) or 'parquet', got {format!r}")
    if format not in have:
        raise ValueError(f"the dataset has no {format} shards (it has: {', '.join(sorted(have)) or 'none'})")
    return format


def score_column(caption: str) -> str:
    return "clip_score_caption" if caption == "caption" else "clip_score_recaption"


def select(
    source,
    *,
    format: str = "auto",
    disciplines=None,
    modalities=None,
    sources=None,
    licenses=None,
    min_clip_score: Optional[float] = None,
    caption: str = "recaption",
    where=None,
    filter_fn=None,
    src: int = 0,
) -> Selection:
    """The shards and samples matching the filters (see the module docstring).

    ``min_clip_score`` applies to the score of the caption trained on: the original
    caption's for ``caption="caption"``, else the recaption's (the caption's when a sample
    has no recaption); samples without a score do not pass. ``where``: see :func:`normalize_where`,
    decided per shard from the index where it can be, else per sample from the sidecars;
    ``filter_fn(row) -> bool`` gets each candidate's sidecar row (a dict, with ``discipline``).
    """
    dnf = normalize_where(where)
    if min_clip_score is not None:  # (before: "0.3" compared as a float, NaN matched nothing silently)
        given = min_clip_score
        try:
            min_clip_score = float(min_clip_score)
        except (TypeError, ValueError):
            min_clip_score = float("nan")
        if min_clip_score != min_clip_score or isinstance(given, bool):
            raise ValueError(f"min_clip_score must be a number (a CLIP score, e.g. 0.25), got {given!r}")
    index = source.index
    if not index["shards"]:  # (before: 'no sample matches {} ... Loosen the filters', with no filter given)
        raise ValueError(f"{source.url} is an empty dataset: its index/shards.json lists no shard")
    fmt = choose_format(index, format)
    want_d = _as_set("discipline", disciplines, contract.DISCIPLINES)
    want_m = _as_set("modality", modalities, contract.MODALITIES)
    want_s = _as_set("source", sources)
    want_l = _as_set("license", licenses)
    want_l = None if want_l is None else {license_key(v) for v in want_l}
    shards = [s for s in index["shards"] if s["format"] == fmt]

    candidates, partial = [], []
    scored = False  # whether any candidate has the score min_clip_score compares (for the error below)
    for s in shards:
        if want_d is not None and s["discipline"] not in want_d:
            continue
        verdict = True if dnf is None else _shard_verdict(dnf, s)
        if verdict is False:
            continue
        full = verdict is True and filter_fn is None
        for want, counts, key in ((want_m, s.get("modalities"), str), (want_s, s.get("sources"), str),
                                  (want_l, s.get("licenses"), license_key)):
            if want is None:
                continue
            hit = sum(n for v, n in (counts or {}).items() if key(v) in want)
            if hit == 0:
                break
            full &= hit == s["num_samples"]
        else:
            pick = ShardPick(
                path=s["path"], format=fmt, discipline=s["discipline"], num_samples=s["num_samples"],
                bytes=s["bytes"], sample_index=s.get("sample_index"), count=s["num_samples"],
                row_groups=[g["num_rows"] for g in s.get("row_groups") or []], src=src,
            )
            candidates.append(pick)
            if not full or min_clip_score is not None:
                partial.append((pick, s))

    tables = source.sidecars([s for _, s in partial])
    for (pick, entry), table in zip(partial, tables):
        mask = np.ones(table.num_rows, dtype=bool)
        if dnf is not None:
            mask &= where_mask(dnf, table, entry["discipline"], source.url)
        if filter_fn is not None:
            rows = table.drop_columns([c for c in ("offset", "size", "row_group") if c in table.column_names])
            for i, row in enumerate(rows.to_pylist()):
                mask[i] = mask[i] and bool(filter_fn({**row, "discipline": entry["discipline"]}))
        for want, col in ((want_m, "modality"), (want_s, "source"), (want_l, "license")):
            if want is not None:
                mask &= _mask(table[col], "in", list(want), license_key if col == "license" else None)
        if min_clip_score is not None:
            vals = _floats(table[score_column(caption)])
            if caption != "caption":  # no recaption score: the caption's
                vals = np.where(np.isnan(vals), _floats(table["clip_score_caption"]), vals)
            scored = scored or not np.isnan(vals).all()
            mask &= np.nan_to_num(vals, nan=-np.inf) >= float(min_clip_score)
        rows = np.flatnonzero(mask)
        pick.count = len(rows)
        if pick.count < pick.num_samples:
            pick.rows = rows
        if fmt == "wds":
            pick.offsets = int64_values(table["offset"])[rows]
            pick.sizes = int64_values(table["size"])[rows]
        elif pick.rows is not None and (ranges := image_ranges(table)) is not None:
            pick.offsets, pick.sizes = ranges[0][rows], ranges[1][rows]
    picks = [p for p in candidates if p.count > 0]
    by_d: dict[str, int] = {}
    for p in picks:
        by_d[p.discipline] = by_d.get(p.discipline, 0) + p.count
    if not picks:
        have = index.get("counts") or {}
        summary = "; ".join(f"{d}: {sum(m.values())} ({', '.join(f'{k} {v}' for k, v in m.items())})" for d, m in have.items())
        asked = {k: v for k, v in (("disciplines", want_d), ("modalities", want_m), ("sources", want_s),
                                   ("licenses", want_l), ("min_clip_score", min_clip_score), ("where", where),
                                   ("filter_fn", filter_fn)) if v is not None}
        present, named = "", {c for conj in dnf or [] for c, _, _ in conj}
        for want, field, col in ((want_s, "sources", "source"), (want_l, "licenses", "license")):
            if want is not None or col in named:
                values = sorted({v for sh in shards for v in (sh.get(field) or {})})
                present += f" {field.capitalize()} present: {', '.join(values[:20]) or 'none'}."
        if min_clip_score is not None and partial and not scored:
            present += (f" No sample has a CLIP score: score the dataset (`s1mmalign evaluate {source.url}`) and join"
                        f" eval/scores.parquet into its index (`s1mmalign reindex {source.url}`).")
        raise ValueError(
            f"no sample of {source.url} matches {asked} in the {fmt} shards. The dataset holds: "
            f"{summary or f'{len(shards)} shards'}.{present} Loosen the filters."
        )
    return Selection(picks, fmt, dict(sorted(by_d.items())))


def merge_selections(parts: list[Selection]) -> Selection:
    """One selection over several sources (picks keep their ``src``)."""
    picks = [p for part in parts for p in part.picks]
    by_d: dict[str, int] = {}
    for p in picks:
        by_d[p.discipline] = by_d.get(p.discipline, 0) + p.count
    formats = sorted({part.format for part in parts})
    return Selection(picks, formats[0] if len(formats) == 1 else "+".join(formats), dict(sorted(by_d.items())))


TEXT_FIELDS = ("caption", "recaption")  # what ``text`` (the caption=choice) is made from


def check_columns(columns) -> Optional[frozenset]:
    """``columns=``: the contract fields a sample carries (``key`` always; None: all)."""
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    bad = sorted(set(columns) - set(contract.FIELD_NAMES))
    if bad:
        raise ValueError(f"unknown columns {bad}; valid: {', '.join(contract.FIELD_NAMES)}")
    return frozenset(columns) | {"key"}
