"""The recaption stage: records in, records with ``recaption`` filled out, nothing dropped.

For each record: reuse a cached result when the cache has one; otherwise build the prompt,
prepare the image (RGB, downscaled to the cap), ask the backend in batches, clean and validate
the output. A new recaption may relabel the record's modality
(:func:`~s1mmalign.builder.stages.modality.relabel_from_recaption`). Items whose output fails are retried (only those); an item that still fails keeps
its original caption, gets ``recaption_info = {"error": ...}`` and a counted reject with the
reason, and the run goes on; except when the backend has answered nothing at all for the first
:data:`FAIL_FAST_ITEMS` items (an endpoint down or mistyped): then :class:`BackendUnavailable`
ends the run at once instead of hours of retries item by item.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.modality import relabel_from_recaption
from s1mmalign.builder.stages.recaption.base import DEFAULT_MAX_PIXELS, Backend, Request, image_bytes, prepare_image
from s1mmalign.builder.stages.recaption.cache import RecaptionCache, cache_key
from s1mmalign.builder.stages.recaption.prompt import InvalidOutput, OutputLimits, build_prompt, clean_output, validate_output
from s1mmalign.core.images import ImageRejected

#: Backend errors in a row, before any item was answered, that end the run (see the module docstring).
FAIL_FAST_ITEMS = 16


class BackendUnavailable(RuntimeError):
    """The backend answered none of the first :data:`FAIL_FAST_ITEMS` items: a setup error, not bad items."""


class Recaptioner:
    """A stage ``recaptioner(batch, rejects) -> batch`` around one backend.

    ``cache``: a folder (str/Path), a :class:`RecaptionCache`, or None for no cache.
    ``overwrite``: recaption records that already have a recaption (default: keep theirs).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        cache: Any = None,
        batch_size: int = 8,
        retries: int = 1,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        budgets: Optional[dict] = None,
        limits: OutputLimits = OutputLimits(),
        overwrite: bool = False,
        progress: bool = False,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.backend = backend
        self.cache = RecaptionCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
        self.batch_size, self.retries, self.max_pixels = batch_size, retries, max_pixels
        self.budgets, self.limits, self.overwrite, self.progress = budgets, limits, overwrite, progress
        self.stats = {"recaptioned": 0, "cached": 0, "failed": 0, "kept": 0}
        self._errors_in_a_row = 0  # backend errors since the last answer (FAIL_FAST_ITEMS)

    @property
    def model_string(self) -> str:
        return self.backend.model_string

    def _success(self, rec: dict, text: str, info: dict) -> None:
        rec["recaption"] = text
        rec["recaption_model"] = self.backend.model_string
        rec["recaption_info"] = json.dumps(info, sort_keys=True, ensure_ascii=False)
        relabel_from_recaption(rec)  # the recaption names what the figure is: the strongest modality signal

    def _failure(self, rec: dict, reason: str, detail: str, attempts: int, rejects: Rejects) -> None:
        if not rec.get("recaption"):  # (with overwrite, an earlier recaption and its provenance stay)
            rec["recaption"] = None
            rec["recaption_model"] = None
        rec["recaption_info"] = json.dumps(
            {"error": reason, "detail": detail[:300], "attempts": attempts, "model": self.backend.model_string},
            sort_keys=True, ensure_ascii=False)
        self.stats["failed"] += 1
        rejects.add(rec.get("key"), "recaption", f"recaption_{reason}",
                    f"{detail[:200]} (record kept with its original caption)",
                    stage="recaption", source=str(rec.get("source") or ""))

    def __call__(self, batch: list[dict], rejects: Optional[Rejects] = None) -> list[dict]:
        rejects = rejects if rejects is not None else Rejects()
        settings = self.backend.settings()
        out = [dict(r) for r in batch]
        pending: list[dict] = []  # work items: {"i", "key", "prompt", "image"}
        for i, rec in enumerate(out):
            if rec.get("recaption") and not self.overwrite:
                self.stats["kept"] += 1
                continue
            ckey = cache_key(rec, self.backend.model_string, settings)
            hit = self.cache.get(ckey) if self.cache is not None else None
            if hit is not None:
                self._success(rec, hit["recaption"], hit.get("info", {}))
                self.stats["cached"] += 1
                continue
            item = {"i": i, "ckey": ckey, "prompt": build_prompt(rec, self.budgets), "image": None}
            if self.backend.needs_image:
                try:
                    item["image"] = prepare_image(image_bytes(rec) or b"", self.max_pixels)
                except ImageRejected as e:
                    self._failure(rec, f"image_{e.reason}", e.detail or e.reason, 0, rejects)
                    continue
            pending.append(item)

        last_error: dict[int, tuple[str, str]] = {}
        bar = self._bar(len(pending))
        for attempt in range(1 + max(self.retries, 0)):
            if not pending:
                break
            failed: list[dict] = []
            for start in range(0, len(pending), self.batch_size):
                chunk = pending[start:start + self.batch_size]
                requests = [Request(out[it["i"]].get("key") or "", it["prompt"], out[it["i"]], it["image"]) for it in chunk]
                try:
                    results = self.backend.generate(requests, attempt=attempt)
                except Exception as e:  # a whole-batch failure: every item of the chunk failed
                    results = [e] * len(chunk)
                if len(results) != len(chunk):
                    results = [RuntimeError(f"backend returned {len(results)} results for {len(chunk)} requests")] * len(chunk)
                for it, res in zip(chunk, results):
                    try:
                        if isinstance(res, BaseException):
                            raise res
                        text = validate_output(clean_output(str(res), it["prompt"]), self.limits)
                    except InvalidOutput as e:
                        last_error[it["i"]] = (e.reason, f"{e.detail} | raw: {str(res)[:120]!r}")
                        failed.append(it)
                        continue
                    except Exception as e:
                        last_error[it["i"]] = ("backend_error", f"{type(e).__name__}: {e}")
                        failed.append(it)
                        self._errors_in_a_row += 1
                        if self._errors_in_a_row >= FAIL_FAST_ITEMS and not self.stats["recaptioned"]:
                            raise BackendUnavailable(
                                f"the {self.backend.name} backend answered none of the first {self._errors_in_a_row} items "
                                f"(last: {type(e).__name__}: {e}); check its options (--base-url, --model) and that it "
                                "runs, then rerun") from None
                        continue
                    self._errors_in_a_row = 0
                    info = {"settings": settings, "attempt": attempt, "prompt_version": self.backend.prompt_version}
                    if it["image"] is not None:
                        info["image_size"] = list(it["image"].size)
                    self._success(out[it["i"]], text, info)
                    self.stats["recaptioned"] += 1
                    if self.cache is not None:
                        self.cache.put(it["ckey"], {"recaption": text, "info": info, "model": self.backend.model_string})
                    if bar is not None:
                        bar.update(1)
            pending = failed
        for it in pending:
            reason, detail = last_error.get(it["i"], ("backend_error", "no result"))
            self._failure(out[it["i"]], reason, detail, 1 + max(self.retries, 0), rejects)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return out

    def _bar(self, total: int):
        if not self.progress or not total:
            return None
        from s1mmalign.core.progress import progress

        return progress(total=total, desc=f"recaption ({self.backend.name})", unit=" fig", mininterval=1.0)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

