"""Which caption a sample trains on, and fitting it into the text encoder's context.

``caption=``: ``"recaption"`` (the enriched caption; the original when a sample has none),
``"caption"`` (the original), ``"both"`` (original then enriched, one text), ``"mix"``
(the enriched one with probability ``mix_p``, drawn per sample from ``(seed, epoch, key)``
so that it does not depend on order, workers or resume).

A CLIP text encoder reads 77 tokens; enriched captions average ~760 characters, so most do
not fit. :class:`CaptionFitter` cuts at sentence boundaries (the longest run of whole
sentences from the start, or from a random sentence with ``mode="window"``) instead of
mid-word, and counts how often it cut.
"""

from __future__ import annotations

import random
from typing import Callable, Optional

from s1mmalign.core.sentences import split_sentences
from s1mmalign.loaders.select import CAPTION_MODES


def check_caption_mode(caption: str, mix_p: float) -> None:
    if caption not in CAPTION_MODES:
        raise ValueError(f"caption must be one of {', '.join(CAPTION_MODES)}, got {caption!r}")
    if not 0.0 <= mix_p <= 1.0:
        raise ValueError(f"mix_p must be in [0, 1], got {mix_p}")


def choose_caption(sample: dict, mode: str, *, mix_p: float = 0.5, seed: int = 0, epoch: int = 0) -> str:
    cap = (sample.get("caption") or "").strip()
    rec = (sample.get("recaption") or "").strip()
    if mode == "caption":
        return cap or rec
    if mode == "both":
        return f"{cap} {rec}".strip() if cap != rec else cap
    if mode == "mix" and rec:
        use_rec = random.Random(f"mix/{seed}/{epoch}/{sample.get('key')}").random() < mix_p
        return rec if use_rec or not cap else cap
    return rec or cap


class CaptionFitter:
    """Cut texts to ``max_tokens`` at sentence boundaries; ``stats`` counts what happened.

    ``count_tokens(texts) -> list[int]`` counts tokens *with* the special tokens.
    ``stats``: ``texts``, ``cut`` (shortened to whole sentences), ``hard_cut`` (even the first
    sentence of the window is too long: the tokenizer truncates it).
    """

    def __init__(self, count_tokens: Callable[[list[str]], list[int]], max_tokens: int = 77,
                 mode: str = "sentences", seed: int = 0):
        if mode not in ("sentences", "window", "none"):
            raise ValueError(f"truncate mode must be 'sentences', 'window' or 'none', got {mode!r}")
        self.count_tokens, self.max_tokens, self.mode, self.seed = count_tokens, max_tokens, mode, seed
        self.stats = {"texts": 0, "cut": 0, "hard_cut": 0}

    def __call__(self, texts: list[str], keys: Optional[list] = None) -> tuple[list[str], int]:
        """(fitted texts, how many were cut in this call)."""
        self.stats["texts"] += len(texts)
        if self.mode == "none":
            return list(texts), 0
        lengths = self.count_tokens(list(texts))
        out, cut = list(texts), 0
        for i, (text, n) in enumerate(zip(texts, lengths)):
            if n <= self.max_tokens:
                continue
            cut += 1
            out[i] = self._fit(text, None if keys is None else keys[i])
        self.stats["cut"] += cut
        return out, cut

    def _fit(self, text: str, key) -> str:
        sents = split_sentences(text)
        start = 0
        if self.mode == "window" and len(sents) > 1:
            start = random.Random(f"window/{self.seed}/{key if key is not None else text}").randrange(len(sents))
        sents = sents[start:]
        # the longest prefix of whole sentences that fits (binary search: few tokenizer calls)
        lo, hi = 0, len(sents)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.count_tokens([" ".join(sents[:mid])])[0] <= self.max_tokens:
                lo = mid
            else:
                hi = mid - 1
        if lo == 0:
            self.stats["hard_cut"] += 1
            return sents[0] if sents else text
        return " ".join(sents[:lo])
