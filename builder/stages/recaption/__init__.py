"""Recaption figures: one stage, several backends chosen by name.

>>> from s1mmalign.builder.stages.recaption import make_recaptioner
>>> recaption = make_recaptioner("transformers", model="Qwen/Qwen2.5-VL-3B-Instruct", cache="cache/")
>>> batch = recaption(batch, rejects)   # fills recaption, recaption_model, recaption_info
>>> recaption.close()

Backends: ``transformers`` (Qwen2.5-VL / Qwen3-VL, local GPU or CPU), ``vllm`` (offline,
GPU, extra ``vllm``), ``openai`` (any OpenAI-compatible chat endpoint, e.g. ``vllm serve``),
``context`` (no model: extractive fusion of caption, citation contexts and abstract).
See docs/recaption.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from s1mmalign.builder.stages.recaption.base import DEFAULT_MAX_PIXELS, Backend, Request
from s1mmalign.builder.stages.recaption.prompt import PROMPT_VERSION, OutputLimits
from s1mmalign.builder.stages.recaption.stage import Recaptioner

#: name -> "module:class" (imported only when chosen, so no backend's heavy imports load early).
_BACKENDS = {
    "context": "s1mmalign.builder.stages.recaption.context_backend:ContextBackend",
    "transformers": "s1mmalign.builder.stages.recaption.transformers_backend:TransformersBackend",
    "vllm": "s1mmalign.builder.stages.recaption.vllm_backend:VLLMBackend",
    "openai": "s1mmalign.builder.stages.recaption.openai_backend:OpenAIBackend",
}
BACKENDS: tuple[str, ...] = tuple(_BACKENDS)

#: Options of the stage; every other option goes to the backend.
STAGE_OPTIONS = ("cache", "batch_size", "retries", "max_pixels", "budgets", "overwrite", "progress",
                 "min_chars", "max_chars")


def backend_class(name: str) -> type:
    if name not in _BACKENDS:
        raise ValueError(f"unknown recaption backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module, cls = _BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_recaptioner(backend: str = "context", **opts: Any) -> Recaptioner:
    """The recaption stage for backend ``backend``; see :class:`Recaptioner` for stage options."""
    stage_opts = {k: opts.pop(k) for k in list(opts) if k in STAGE_OPTIONS}
    limits = OutputLimits(**{k: stage_opts.pop(k) for k in ("min_chars", "max_chars") if k in stage_opts})
    max_pixels = stage_opts.get("max_pixels", DEFAULT_MAX_PIXELS)
    cls = backend_class(backend)
    if getattr(cls, "needs_image", True) and "max_pixels" in cls.__init__.__code__.co_varnames:
        opts.setdefault("max_pixels", max_pixels)
    return Recaptioner(cls(**opts), limits=limits, **stage_opts)


__all__ = ["BACKENDS", "PROMPT_VERSION", "Backend", "Recaptioner", "Request", "backend_class", "make_recaptioner"]
