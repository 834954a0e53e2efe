"""``context``: no model. An extractive fusion of the caption, the citing sentences and the
abstract sentences that share the most words with them.

Offline and deterministic; what the demo and CPU-only builds use. It never invents text: every
sentence of the result is copied from the record. ``recaption_model`` says so
(``context:extractive-fusion@1/prompt-none``), so no one mistakes it for a Qwen-VL output.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from s1mmalign.builder.stages.recaption.base import Backend, Request
from s1mmalign.core.sentences import split_sentences

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]{2,}")
_STOP = set("the and for with from that this are was were which these those their there into onto "
            "than then also have has had been being our its not but can may using used show shows shown".split())


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _STOP


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


class ContextBackend(Backend):
    name = "context"
    needs_image = False
    prompt_version = "none"
    model = "extractive-fusion"
    revision = "2"  # 2: sentences split by s1mmalign.core.sentences

    def __init__(self, *, max_chars: int = 1200, max_contexts: int = 3, abstract_sentences: int = 2):
        self.max_chars, self.max_contexts, self.abstract_sentences = max_chars, max_contexts, abstract_sentences

    def settings(self) -> dict[str, Any]:
        return {"max_chars": self.max_chars, "max_contexts": self.max_contexts,
                "abstract_sentences": self.abstract_sentences}

    def fuse(self, record) -> str:
        caption = re.sub(r"\s+", " ", str(record.get("caption") or "")).strip()
        parts: list[str] = [caption if not caption or caption[-1] in ".!?" else caption + "."]
        seen = {_norm(caption)}
        contexts = record.get("citation_contexts") or []
        if isinstance(contexts, str):
            contexts = [contexts]
        for c in contexts:
            c = re.sub(r"\s+", " ", str(c)).strip()
            if c and _norm(c) not in seen and len(parts) <= self.max_contexts:
                parts.append(c)
                seen.add(_norm(c))
        focus = _words(" ".join(parts))
        ranked = sorted(enumerate(split_sentences(str(record.get("abstract") or ""))),
                        key=lambda p: (-len(_words(p[1]) & focus), p[0]))
        chosen = sorted(p for p in ranked[: self.abstract_sentences] if _norm(p[1]) not in seen)
        if chosen:
            parts.append("In the paper: " + " ".join(s for _, s in chosen))
        text, out = "", []
        for p in parts:  # whole sentences only, within the budget
            if out and len(text) + 1 + len(p) > self.max_chars:
                break
            out.append(p)
            text = " ".join(out)
        return text[: self.max_chars]

    def generate(self, requests: Sequence[Request], *, attempt: int = 0) -> list:
        return [self.fuse(r.record) for r in requests]
