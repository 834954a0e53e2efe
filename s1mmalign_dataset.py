"""The S1-MMAlign dataset contract, shared by the builder and the loaders.

One self-contained module (``datasets``, ``pyarrow`` and the standard library only):

* the record schema, as :data:`SCHEMA` (pyarrow) and :data:`FEATURES` (``datasets``);
* the discipline taxonomy and :func:`discipline_for_tags`, mapping every source tag
  (arXiv archives and categories, bioRxiv / medRxiv / ChemRxiv subject areas, journal
  subjects) to one primary discipline;
* the figure-modality taxonomy;
* :func:`make_key` (stable keys without dots) and :func:`validate_record`;
* :class:`S1MMAlign`, a ``datasets.ArrowBasedBuilder`` over this project's Parquet shards
  (configs ``all``, one per discipline, one per modality), with predicate pushdown.

``load_dataset`` in datasets >= 4 refuses loading scripts, so on the Hub a dataset folder is
served by its Parquet files and the ``configs:`` block of its README; the builder class here is
for direct use: ``S1MMAlign(config_name="physics", data_dir=OUT).as_streaming_dataset()``.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

CONTRACT_VERSION = "1.0"

# --------------------------------------------------------------------------------------
# Taxonomies
# --------------------------------------------------------------------------------------

DISCIPLINES: tuple[str, ...] = (
    "mathematics",
    "physics",
    "chemistry",
    "biology",
    "astronomy",
    "earth_science",
    "medicine",
    "engineering",
    "computer_science",
    "other",
)

MODALITIES: tuple[str, ...] = (
    "plot",
    "heatmap",
    "diagram",
    "microscopy",
    "photograph",
    "medical_image",
    "molecular_structure",
    "map",
    "astronomical_image",
    "other",
)

#: Sources seen in the published release and in this project's readers. A record's
#: ``source`` must be a lower-case identifier; it need not be in this list.
SOURCES: tuple[str, ...] = (
    "arxiv",
    "biorxiv",
    "medrxiv",
    "chemrxiv",
    "psyarxiv",
    "nature_communications",
    "pmc",
)

# arXiv: every archive, and the categories whose discipline differs from their archive's.
# Legacy archives (before the 2000s reorganisation) are listed too.
_ARXIV_ARCHIVES: dict[str, str] = {
    "astro-ph": "astronomy",
    "cond-mat": "physics",
    "gr-qc": "physics",
    "hep-ex": "physics",
    "hep-lat": "physics",
    "hep-ph": "physics",
    "hep-th": "physics",
    "math-ph": "physics",
    "nlin": "physics",
    "nucl-ex": "physics",
    "nucl-th": "physics",
    "physics": "physics",
    "quant-ph": "physics",
    "math": "mathematics",
    "cs": "computer_science",
    "q-bio": "biology",
    "q-fin": "other",
    "stat": "mathematics",
    "eess": "engineering",
    "econ": "other",
    # legacy archives
    "acc-phys": "physics",
    "adap-org": "physics",
    "alg-geom": "mathematics",
    "ao-sci": "earth_science",
    "atom-ph": "physics",
    "bayes-an": "mathematics",
    "chao-dyn": "physics",
    "chem-ph": "chemistry",
    "cmp-lg": "computer_science",
    "comp-gas": "physics",
    "dg-ga": "mathematics",
    "funct-an": "mathematics",
    "mtrl-th": "physics",
    "patt-sol": "physics",
    "plasm-ph": "physics",
    "q-alg": "mathematics",
    "solv-int": "physics",
    "supr-con": "physics",
}

_ARXIV_CATEGORIES: dict[str, tuple[str, ...]] = {
    "astro-ph": ("CO", "EP", "GA", "HE", "IM", "SR"),
    "cond-mat": ("dis-nn", "mes-hall", "mtrl-sci", "other", "quant-gas", "soft", "stat-mech", "str-el", "supr-con"),
    "nlin": ("AO", "CD", "CG", "PS", "SI"),
    "physics": (
        "acc-ph", "ao-ph", "app-ph", "atm-clus", "atom-ph", "bio-ph", "chem-ph", "class-ph", "comp-ph",
        "data-an", "ed-ph", "flu-dyn", "gen-ph", "geo-ph", "hist-ph", "ins-det", "med-ph", "optics",
        "plasm-ph", "pop-ph", "soc-ph", "space-ph",
    ),
    "math": (
        "AC", "AG", "AP", "AT", "CA", "CO", "CT", "CV", "DG", "DS", "FA", "GM", "GN", "GR", "GT", "HO",
        "IT", "KT", "LO", "MG", "MP", "NA", "NT", "OA", "OC", "PR", "QA", "RA", "RT", "SG", "SP", "ST",
    ),
    "cs": (
        "AI", "AR", "CC", "CE", "CG", "CL", "CR", "CV", "CY", "DB", "DC", "DL", "DM", "DS", "ET", "FL",
        "GL", "GR", "GT", "HC", "IR", "IT", "LG", "LO", "MA", "MM", "MS", "NA", "NE", "NI", "OH", "OS",
        "PF", "PL", "RO", "SC", "SD", "SE", "SI", "SY",
    ),
    "q-bio": ("BM", "CB", "GN", "MN", "NC", "OT", "PE", "QM", "SC", "TO"),
    "q-fin": ("CP", "EC", "GN", "MF", "PM", "PR", "RM", "ST", "TR"),
    "stat": ("AP", "CO", "ME", "ML", "OT", "TH"),
    "eess": ("AS", "IV", "SP", "SY"),
    "econ": ("EM", "GN", "TH"),
}

# Categories whose discipline is not their archive's. Aliases map alike (math.MP = math-ph,
# math.IT = cs.IT, math.NA = cs.NA, cs.SY = eess.SY, math.ST = stat.TH, q-fin.EC = econ.GN).
_ARXIV_EXCEPTIONS: dict[str, str] = {
    "physics.ao-ph": "earth_science",
    "physics.geo-ph": "earth_science",
    "physics.chem-ph": "chemistry",
    "physics.atm-clus": "chemistry",
    "physics.med-ph": "medicine",
    "physics.space-ph": "astronomy",
    "math.MP": "physics",
    "math.IT": "computer_science",
    "cs.NA": "mathematics",
    "cs.SY": "engineering",
    "stat.ML": "computer_science",
    "q-bio.QM": "biology",
}

ARXIV_CATEGORY_DISCIPLINE: dict[str, str] = {
    **{archive: d for archive, d in _ARXIV_ARCHIVES.items()},
    **{f"{a}.{c}": _ARXIV_ARCHIVES[a] for a, cats in _ARXIV_CATEGORIES.items() for c in cats},
    **_ARXIV_EXCEPTIONS,
}

# Subject areas of the preprint servers and common journal subjects, lower-cased.
_SUBJECTS: dict[str, tuple[str, ...]] = {
    "biology": (
        # bioRxiv
        "animal behavior and cognition", "biochemistry", "bioengineering", "bioinformatics", "biophysics",
        "cancer biology", "cell biology", "developmental biology", "ecology", "evolutionary biology",
        "genetics", "genomics", "immunology", "microbiology", "molecular biology", "neuroscience",
        "paleontology", "physiology", "plant biology", "synthetic biology", "systems biology", "zoology",
        # journals
        "biological sciences", "life sciences", "structural biology", "computational biology and bioinformatics",
        "biotechnology", "molecular biology and genetics", "ecology and evolution", "plant sciences",
        "evolution", "cell biology and development", "neurobiology", "virology", "botany",
    ),
    "medicine": (
        # bioRxiv's clinical areas
        "clinical trials", "epidemiology", "pathology", "pharmacology and toxicology",
        # medRxiv
        "addiction medicine", "allergy and immunology", "anesthesia", "cardiovascular medicine",
        "dentistry and oral medicine", "dermatology", "emergency medicine", "endocrinology",
        "endocrinology (including diabetes mellitus and metabolic disease)", "forensic medicine",
        "gastroenterology", "genetic and genomic medicine", "geriatric medicine", "health economics",
        "health informatics", "health policy", "health systems and quality improvement", "hematology",
        "hiv/aids", "infectious diseases", "infectious diseases (except hiv/aids)",
        "intensive care and critical care medicine", "medical education", "medical ethics", "nephrology",
        "neurology", "nursing", "nutrition", "obstetrics and gynecology", "occupational and environmental health",
        "oncology", "ophthalmology", "orthopedics", "otolaryngology", "pain medicine", "palliative medicine",
        "pediatrics", "pharmacology and therapeutics", "primary care research",
        "psychiatry and clinical psychology", "public and global health", "radiology and imaging",
        "rehabilitation medicine and physical therapy", "respiratory medicine", "rheumatology",
        "sexual and reproductive health", "sports medicine", "surgery", "toxicology", "transplantation",
        "urology",
        # journals
        "health sciences", "medicine", "medical research", "diseases", "cancer", "cardiology",
        "clinical medicine", "public health",
    ),
    "chemistry": (
        # ChemRxiv
        "agriculture and food chemistry", "analytical chemistry", "biological and medicinal chemistry",
        "catalysis", "chemical education", "chemical engineering and industrial chemistry",
        "earth, space, and environmental chemistry", "energy", "inorganic chemistry", "materials science",
        "nanoscience", "organic chemistry", "organometallic chemistry", "physical chemistry", "polymer science",
        "theoretical and computational chemistry",
        # journals
        "chemistry", "chemical sciences", "materials chemistry", "nanotechnology", "electrochemistry",
    ),
    "physics": (
        "physical sciences", "physics", "optics and photonics", "condensed-matter physics",
        "condensed matter physics", "quantum physics", "applied physics", "nuclear physics",
        "particle physics", "plasma physics", "statistical physics", "quantum information",
    ),
    "astronomy": ("astronomy and astrophysics", "astronomy", "astrophysics", "planetary science", "space physics"),
    "earth_science": (
        "earth and environmental sciences", "earth sciences", "environmental sciences", "climate sciences",
        "geology", "geophysics", "ocean sciences", "atmospheric science", "hydrology", "natural hazards",
        "biogeochemistry", "environmental science",
    ),
    "mathematics": ("mathematics", "applied mathematics", "statistics", "mathematics and computing"),
    "computer_science": ("computer science", "computational science", "machine learning", "information technology"),
    "engineering": ("engineering", "electrical and electronic engineering", "mechanical engineering",
                    "energy science and technology", "civil engineering", "aerospace engineering"),
    "other": ("scientific communication and education", "psychology", "social sciences", "economics",
              "business and management", "humanities"),
}

SUBJECT_DISCIPLINE: dict[str, str] = {s: d for d, subjects in _SUBJECTS.items() for s in subjects}

# Fallback for free-text subjects: the first rule whose pattern matches wins (order matters:
# "medicinal chemistry" is chemistry, "biophysics" biology, "astroparticle" astronomy).
_KEYWORD_RULES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (d, re.compile(p))
    for d, p in (
        ("chemistry", r"chemi|catal|polymer|\bmolecul(ar|e) (synthesis|chemistry)"),
        ("astronomy", r"astro|cosmolog|galax|stellar|planetary|exoplanet"),
        ("earth_science", r"\bgeo|climat|ocean|atmospher|earth|environment|hydrolog|seismo|volcan|glaci"),
        ("medicine", r"medic|clinic|health|disease|cancer|oncolog|surg|patholog|pharmac|nurs|epidemiol|"
                     r"cardio|neurolog|psychiat|pediatr|radiol|therap"),
        ("biology", r"\bbio|genet|genom|\bcell|neuro|ecolog|evolut|immun|microb|zoolog|botan|plant|protein"),
        ("physics", r"physic|quantum|optic|photon|condensed|particle|nuclear|plasma|laser"),
        ("mathematics", r"math|algebra|geometr|topolog|statistic|probabilit|combinator"),
        ("computer_science", r"comput|machine learning|artificial intelligence|software|algorithm|robot"),
        ("engineering", r"engineer|electr|mechanic|signal|control|materials"),
    )
)


def _discipline_of_tag(tag: str) -> Optional[str]:
    """The discipline of one source tag, or None when the tag names none."""
    t = tag.strip()
    if not t:
        return None
    if t in ARXIV_CATEGORY_DISCIPLINE:
        return ARXIV_CATEGORY_DISCIPLINE[t]
    archive = t.split(".", 1)[0]
    if "." in t and archive in _ARXIV_ARCHIVES:  # a category not listed yet, e.g. cs.XY
        return _ARXIV_ARCHIVES[archive]
    low = " ".join(t.lower().replace("_", " ").split())
    if low in SUBJECT_DISCIPLINE:
        return SUBJECT_DISCIPLINE[low]
    if low in DISCIPLINES:
        return low
    for discipline, pattern in _KEYWORD_RULES:
        if pattern.search(low):
            return discipline
    return None


def parse_categories(value: Any) -> list[str]:
    """Source tags from a space-separated string (arXiv), a ';'/',' list (journals) or a list."""
    if value is None:
        return []
    if isinstance(value, str):
        if ";" in value or ("," in value and not re.fullmatch(r"[\w.\- ]+", value)):
            parts = re.split(r"[;,]", value)
        elif re.fullmatch(r"[A-Za-z\-]+(\.[A-Za-z\-]+)?( [A-Za-z\-]+(\.[A-Za-z\-]+)?)*", value.strip()) and (
            any(p.split(".")[0] in _ARXIV_ARCHIVES for p in value.split())
        ):
            parts = value.split()
        else:
            parts = [value]
    elif isinstance(value, (list, tuple)):
        parts = [str(v) for v in value if v is not None]
    else:
        raise TypeError(f"categories must be a string or a list, not {type(value).__name__}")
    out: list[str] = []
    for p in parts:
        p = " ".join(p.split())
        if p and p not in out:
            out.append(p)
    return out


def discipline_for_tags(tags: Any, default: str = "other") -> str:
    """The primary discipline of a paper from its source tags, primary tag first.

    The first tag that names a discipline other than ``other`` decides; tags that name
    nothing are skipped. ``default`` is returned when no tag decides.
    """
    fallback = None
    for tag in parse_categories(tags):
        d = _discipline_of_tag(tag)
        if d is None:
            continue
        if d != "other":
            return d
        fallback = fallback or d
    return fallback or default


# --------------------------------------------------------------------------------------
# Record schema
# --------------------------------------------------------------------------------------

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
    ("figure_label", pa.string(), False, "figure label in the paper (e.g. 'fig:setup' or 'Figure 3')"),
    ("source", pa.string(), False, "arxiv, biorxiv, medrxiv, chemrxiv, psyarxiv, nature_communications, pmc, ..."),
    ("categories", pa.list_(pa.string()), False, "source tags, primary first"),
    ("discipline", pa.string(), False, "one of DISCIPLINES"),
    ("modality", pa.string(), False, "one of MODALITIES"),
    ("modality_method", pa.string(), True, "what labelled the modality (e.g. 'caption-rules', 'clip:<model>')"),
    ("multi_panel", pa.bool_(), True, "figure made of several panels"),
    ("license", pa.string(), False, "license of the paper (URL or SPDX id), '' when unknown"),
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


def _features() -> datasets.Features:
    def feat(t: pa.DataType):
        if t == IMAGE_STRUCT:
            return datasets.Image()
        if pa.types.is_list(t):
            return datasets.List(datasets.Value(str(t.value_type)))
        return datasets.Value({"int32": "int32", "float": "float32", "bool": "bool"}.get(str(t), str(t)))

    return datasets.Features({n: feat(t) for n, t, _, _ in FIELDS})


FEATURES: datasets.Features = _features()

# --------------------------------------------------------------------------------------
# Keys and validation
# --------------------------------------------------------------------------------------

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


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


def validate_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Check one record against the contract and return it with every field present.

    Raises :class:`RecordError` naming the record's key and the first bad field. Missing
    nullable fields become ``None``; unknown fields are an error (a typo would be lost).
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
            out[name] = list(value)
            continue
        if isinstance(value, bool) and kind != "bool" or not isinstance(value, pytypes):
            raise RecordError(key_repr, name, f"expected {kind}, got {type(value).__name__} {value!r:.80}")
        if kind == "float":
            value = float(value)
            if not math.isfinite(value):
                raise RecordError(key_repr, name, f"not a finite number: {value}")
        out[name] = value
    if not KEY_RE.match(out["key"]):
        raise RecordError(key_repr, "key", "must be 1-200 characters of [A-Za-z0-9_-] (no dots)")
    if out["discipline"] not in DISCIPLINES:
        raise RecordError(key_repr, "discipline", f"unknown discipline {out['discipline']!r}; valid: {', '.join(DISCIPLINES)}")
    if out["modality"] not in MODALITIES:
        raise RecordError(key_repr, "modality", f"unknown modality {out['modality']!r}; valid: {', '.join(MODALITIES)}")
    if not _SOURCE_RE.fullmatch(out["source"]):
        raise RecordError(key_repr, "source", f"must be a lower-case identifier, got {out['source']!r}")
    if not training_text(out).strip():
        raise RecordError(key_repr, "caption", "empty: neither caption nor recaption has text")
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


# --------------------------------------------------------------------------------------
# Dataset folder layout (shared by writers, card, builder and loaders)
# --------------------------------------------------------------------------------------

PARQUET_DIR = "data"
WDS_DIR = "wds"
INDEX_DIR = "index"
SHARD_INDEX_FILE = "index/shards.json"
SIZES_FILE = "sizes.json"


def parquet_glob(discipline: str = "*") -> str:
    return f"{PARQUET_DIR}/{discipline}/train-*.parquet"


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
        import fsspec

        fs, root = fsspec.core.url_to_fs(base)
        disciplines = self.config.disciplines or ["*"]
        files: list[str] = []
        for d in disciplines:
            files += sorted(fs.glob(posixpath.join(root, parquet_glob(d))))
        if not files:
            raise FileNotFoundError(
                f"no Parquet shards under {base!r} for {self.config.name!r} "
                f"(looked for {[parquet_glob(d) for d in disciplines]})"
            )
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        return [f if protocol == "file" else f"{protocol}://{f}" for f in files]

    def _is_release(self) -> bool:
        layout = self.config.layout
        if layout not in (None, "parquet", "release"):
            raise ValueError(f"layout must be 'parquet', 'release' or None, got {layout!r}")
        if layout is not None:
            return layout == "release"
        if self.config.data_files or not self.config.data_dir:
            return False
        from s1mmalign.builder.release import is_release_root

        return is_release_root(self.config.data_dir)

    def _split_generators(self, dl_manager):
        if self._is_release():
            # The published release: one generator shard per archive (jsonl partition + parts).
            from s1mmalign.builder.release import discover_units

            units = discover_units(self.config.data_dir, self.config.sources).units
            return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"units": units})]
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"files": self._data_files(dl_manager)})]

    def _generate_release_tables(self, units) -> Iterator[tuple[Any, pa.Table]]:
        from s1mmalign.builder.release import release_tables

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
        import fsspec

        # A Parquet fragment scanned with a filter skips row groups whose statistics cannot
        # match (rows are clustered by modality, so modality slices skip most row groups),
        # then filters the rows it reads exactly.
        expr = self._filter_expression()
        columns = list(self.config.columns) if self.config.columns else list(FIELD_NAMES)
        schema = pa.schema([SCHEMA.field(c) for c in columns])
        parquet_format = pads.ParquetFileFormat()
        key_cls = getattr(datasets.builder, "Key", None)
        for file_idx, path in enumerate(files):
            fs, fs_path = fsspec.core.url_to_fs(path)
            with fs.open(fs_path, "rb") as f:
                fragment = parquet_format.make_fragment(f)
                batches = fragment.to_batches(
                    columns=columns, filter=expr, batch_size=self.config.batch_size,
                    batch_readahead=0, fragment_readahead=0,
                )
                for batch_idx, batch in enumerate(batches):
                    if batch.num_rows:
                        key = key_cls(file_idx, batch_idx) if key_cls else f"{file_idx}_{batch_idx}"
                        yield key, pa.Table.from_batches([batch]).cast(schema)
