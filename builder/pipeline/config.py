"""The build config: one YAML or TOML file (or none) naming sources, stages and their options.

Everything is checked by :func:`load_config` / :func:`make_config` before any work starts:
an unknown key, a missing source path, an unknown stage, recaption backend or runner, and a
stage order that cannot work are each a :class:`ConfigError` saying what to change.

A complete file (every key optional except ``sources``; defaults shown)::

    sources: [papers/, more/sample.jsonl]   # folders/archives of papers, a release, or manifests
    out: out/                                # the dataset folder (a Hub dataset repo as it stands)
    work: null                               # resume state; default OUT/.build
    runner: local                            # local | ray
    unit_size: 200                           # papers per unit for manifest sources
    batch_size: 64                           # records per stage call
    stages: [ingest, filter, dedup, classify, recaption, score, write, card]
    ingest: {arxiv_metadata: null}
    filter: {}                               # FilterOptions fields (builder/stages/filters.py)
    dedup: {}                                # Deduplicator arguments (builder/stages/dedup.py)
    classify: {name: rules}                  # make_classifier(name, **rest)
    recaption: {backend: context}            # make_recaptioner(backend, **rest)
    score: {clip_model: null, ppl_model: null}   # + options both scorers take (device, batch_size)
    shards: {formats: [parquet, wds], parquet_shard_mb: 500, tar_shard_mb: 1000, row_group_mb: 32}
    ray: {address: null, num_cpus: null, object_store_mb: 512, pool_size: {}, num_gpus: {}, watchdog_s: 3600}

Default stages: every stage, except ``score`` when no scoring model is named and ``recaption``
when no backend is named.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

#: Every stage in the only order that works. ``filter`` and ``dedup`` may swap.
STAGE_ORDER: tuple[str, ...] = ("ingest", "filter", "dedup", "classify", "recaption", "score", "write", "card")
_RANK = {"ingest": 0, "filter": 1, "dedup": 1, "classify": 2, "recaption": 3, "score": 4, "write": 5, "manifest": 5, "card": 6}
_WHY = {
    "ingest": "every other stage reads the records ingest produces",
    "filter": "filtering works on ingested records and must happen before models spend time on them",
    "dedup": "dedup works on ingested records and must happen before models spend time on them",
    "classify": "recaption and scoring read the modality",
    "recaption": "scoring scores the recaption",
    "score": "the scores are written into the shards",
    "write": "the card describes the written shards",
    "card": "the card is the last step",
    "manifest": "the manifest holds what the stages produced",
}
RUNNERS = ("local", "ray")

TOP_KEYS = {"sources", "out", "work", "runner", "unit_size", "batch_size", "stream", "stages", "shards", "ray", *STAGE_ORDER}
INGEST_KEYS = {"arxiv_metadata", "dpi", "sources", "disciplines", "limit"}
WRITE_KEYS = {"max_pixels", "image_check"}
SHARD_KEYS = {"formats": ["parquet", "wds"], "parquet_shard_mb": 500.0, "tar_shard_mb": 1000.0, "row_group_mb": 32.0}
RAY_KEYS = {"address": None, "num_cpus": None, "object_store_mb": 512, "pool_size": {}, "num_gpus": {}, "watchdog_s": 3600.0}


class ConfigError(ValueError):
    """A build config that cannot run; the message says what to change."""


@dataclass
class BuildConfig:
    sources: list[dict]  # [{"path": Path, "kind": "auto" | "manifest" | "papers" | "release"}]
    out: Path
    work: Path
    runner: str = "local"
    unit_size: int = 200
    batch_size: int = 64
    stream: bool = False  # all unit stages in one pass per unit, no intermediate state (convert)
    stages: list[str] = field(default_factory=lambda: list(STAGE_ORDER))
    options: dict[str, dict] = field(default_factory=dict)  # per stage
    shards: dict = field(default_factory=lambda: copy.deepcopy(SHARD_KEYS))
    ray: dict = field(default_factory=lambda: copy.deepcopy(RAY_KEYS))

    def stage_options(self, stage: str) -> dict:
        return dict(self.options.get(stage) or {})

    def fingerprint(self, stage: str) -> str:
        """A digest of what decides a stage's output: its own options (and the shard options
        for ``write``). Runners chain it with the upstream stage's, so a change invalidates
        that stage and the ones after it only."""
        own: Any = self.stage_options(stage)
        if stage == "write":
            own = {"shards": self.shards, **own}
        if stage == "ingest":
            own = {"unit_size": self.unit_size, **own}
        blob = json.dumps([stage, own], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_config_file(path: str | os.PathLike) -> dict:
    """A config file as a dict: ``.toml`` by tomllib, ``.yaml``/``.yml``/``.json`` by PyYAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
                import tomli as tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml", ".json"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"config file {path}: use .yaml, .yml or .toml")
    except ConfigError:
        raise
    except Exception as e:  # parse errors of either format
        raise ConfigError(f"config file {path} does not parse: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return data


def _check_keys(where: str, got: dict, allowed) -> None:
    unknown = sorted(set(got) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}")


def check_stage_order(stages: list[str]) -> None:
    """Raise :class:`ConfigError` unless ``stages`` is a workable order."""
    unknown = [s for s in stages if s not in _RANK]
    if unknown:
        raise ConfigError(f"stages: unknown stage(s) {unknown}; known: {list(STAGE_ORDER)}")
    dupes = sorted({s for s in stages if stages.count(s) > 1})
    if dupes:
        raise ConfigError(f"stages: {dupes} listed more than once")
    if "ingest" not in stages:
        raise ConfigError(f"stages: 'ingest' is required ({_WHY['ingest']})")
    ends = [s for s in ("write", "manifest") if s in stages]
    if not ends:
        raise ConfigError(f"stages: 'write' is required ({_WHY['write']}), or 'manifest' to write a manifest.jsonl instead of shards")
    if len(ends) > 1:
        raise ConfigError("stages: 'write' (shards) and 'manifest' (manifest.jsonl + images) are two ends; name one")
    if "manifest" in stages and "card" in stages:
        raise ConfigError("stages: 'card' describes written shards; it goes with 'write', not 'manifest'")
    for a, b in zip(stages, stages[1:]):
        if _RANK[a] > _RANK[b]:
            raise ConfigError(f"stages: {b!r} cannot run after {a!r}: {b} must come first because {_WHY[b]} "
                              f"(order: {' -> '.join(STAGE_ORDER)})")


def _source_entry(item: Any, base: Path) -> dict:
    if isinstance(item, (str, os.PathLike)):
        item = {"path": item}
    if not isinstance(item, dict) or "path" not in item:
        raise ConfigError(f"sources: each entry is a path or {{path: ..., kind: ...}}, got {item!r}")
    _check_keys("sources entry", item, {"path", "kind"})
    kind = item.get("kind", "auto")
    if kind not in ("auto", "manifest", "papers", "release"):
        raise ConfigError(f"sources: kind {kind!r} unknown; use auto, manifest, papers or release")
    if "://" in str(item["path"]):  # a remote release (hf://, s3://): checked when it is listed
        return {"path": str(item["path"]), "kind": kind}
    path = Path(os.path.expanduser(str(item["path"])))
    if not path.is_absolute():
        path = base / path
    if not path.exists():
        raise ConfigError(f"sources: {path} does not exist (paths in a config file are relative to the file)")
    return {"path": path, "kind": kind}


def _recaptioner_names() -> tuple[str, ...]:
    from s1mmalign.builder.stages.recaption import BACKENDS

    return BACKENDS


def make_config(data: dict, *, base: Optional[Path] = None) -> BuildConfig:
    """Validate a config dict (a parsed file merged with command-line values) into a BuildConfig."""
    base = base or Path.cwd()
    data = copy.deepcopy(data)
    _check_keys("config", data, TOP_KEYS)
    sources = data.get("sources") or []
    if isinstance(sources, (str, dict)):
        sources = [sources]
    if not sources:
        raise ConfigError("no sources: pass --source PATH or list `sources:` in the config")
    srcs = [_source_entry(s, base) for s in sources]
    if not data.get("out"):
        raise ConfigError("no output folder: pass --out OUT or set `out:` in the config")
    out = Path(os.path.expanduser(str(data["out"])))
    out = out if out.is_absolute() else base / out
    work = Path(data["work"]) if data.get("work") else out / ".build"
    work = work if work.is_absolute() else base / work

    runner = data.get("runner", "local")
    if runner not in RUNNERS:
        raise ConfigError(f"runner: {runner!r} unknown; use one of {RUNNERS}")
    for k in ("unit_size", "batch_size"):
        v = data.get(k, 200 if k == "unit_size" else 64)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{k}: expected a positive integer, got {v!r}")

    options: dict[str, dict] = {}
    for stage in STAGE_ORDER:
        opts = data.get(stage) or {}
        if not isinstance(opts, dict):
            raise ConfigError(f"{stage}: expected a mapping of options, got {opts!r}")
        options[stage] = opts
    _check_keys("ingest", options["ingest"], INGEST_KEYS)
    _check_keys("write", options["write"], WRITE_KEYS)
    disciplines = options["ingest"].get("disciplines")
    if disciplines is not None:
        from s1mmalign.core.taxonomy import DISCIPLINES

        if isinstance(disciplines, str) or not all(isinstance(d, str) for d in disciplines):
            raise ConfigError(f"ingest.disciplines: expected a list of names, got {disciplines!r}")
        bad = sorted(set(disciplines) - set(DISCIPLINES))
        if bad:
            raise ConfigError(f"unknown discipline(s) {bad}; valid: {', '.join(DISCIPLINES)}")
    limit = options["ingest"].get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ConfigError(f"--limit must be >= 0, got {limit!r}")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise ConfigError(f"stream: expected true or false, got {stream!r}")
    _check_keys("card", options["card"], {"repo_id"})

    stages = data.get("stages")
    if stages is None:
        stages = [s for s in STAGE_ORDER
                  if not (s == "score" and not (options["score"].get("clip_model") or options["score"].get("ppl_model")))
                  and not (s == "recaption" and not options["recaption"].get("backend"))]
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise ConfigError(f"stages: expected a list of stage names, got {stages!r}")
    check_stage_order(stages)

    if "recaption" in stages:
        backend = options["recaption"].get("backend")
        if not backend:
            raise ConfigError("recaption: no backend; set recaption.backend (or --recaptioner), "
                              f"one of {', '.join(_recaptioner_names())}")
        if backend not in _recaptioner_names():
            raise ConfigError(f"recaption: unknown backend {backend!r}; use one of {', '.join(_recaptioner_names())}")
    if "score" in stages and not (options["score"].get("clip_model") or options["score"].get("ppl_model")):
        raise ConfigError("score: name score.clip_model and/or score.ppl_model (a local folder or Hub id), "
                          "or leave 'score' out of stages")

    shards = {**copy.deepcopy(SHARD_KEYS), **(data.get("shards") or {})}
    _check_keys("shards", data.get("shards") or {}, SHARD_KEYS)
    if isinstance(shards["formats"], str):
        shards["formats"] = [f.strip() for f in shards["formats"].split(",") if f.strip()]
    ray = {**copy.deepcopy(RAY_KEYS), **(data.get("ray") or {})}
    _check_keys("ray", data.get("ray") or {}, RAY_KEYS)
    for k in ("pool_size", "num_gpus"):
        if not isinstance(ray[k], dict):
            raise ConfigError(f"ray.{k}: expected a mapping stage -> number, got {ray[k]!r}")
        _check_keys(f"ray.{k}", ray[k], STAGE_ORDER)

    cfg = BuildConfig(sources=srcs, out=out, work=work, runner=runner,
                      unit_size=data.get("unit_size", 200), batch_size=data.get("batch_size", 64), stream=stream,
                      stages=stages, options=options, shards=shards, ray=ray)
    try:
        shard_options(cfg, "x")
    except (TypeError, ValueError) as e:
        raise ConfigError(f"shards: {e}") from None
    return cfg


def shard_options(cfg: BuildConfig, unit_id: str):
    """The ShardOptions of one unit's shards."""
    from s1mmalign.builder.shards.writers import MiB, ShardOptions

    s = cfg.shards
    return ShardOptions(formats=tuple(s["formats"]), parquet_shard_bytes=int(float(s["parquet_shard_mb"]) * MiB),
                        tar_shard_bytes=int(float(s["tar_shard_mb"]) * MiB),
                        row_group_bytes=int(float(s["row_group_mb"]) * MiB), unit=unit_id)


def load_config(path: Optional[str | os.PathLike] = None, **overrides: Any) -> BuildConfig:
    """Read ``path`` (optional), apply command-line ``overrides`` (None = not given), validate.

    Overrides: ``sources`` (list, replaces the file's), ``out``, ``runner``, ``recaptioner``
    (sets recaption.backend), ``work``, ``stages`` (comma-separated), ``stream``.
    """
    data = read_config_file(path) if path else {}
    base = Path(path).resolve().parent if path else Path.cwd()
    cli_base = Path.cwd()
    if overrides.get("sources"):
        data["sources"] = [s if "://" in str(s) or Path(s).is_absolute() else str(Path(s).resolve())
                           for s in overrides["sources"]]
        for s in data["sources"]:
            if "://" not in str(s) and not Path(s).exists():
                raise ConfigError(f"--source {s} does not exist")
    for k in ("out", "work"):
        if overrides.get(k):
            data[k] = str((cli_base / overrides[k]).resolve())
    if overrides.get("runner"):
        data["runner"] = overrides["runner"]
    if overrides.get("stages"):
        data["stages"] = [x.strip() for x in overrides["stages"].split(",") if x.strip()]
    if overrides.get("stream"):
        data["stream"] = True
    if overrides.get("recaptioner"):
        data.setdefault("recaption", {})
        data["recaption"] = {**(data["recaption"] or {}), "backend": overrides["recaptioner"]}
    return make_config(data, base=base)
