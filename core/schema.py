"""The record schema (pyarrow, and ``datasets`` features on request), keys and record validation.

Standard library and pyarrow only, so that the loaders can import it without ``datasets``
(:func:`features_dict` describes the ``datasets`` features as plain data).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Mapping, Optional

import pyarrow as pa

from s1mmalign.core.licenses import license_key
from s1mmalign.core.limits import DEFAULTS
from s1mmalign.core.taxonomy import DISCIPLINES, MODALITIES
from s1mmalign.core.years import plausible as plausible_year

CONTRACT_VERSION = "1.0"

IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

#: (name, pyarrow type, nullable, description). The order is the column order.
FIELDS: tuple[tuple[str, pa.DataType, bool, str], ...] = (
    ("key", pa.string(), False, "stable unique id, no dots (webdataset splits member names at the first dot)"),
    ("image", IMAGE_STRUCT, False, "PNG or JPEG bytes (+ original file name)"),
    ("caption", pa.string(), False, "the original caption, as in the paper"),
    ("recaption", pa.string(), True, "the enriched caption (Qwen-VL or the extractive `context` method)"),
    ("title", pa.string(), False, "paper title"),
    ("abstract", pa.string(), False, "paper abstract"),
    ("citation_contexts", pa.list_(pa.string()), False, "sentences of the paper that cite the figure"),
    ("citation_count", pa.int32(), True, "how many sentences of the paper cite the figure (before de-duplication and capping)"),
    ("paper_id", pa.string(), False, "arXiv id or DOI"),
    ("year", pa.int32(), True, "publication year of the paper (its source's date, else its arXiv id or dated bioRxiv DOI)"),
    ("figure_label", pa.string(), False, "figure label in the paper (e.g. 'fig:setup' or 'Figure 3')"),
    ("source", pa.string(), False, "arxiv, biorxiv, medrxiv, chemrxiv, psyarxiv, nature_communications, pmc, ..."),
    ("categories", pa.list_(pa.string()), False, "source tags, primary first"),
    ("discipline", pa.string(), False, "one of DISCIPLINES"),
    ("modality", pa.string(), False, "one of MODALITIES"),
    ("modality_method", pa.string(), True, "what labelled the modality (e.g. 'caption-rules', 'clip:<model>')"),
    ("multi_panel", pa.bool_(), True, "figure made of several panels"),
    ("license", pa.string(), False, "license of the paper: its SPDX id in lower case ('cc-by-nc-4.0') when the "
                                    "source's string names one exactly, else that string; '' when unknown"),
    ("width", pa.int32(), False, "image width in pixels"),
    ("height", pa.int32(), False, "image height in pixels"),
    ("image_sha256", pa.string(), False, "sha256 of the stored image bytes"),
    ("image_path", pa.string(), True, "provenance: the image's path in its source (release image_path, file in the paper)"),
    ("clip_score_caption", pa.float32(), True, "CLIP score (Hessel et al. 2021, 2.5*max(cos,0)) of the caption"),
    ("clip_score_recaption", pa.float32(), True, "CLIP score of the recaption"),
    ("pseudo_ppl_caption", pa.float32(), True, "masked-LM pseudo-perplexity of the caption"),
    ("pseudo_ppl_recaption", pa.float32(), True, "masked-LM pseudo-perplexity of the recaption"),
    ("recaption_model", pa.string(), True, "backend:model@revision/prompt-version of the recaption"),
    ("recaption_info", pa.string(), True, "JSON: generation settings, or the error of a failed recaption"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f[0] for f in FIELDS)
REQUIRED_FIELDS: tuple[str, ...] = tuple(f[0] for f in FIELDS if not f[2])

SCHEMA: pa.Schema = pa.schema([pa.field(n, t, nullable=nl) for n, t, nl, _ in FIELDS])

#: Metadata columns (everything but the image): what ``<key>.json`` in a tar holds.
METADATA_FIELDS: tuple[str, ...] = tuple(n for n in FIELD_NAMES if n != "image")


def features_dict() -> dict[str, Any]:
    """The schema as ``datasets.Features.to_dict()`` gives it, without importing ``datasets``:
    the image column is ``Image()``, lists are ``List(Value)``. ``datasets.Features.from_dict``
    turns it into features; Parquet files carry it in their ``huggingface`` metadata."""

    def feat(t: pa.DataType) -> dict:
        if t == IMAGE_STRUCT:
            return {"_type": "Image"}
        if pa.types.is_list(t):
            return {"feature": feat(t.value_type), "_type": "List"}
        return {"dtype": {"int32": "int32", "float": "float32", "bool": "bool"}.get(str(t), str(t)), "_type": "Value"}

    return {n: feat(t) for n, t, _, _ in FIELDS}


KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}\Z")  # \Z: "$" would let a trailing newline through
KEY_RULE = "must be 1-200 characters of [A-Za-z0-9_-] (no dots)"


def is_valid_key(key: Any) -> bool:
    """The one key check: every path derived from a key (``images/<key>.png``, tar members) relies on it."""
    return isinstance(key, str) and KEY_RE.match(key) is not None


def key_digest(key: str) -> bytes:
    """8 bytes that stand for a key in a set of keys already written (a writer's duplicate check)."""
    return hashlib.blake2b(key.encode(), digest_size=8).digest()


def make_key(*parts: Any) -> str:
    """A stable key from identifying parts (source, paper id, figure), with no dots.

    Readable (the parts with every other character folded to ``_``) and unique: an 8-hex
    digest of the exact parts follows, so ``2101.00123`` and ``2101_00123`` never collide.
    """
    raw = "\x1f".join(str(p) for p in parts)
    readable = "_".join(re.sub(r"[^A-Za-z0-9-]+", "_", str(p)).strip("_") for p in parts)[:80].strip("_")
    digest = hashlib.blake2b(raw.encode("utf-8"), digest_size=4).hexdigest()
    return f"{readable}_{digest}" if readable else digest


def training_text(record: Mapping[str, Any]) -> str:
    """The caption a trainer reads: the recaption when present, else the original caption."""
    rec = record.get("recaption")
    return rec if isinstance(rec, str) and rec.strip() else (record.get("caption") or "")


class RecordError(ValueError):
    """A record that breaks the contract. ``key``, ``field`` and ``reason`` say where and why."""

    def __init__(self, key: Optional[str], field: str, reason: str):
        self.key, self.field, self.reason = key, field, reason
        super().__init__(f"record {key!r}: field {field!r}: {reason}")


_PY_TYPES = {
    "string": (str,),
    "int32": (int,),
    "float": (int, float),
    "bool": (bool,),
}


def _field_checks() -> list[tuple[str, str, tuple, bool]]:
    """(name, kind, python types, nullable) per field, worked out once (validation is per record)."""
    out = []
    for name, typ, nullable, _ in FIELDS:
        kind = "image" if name == "image" else "list" if pa.types.is_list(typ) else str(typ)
        out.append((name, kind, _PY_TYPES.get(kind, ()), nullable))
    return out


_FIELD_CHECKS = _field_checks()
_FIELD_SET = frozenset(FIELD_NAMES)
_SOURCE_RE = re.compile(r"[a-z0-9_]+")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


def _check_unicode(key: Optional[str], name: str, value: str) -> None:
    """A lone surrogate (from a ``\\ud800`` JSON escape) cannot be stored as UTF-8."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise RecordError(key, name, f"not valid Unicode text: {value[e.start]!r} at {e.start}") from None


def validate_record(record: Mapping[str, Any], *, max_text_chars: int = DEFAULTS.caption_chars) -> dict[str, Any]:
    """Check one record against the contract and return it with every field present.

    Raises :class:`RecordError` naming the record's key and the first bad field. Missing
    nullable fields become ``None``; unknown fields are an error (a typo would be lost). Integers
    must fit int32, floats be finite, every string (and every list's strings together) at most
    ``max_text_chars`` long.
    The image is checked for presence and type only (bytes, or {bytes, path}); decoding is
    the image normaliser's job.
    """
    if not isinstance(record, Mapping):
        raise RecordError(None, "<record>", f"expected a mapping, got {type(record).__name__}")
    key = record.get("key")
    key_repr = key if isinstance(key, str) else None
    unknown = set(record) - _FIELD_SET
    if unknown:
        raise RecordError(key_repr, sorted(unknown)[0], f"unknown field (known: {', '.join(FIELD_NAMES)})")
    out: dict[str, Any] = {}
    for name, kind, pytypes, nullable in _FIELD_CHECKS:
        value = record.get(name)
        if value is None:
            if not nullable:
                raise RecordError(key_repr, name, "missing (required)")
            out[name] = None
            continue
        if kind == "image":
            if isinstance(value, (bytes, bytearray)):
                value = {"bytes": bytes(value), "path": None}
            if not (isinstance(value, Mapping) and isinstance(value.get("bytes"), (bytes, bytearray))):
                raise RecordError(key_repr, name, "expected image bytes or {'bytes': ..., 'path': ...}")
            if not value["bytes"]:
                raise RecordError(key_repr, name, "empty image bytes")
            out[name] = {"bytes": bytes(value["bytes"]), "path": value.get("path")}
            continue
        if kind == "list":
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise RecordError(key_repr, name, f"expected a list of strings, got {value!r:.80}")
            chars = sum(map(len, value))
            if chars > max_text_chars:
                raise RecordError(key_repr, name, f"too large: {chars} characters > limit {max_text_chars}")
            for v in value:
                _check_unicode(key_repr, name, v)
            out[name] = list(value)
            continue
        if isinstance(value, bool) and kind != "bool" or not isinstance(value, pytypes):
            raise RecordError(key_repr, name, f"expected {kind}, got {type(value).__name__} {value!r:.80}")
        if kind == "float":
            try:
                value = float(value)
            except OverflowError:
                value = math.inf
            if not math.isfinite(value):
                raise RecordError(key_repr, name, f"not a finite number: {value!r:.40}")
        elif kind == "int32" and not _INT32_MIN <= value <= _INT32_MAX:
            raise RecordError(key_repr, name, f"out of range for int32: {value!r:.40}")
        elif kind == "string":
            if len(value) > max_text_chars:  # every string: a 10 MB license or href would be copied into each figure's record
                raise RecordError(key_repr, name, f"too large: {len(value)} characters > limit {max_text_chars}")
            _check_unicode(key_repr, name, value)
        out[name] = value
    if not is_valid_key(out["key"]):
        raise RecordError(key_repr, "key", KEY_RULE)
    # one spelling per license, so that a plain filter (HF ``filters=``, a query on the Parquet files)
    # drops "CC BY-NC 4.0" and ".../licenses/by-nc/4.0/" with "cc-by-nc-4.0" (the release's spelling)
    out["license"] = license_key(out["license"])
    if out["discipline"] not in DISCIPLINES:
        raise RecordError(key_repr, "discipline", f"unknown discipline {out['discipline']!r}; valid: {', '.join(DISCIPLINES)}")
    if out["modality"] not in MODALITIES:
        raise RecordError(key_repr, "modality", f"unknown modality {out['modality']!r}; valid: {', '.join(MODALITIES)}")
    if not _SOURCE_RE.fullmatch(out["source"]):
        raise RecordError(key_repr, "source", f"must be a lower-case identifier, got {out['source']!r}")
    if not training_text(out).strip():
        raise RecordError(key_repr, "caption", "empty: neither caption nor recaption has text")
    if out["year"] is not None and not plausible_year(out["year"]):
        raise RecordError(key_repr, "year", f"not a publication year (1600-2100): {out['year']}")
    for dim in ("width", "height"):
        if out[dim] <= 0:
            raise RecordError(key_repr, dim, f"must be positive, got {out[dim]}")
    if not _SHA256_RE.fullmatch(out["image_sha256"]):
        raise RecordError(key_repr, "image_sha256", "must be 64 lower-case hex digits")
    return out


_METADATA_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False)  # json.dumps' output, made once


def metadata_json(record: Mapping[str, Any]) -> bytes:
    """The ``<key>.json`` member of a tar: every field but the image, UTF-8 JSON."""
    return _METADATA_ENCODER.encode({n: record.get(n) for n in METADATA_FIELDS}).encode("utf-8")

