"""The stages a build can run: where each lives, how it is made from the config, what kind it is.

``STAGES`` is the registry; :func:`make_stage` builds a stage's callable
(``stage(batch, rejects) -> batch``, models loaded here), :func:`check_available` checks every
configured stage's options before any work, and :class:`Chain` runs several stages as one (a
streamed segment: records pass through every stage of a unit in one go).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional

from s1mmalign.builder.pipeline.config import BuildConfig, ConfigError
from s1mmalign.builder.records.rejects import Rejects


def _get(module: str, symbol: str) -> Any:
    return getattr(importlib.import_module(module), symbol)


@dataclass(frozen=True)
class StageDef:
    name: str
    module: str
    symbol: str
    model: bool = False  # holds a model: an actor pool on Ray, watchdog applies
    stateful: bool = False  # state across units (dedup): runs in unit order in one process
    retryable: bool = False  # --retry-failed reruns the items it failed (dropped or rejected)


STAGES: dict[str, StageDef] = {
    "ingest": StageDef("ingest", "s1mmalign.builder.pipeline.units", "discover"),  # reading the sources
    "filter": StageDef("filter", "s1mmalign.builder.stages.filters", "filter_records"),
    "dedup": StageDef("dedup", "s1mmalign.builder.stages.dedup", "Deduplicator", stateful=True),
    "classify": StageDef("classify", "s1mmalign.builder.stages.modality", "make_classifier", model=True, retryable=True),
    "recaption": StageDef("recaption", "s1mmalign.builder.stages.recaption", "make_recaptioner", model=True, retryable=True),
    "score": StageDef("score", "s1mmalign.builder.stages.scoring", "ClipScorer", model=True, retryable=True),
    "write": StageDef("write", "s1mmalign.builder.shards.write", "write_dataset"),
}
#: Stages that run per unit (card runs once at the end).
UNIT_STAGES = tuple(STAGES)


class StageTimeout(RuntimeError):
    pass


class ScoreStage:
    """CLIP score and masked-LM pseudo-perplexity, one after the other, as one stage."""

    def __init__(self, clip_model: Optional[str] = None, ppl_model: Optional[str] = None, **opts: Any):
        self.scorers = []
        if clip_model:
            self.scorers.append(_get("s1mmalign.builder.stages.scoring", "ClipScorer")(model=clip_model, **opts))
        if ppl_model:
            cls = _get("s1mmalign.builder.stages.scoring", "PseudoPerplexityScorer")
            self.scorers.append(cls(model=ppl_model, **opts))

    def __call__(self, batch: list[dict], rejects: Rejects) -> list[dict]:
        for s in self.scorers:
            batch = s(batch, rejects)
        return batch

    def close(self) -> None:
        for s in self.scorers:
            getattr(s, "close", lambda: None)()


def _check_options(where: str, fn: Callable, opts: dict, also: tuple = (), drop: tuple = ()) -> None:
    """Raise ConfigError for options ``fn`` does not take (a typo found before any work)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = ({n for n in params if n != "self"} | set(also)) - set(drop)
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}")


def check_available(cfg: BuildConfig) -> None:
    """Check every configured stage's options now, so that a misspelt option fails before any
    work (no model is loaded)."""
    for name in cfg.stages:
        if name in ("ingest", "write", "card", "manifest"):
            continue
        d = STAGES[name]
        opts = cfg.stage_options(name)
        if name == "filter":
            _check_options("filter", _get(d.module, "FilterOptions"), opts)
        elif name == "dedup":
            _check_options("dedup", _get(d.module, d.symbol), opts)
        elif name == "classify":
            kind = opts.pop("name", "rules")
            classes = {"rules": "RulesClassifier", "clip": "ClipClassifier"}
            if kind not in classes:
                raise ConfigError(f"classify: unknown classifier {kind!r}; use 'rules' (caption text) or 'clip' (zero-shot CLIP)")
            _check_options(f"classify ({kind})", _get(d.module, classes[kind]), opts)
        elif name == "recaption":
            rc = importlib.import_module(d.module)
            backend = opts.pop("backend")
            _check_options(f"recaption ({backend})", rc.backend_class(backend).__init__, opts,
                           also=tuple(getattr(rc, "STAGE_OPTIONS", ())))
        elif name == "score":
            rest = {k: v for k, v in opts.items() if k not in ("clip_model", "ppl_model")}
            for key, cls in (("clip_model", "ClipScorer"), ("ppl_model", "PseudoPerplexityScorer")):
                if opts.get(key):
                    _check_options(f"score ({cls})", _get(d.module, cls), rest, drop=("model",))


def make_stage(name: str, cfg: BuildConfig) -> Callable[[list[dict], Rejects], list[dict]]:
    """The stage callable for ``name`` with the config's options (models load here)."""
    d = STAGES[name]
    opts = cfg.stage_options(name)
    if name == "filter":
        FilterOptions = _get(d.module, "FilterOptions")
        return functools.partial(_get(d.module, d.symbol), options=FilterOptions(**opts))
    if name == "dedup":
        return _get(d.module, d.symbol)(**opts)
    if name == "classify":
        return _get(d.module, d.symbol)(opts.pop("name", "rules"), **opts)
    if name == "recaption":
        return _get(d.module, d.symbol)(opts.pop("backend"), **opts)
    if name == "score":
        return ScoreStage(**opts)
    raise ValueError(f"stage {name!r} has no stage callable")


def is_model_stage(name: str, cfg: BuildConfig) -> bool:
    if name == "classify":
        return cfg.stage_options("classify").get("name", "rules") != "rules"
    return STAGES[name].model


#: Stages that read or write rather than transform: a segment's callable leaves them out.
IO_STAGES = ("ingest", "write")


class Chain:
    """Several stages as one: each batch through every stage in order; ``close()`` closes them all."""

    def __init__(self, fns: list[Callable[[list[dict], Rejects], list[dict]]]):
        self.fns = fns

    def __call__(self, batch: list[dict], rejects: Rejects) -> list[dict]:
        for fn in self.fns:
            if not batch:
                break
            batch = fn(batch, rejects)
        return batch

    def close(self) -> None:
        for fn in self.fns:
            getattr(fn, "close", lambda: None)()


def make_segment(stages: list[str], cfg: BuildConfig) -> Optional[Chain]:
    """The callable of a segment's transforming stages (None when it only reads and writes)."""
    fns = [make_stage(s, cfg) for s in stages if s not in IO_STAGES]
    return Chain(fns) if fns else None
