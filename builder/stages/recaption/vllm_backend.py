"""``vllm``: offline batched generation with ``vllm.LLM.generate`` and image inputs (GPU).

vLLM is an optional extra (``pip install 's1mmalign[vllm]'``), imported only when this
backend is built. Prompts use the model's own chat template (from its tokenizer), so Qwen2.5-VL
and Qwen3-VL both work; ``max_pixels`` goes to the model's processor.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from s1mmalign.builder.stages.recaption.base import DEFAULT_MAX_PIXELS, Backend, Request
from s1mmalign.builder.stages.recaption.transformers_backend import DEFAULT_MODEL, chat_messages, load_error


def import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise RuntimeError(
            "the vllm backend needs vLLM on a GPU machine: pip install 's1mmalign[vllm]' "
            f"(import failed: {e}); or use --backend transformers, or --backend openai against a `vllm serve` endpoint"
        ) from None
    return vllm


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        revision: Optional[str] = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_new_tokens: int = 384,
        retry_temperature: float = 0.7,
        max_model_len: int = 8192,
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        seed: int = 0,
    ):
        vllm = import_vllm()
        self._vllm = vllm
        self.model, self.revision = model, revision or "unversioned"
        self.max_pixels, self.max_new_tokens = max_pixels, max_new_tokens
        self.retry_temperature, self.seed = retry_temperature, seed
        try:
            self._llm = vllm.LLM(
                model=model, revision=revision, dtype=dtype, max_model_len=max_model_len, seed=seed,
                gpu_memory_utilization=gpu_memory_utilization, tensor_parallel_size=tensor_parallel_size,
                limit_mm_per_prompt={"image": 1}, mm_processor_kwargs={"max_pixels": max_pixels},
            )
        except (OSError, ValueError) as e:
            raise load_error(model, e) from e
        self._tok = self._llm.get_tokenizer()

    def settings(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "temperature": 0.0, "max_pixels": self.max_pixels}

    def generate(self, requests: Sequence[Request], *, attempt: int = 0) -> list:
        params = self._vllm.SamplingParams(
            max_tokens=self.max_new_tokens,
            temperature=0.0 if attempt == 0 else self.retry_temperature,
            seed=self.seed + attempt,
        )
        inputs = [{
            "prompt": self._tok.apply_chat_template(chat_messages(r), add_generation_prompt=True, tokenize=False),
            "multi_modal_data": {"image": r.image},
        } for r in requests]
        outs = self._llm.generate(inputs, params, use_tqdm=False)
        return [o.outputs[0].text if o.outputs else ValueError("no output") for o in outs]

    def close(self) -> None:
        self._llm = None
