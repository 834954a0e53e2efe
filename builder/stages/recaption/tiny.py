"""Tiny random-weight models built from configs: Qwen2.5-VL, Qwen3-VL, CLIP and a BERT masked LM.

No machine of this project can download weights, so tests, benchmarks and the offline demo
build these instead: the real architectures and processors, a few layers wide, saved to a
local folder and loaded back through the same ``from_pretrained`` path a real checkpoint
takes. Tokenizers are deterministic (byte-level without merges, or a fixed word list), so
numbers are reproducible across runs. Their outputs are meaningless text; only the code
path is real.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>",
)

#: The Qwen2-VL chat template, reduced to what the recaptioner sends (text and image parts).
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A fixed word list for the BERT tokenizer (WordPiece training is not deterministic).
_BERT_WORDS = (
    "the of and in to a is for with as by on at from that this are be an we figure fig shows "
    "plot data model results using two three versus temperature energy field function time "
    "distribution cross section magnetic spin structure factor phase diagram ratio mass signal "
    "measured simulated panel left right top bottom red blue line lines curve curves points error "
    "bars fit fitted experiment theory density frequency spectrum sample samples cell cells image "
    "images scale bar um nm mm increase decrease high low mean value values each different between "
    "which show shown compared comparison network layer training accuracy loss law above below"
).split()


def _save_tokenizer(tok, path: Path) -> None:
    tok.save_pretrained(str(path))


def build_qwen_tokenizer():
    """Byte-level BPE with no merges (one token per byte) plus Qwen's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(QWEN_SPECIAL_TOKENS))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]),
    )
    fast.chat_template = QWEN_CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def _qwen_text_config(tok, ids: dict, **extra) -> dict:
    return dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                **extra)


def _save_qwen(model_cls, config, tok, ids: dict, path: Path, seed: int, patch_size: int) -> Path:
    import torch
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(str(path))
    _save_tokenizer(tok, path)
    side = 8 * patch_size  # at most 16 merged visual tokens per image
    Qwen2VLImageProcessorPil(patch_size=patch_size, min_pixels=(2 * patch_size) ** 2, max_pixels=side * side).save_pretrained(str(path))
    return path


def _qwen_ids(tok) -> dict:
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    return dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"]), ids


def build_tiny_qwen2_5_vl(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Save a tiny Qwen2.5-VL (model + tokenizer + PIL image processor) to ``path``."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok = build_qwen_tokenizer()
    special, ids = _qwen_ids(tok)
    config = Qwen2_5_VLConfig(
        text_config=_qwen_text_config(tok, ids, rope_parameters={
            "rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=32,
                           fullatt_block_indexes=[1], window_size=56),
        **special,
    )
    return _save_qwen(Qwen2_5_VLForConditionalGeneration, config, tok, ids, Path(path), seed, patch_size=14)


def build_tiny_qwen3_vl(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Save a tiny Qwen3-VL (16-pixel patches, deepstack, interleaved M-RoPE) to ``path``."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    tok = build_qwen_tokenizer()
    special, ids = _qwen_ids(tok)
    config = Qwen3VLConfig(
        text_config=_qwen_text_config(tok, ids, head_dim=8, rope_parameters={
            "rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2], "mrope_interleaved": True}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=32,
                           patch_size=16, num_position_embeddings=64, deepstack_visual_indexes=[1]),
        **special,
    )
    return _save_qwen(Qwen3VLForConditionalGeneration, config, tok, ids, Path(path), seed, patch_size=16)


def build_tiny_clip(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Save a tiny CLIP (model + CLIPTokenizer from a fixed vocab + image processor) to ``path``."""
    import json

    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    # CLIP's BPE over a byte alphabet with no merges: every word is split into characters.
    from tokenizers import pre_tokenizers

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tok = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=77)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77,
                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                         pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    # Random towers give cosines scattered around 0, so most CLIP scores would clamp to 0. A shared
    # offset in both final norms and one shared projection make image and text embeddings share a
    # direction: cosines land in (0, 1) and still differ per pair, so the scores test something.
    with torch.no_grad():
        shared = torch.randn(32)
        model.vision_model.post_layernorm.bias.copy_(shared)
        model.text_model.final_layer_norm.bias.copy_(shared)
        model.text_projection.weight.copy_(model.visual_projection.weight)
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(str(path))
    return path


def build_tiny_bert_mlm(path: str | os.PathLike, *, seed: int = 0, words: Iterable[str] = ()) -> Path:
    """Save a tiny BERT masked LM with a fixed WordPiece vocab (uncased, like SciBERT) to ``path``.

    ``words`` adds whole words to the vocab (sorted, lower-cased), so texts about a known
    subject tokenize into words instead of characters and score much faster.
    """
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:()[]-+=/%'\"!?<>_*&")
    words = list(dict.fromkeys([*_BERT_WORDS, *sorted({w.lower() for w in words if w.isalpha()})]))
    vocab = specials + chars + ["##" + c for c in chars] + words
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(str(path / "vocab.txt"), do_lower_case=True, model_max_length=512)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=512)
    torch.manual_seed(seed)
    BertForMaskedLM(config).eval().save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path
