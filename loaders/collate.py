"""Batches: plain lists per field, or CLIP-ready tensors.

:class:`CLIPCollate` takes either a transformers ``CLIPProcessor`` (image processor +
tokenizer), or an image transform and a tokenizer as callables — open_clip's
``preprocess`` (PIL -> tensor [3, H, W]) and ``tokenizer`` (list[str] -> LongTensor[B, 77])
fit as they are. Captions longer than the context are first cut at sentence boundaries
(:class:`~s1mmalign.loaders.captions.CaptionFitter`); each batch says how many were cut.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from s1mmalign.loaders.captions import CaptionFitter


def collate_samples(samples: list[dict]) -> dict[str, list]:
    """``{field: [value per sample]}`` (PIL images stay PIL)."""
    if not samples:
        return {}
    return {k: [s.get(k) for s in samples] for k in samples[0]}


def _is_hf_tokenizer(tok) -> bool:
    try:
        from transformers import PreTrainedTokenizerBase
    except ImportError:  # pragma: no cover - transformers is a dependency
        return False
    return isinstance(tok, PreTrainedTokenizerBase)


def token_counter(tokenizer) -> Optional[Callable[[list[str]], list[int]]]:
    """``texts -> token counts with special tokens`` for HF tokenizers and open_clip's ``SimpleTokenizer``."""
    if _is_hf_tokenizer(tokenizer):
        return lambda texts: [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]]
    inner = getattr(tokenizer, "tokenizer", None)  # open_clip's HFTokenizer wraps an HF tokenizer
    if inner is not None and _is_hf_tokenizer(inner):
        return token_counter(inner)
    if callable(getattr(tokenizer, "encode", None)):  # open_clip SimpleTokenizer: ids without sot/eot
        return lambda texts: [len(tokenizer.encode(t)) + 2 for t in texts]
    return None


class CLIPCollate:
    """Samples -> ``{"pixel_values", "input_ids", ["attention_mask"], "keys", "captions_cut"}``.

    ``CLIPCollate(processor)`` with a transformers ``CLIPProcessor``, or
    ``CLIPCollate(image_transform=preprocess, tokenizer=tokenizer)`` with callables.
    ``context_length`` defaults to the tokenizer's ``model_max_length`` when sensible, else 77.
    ``truncate``: ``"sentences"`` (whole sentences from the start), ``"window"`` (whole
    sentences from a random one, fixed per key and seed) or ``"none"``. ``count_tokens`` is
    needed only for a tokenizer this class cannot count with. ``stats`` sums over the batches
    of this process; ``captions_cut`` in each batch lets a trainer sum across workers.
    """

    def __init__(self, processor=None, *, image_transform: Optional[Callable] = None, tokenizer=None,
                 context_length: Optional[int] = None, truncate: str = "sentences",
                 count_tokens: Optional[Callable[[list[str]], list[int]]] = None, seed: int = 0):
        if processor is not None:
            image_transform = image_transform or getattr(processor, "image_processor", None)
            tokenizer = tokenizer or getattr(processor, "tokenizer", None)
        if image_transform is None or tokenizer is None:
            raise ValueError("CLIPCollate needs a CLIPProcessor, or both image_transform= and tokenizer=")
        self.image_transform, self.tokenizer = image_transform, tokenizer
        self.hf_tokenizer = _is_hf_tokenizer(tokenizer)
        if context_length is None:
            n = getattr(tokenizer, "model_max_length", None) if self.hf_tokenizer else getattr(tokenizer, "context_length", None)
            context_length = n if isinstance(n, int) and 0 < n < 100_000 else 77
        self.context_length = int(context_length)
        counter = count_tokens or token_counter(tokenizer)
        if counter is None and truncate != "none":
            raise ValueError("cannot count tokens with this tokenizer: pass count_tokens=, or truncate='none'")
        self.fitter = CaptionFitter(counter, self.context_length, truncate, seed) if counter else CaptionFitter(len, 0, "none")

    @property
    def stats(self) -> dict:
        return dict(self.fitter.stats)

    def _pixels(self, images) -> torch.Tensor:
        tf = self.image_transform
        if hasattr(tf, "preprocess") and callable(tf.preprocess):  # a transformers image processor
            return tf(images=images, return_tensors="pt")["pixel_values"]
        return torch.stack([tf(im) for im in images])

    def __call__(self, samples: list[dict]) -> dict:
        keys = [s["key"] for s in samples]
        texts, cut = self.fitter([s["text"] for s in samples], keys)
        out = {"pixel_values": self._pixels([s["image"] for s in samples])}
        if self.hf_tokenizer:
            tok = self.tokenizer(texts, padding="max_length", truncation=True, max_length=self.context_length,
                                 return_tensors="pt")
            out["input_ids"] = tok["input_ids"]
            if "attention_mask" in tok:
                out["attention_mask"] = tok["attention_mask"]
        else:
            out["input_ids"] = self.tokenizer(texts)
        out["keys"] = keys
        out["captions_cut"] = torch.tensor(cut)
        return out
