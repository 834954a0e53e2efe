"""``transformers``: Qwen2.5-VL / Qwen3-VL (any ``AutoModelForImageTextToText`` with a Qwen-VL
processor) with batched greedy generation.

The model loads from a Hub id (with ``revision``) or a local folder. If the weights cannot be
loaded the error says how to point at a local copy or choose another backend; there is no
silent fallback. Without torchvision, ``AutoProcessor`` fails for Qwen-VL (its video processor
needs it): the processor is then assembled from the tokenizer and the PIL image processor,
without video support, which the recaptioner does not use.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional, Sequence

from s1mmalign.builder.stages.model_source import DOWNLOAD_HINT
from s1mmalign.builder.stages.recaption.base import DEFAULT_MAX_PIXELS, Backend, Request

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"

#: model_type -> processor class path (used when AutoProcessor cannot be built).
_PROCESSORS = {
    "qwen2_vl": "transformers.models.qwen2_vl.processing_qwen2_vl:Qwen2VLProcessor",
    "qwen2_5_vl": "transformers.models.qwen2_5_vl.processing_qwen2_5_vl:Qwen2_5_VLProcessor",
    "qwen3_vl": "transformers.models.qwen3_vl.processing_qwen3_vl:Qwen3VLProcessor",
    "qwen3_vl_moe": "transformers.models.qwen3_vl.processing_qwen3_vl:Qwen3VLProcessor",
}


def chat_messages(req: Request, with_image: bool = True) -> list[dict]:
    """The conversation in the Hugging Face chat-template format (image first, then the text)."""
    content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": req.prompt.user}]
    return [{"role": "system", "content": [{"type": "text", "text": req.prompt.system}]},
            {"role": "user", "content": content}]


def local_fingerprint(folder: Path) -> str:
    """A short revision for a local checkpoint: hash of config.json and the weight files' names and sizes."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.name == "config.json":
            h.update(p.read_bytes())
        elif p.suffix in (".safetensors", ".bin") or p.name.endswith(".index.json"):
            h.update(f"{p.name}:{p.stat().st_size}".encode())
    return "local-" + h.hexdigest()[:12]


def load_error(model: str, err: Exception) -> RuntimeError:
    return RuntimeError(
        f"could not load recaption model {model!r} ({type(err).__name__}: {str(err)[:300]}). "
        f"Download it where you have network access ({DOWNLOAD_HINT}) and "
        "pass --model DIR, or set HF_HOME to a cache holding it, or choose another backend "
        "(--backend openai with --base-url of a running server, or --backend context for the model-free "
        "extractive method)."
    )


def build_processor(path: str, model_type: str, *, revision: Optional[str], max_pixels: int, min_pixels: Optional[int]):
    """AutoProcessor when it can be built; else tokenizer + PIL image processor, no video."""
    import importlib

    from transformers import AutoProcessor, AutoTokenizer

    size_kw: dict[str, Any] = {"max_pixels": max_pixels}
    if min_pixels:
        size_kw["min_pixels"] = min_pixels
    try:
        proc = AutoProcessor.from_pretrained(path, revision=revision, **size_kw)
    except ImportError:  # torchvision missing: Qwen-VL's video processor cannot be built
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        if model_type not in _PROCESSORS:
            raise RuntimeError(f"model type {model_type!r} is not a Qwen-VL model; supported: {', '.join(_PROCESSORS)}") from None
        module, name = _PROCESSORS[model_type].split(":")
        base = getattr(importlib.import_module(module), name)

        class ImageOnlyProcessor(base):  # the same processor without its video half
            def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kw):
                super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                                 chat_template=chat_template, **kw)

        tok = AutoTokenizer.from_pretrained(path, revision=revision)
        image_proc = Qwen2VLImageProcessorPil.from_pretrained(path, revision=revision, **size_kw)
        template = getattr(tok, "chat_template", None)
        proc = ImageOnlyProcessor(image_processor=image_proc, tokenizer=tok, chat_template=template)
    proc.tokenizer.padding_side = "left"  # batched generation continues every row at its end
    if proc.tokenizer.pad_token is None:
        proc.tokenizer.pad_token = proc.tokenizer.eos_token
    return proc


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        revision: Optional[str] = None,
        device: str = "auto",
        dtype: str = "auto",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        min_pixels: Optional[int] = None,
        max_new_tokens: int = 384,
        min_new_tokens: int = 0,
        repetition_penalty: float = 1.05,
        retry_temperature: float = 0.7,
        attn_implementation: Optional[str] = None,
        seed: int = 0,
    ):
        import torch
        from transformers import AutoConfig, AutoModelForImageTextToText

        self.model = model
        self.max_new_tokens, self.min_new_tokens, self.repetition_penalty = max_new_tokens, min_new_tokens, repetition_penalty
        self.retry_temperature, self.seed = retry_temperature, seed
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.dtype = str(torch_dtype).replace("torch.", "")
        from s1mmalign.builder.stages.model_source import model_path

        path = model_path(model)
        local = Path(path)
        try:
            config = AutoConfig.from_pretrained(path, revision=revision)
            kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
            self._model = AutoModelForImageTextToText.from_pretrained(
                path, revision=revision, dtype=torch_dtype, **kw).to(self.device).eval()
            self.processor = build_processor(path, config.model_type, revision=revision,
                                             max_pixels=max_pixels, min_pixels=min_pixels)
        except (OSError, ValueError) as e:
            raise load_error(model, e) from e
        self.revision = revision or (local_fingerprint(local) if local.is_dir()
                                     else getattr(config, "_commit_hash", None) or "unversioned")
        self.max_pixels = max_pixels

    def settings(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "min_new_tokens": self.min_new_tokens, "do_sample": False,
                "repetition_penalty": self.repetition_penalty, "max_pixels": self.max_pixels,
                "dtype": self.dtype}

    def generate(self, requests: Sequence[Request], *, attempt: int = 0) -> list:
        import torch

        if not requests:
            return []
        texts = [self.processor.apply_chat_template(chat_messages(r), add_generation_prompt=True, tokenize=False)
                 for r in requests]
        inputs = self.processor(text=texts, images=[r.image for r in requests], return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
        kw: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty}
        if self.min_new_tokens:
            kw["min_new_tokens"] = self.min_new_tokens
        if attempt > 0:  # a retry: sample, greedy would repeat the failed output
            torch.manual_seed(self.seed + attempt)
            kw.update(do_sample=True, temperature=self.retry_temperature, top_p=0.9)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self._model.generate(**inputs, **kw)
        new = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new, skip_special_tokens=True)

    def close(self) -> None:
        import gc

        self._model = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


__all__ = ["TransformersBackend", "DEFAULT_MODEL", "chat_messages"]
