"""CLIP score and pseudo-perplexity against independent computations, with tiny real models."""

from __future__ import annotations

import importlib.util
import io
import math

import numpy as np
import pytest
import torch
from conftest import make_record
from PIL import Image

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.recaption.tiny import build_tiny_bert_mlm, build_tiny_clip
from s1mmalign.builder.stages.scoring import ClipScorer, PseudoPerplexityScorer, window_plan


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def bert_path(tmp_path_factory):
    return build_tiny_bert_mlm(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def clip(clip_path):
    return ClipScorer(str(clip_path), device="cpu")


def reference_clip(clip_path, image_bytes: bytes, input_ids: list[int]) -> float:
    """2.5 * max(cos, 0) from CLIPModel's own logits (logits = exp(logit_scale) * cos)."""
    from transformers import CLIPImageProcessorPil, CLIPModel

    model = CLIPModel.from_pretrained(str(clip_path)).eval()
    pixels = CLIPImageProcessorPil.from_pretrained(str(clip_path))(
        images=[Image.open(io.BytesIO(image_bytes)).convert("RGB")], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([input_ids]), pixel_values=pixels)
    cos = (out.logits_per_image / model.logit_scale.exp()).item()
    return 2.5 * max(cos, 0.0)


def short_records(n=4):
    return [make_record(i, recaption=f"Plot {i} rises." if i % 2 else None) for i in range(n)]


def test_clip_score_equals_clipmodel_logits(clip, clip_path):
    records = short_records()
    out = clip(records, Rejects())
    scores = [r["clip_score_caption"] for r in out]
    assert len(set(round(s, 6) for s in scores)) == len(scores) and all(s > 0 for s in scores)  # real spread
    for r in out:
        ids = clip.tokenizer(r["caption"])["input_ids"]
        assert abs(r["clip_score_caption"] - reference_clip(clip_path, r["image"]["bytes"], ids)) < 1e-5
        if r["recaption"]:
            ids = clip.tokenizer(r["recaption"])["input_ids"]
            assert abs(r["clip_score_recaption"] - reference_clip(clip_path, r["image"]["bytes"], ids)) < 1e-5
        else:
            assert r["clip_score_recaption"] is None
    assert clip.truncated == {} or sum(clip.truncated.values()) == 0


@pytest.mark.skipif(importlib.util.find_spec("torchmetrics") is None, reason="torchmetrics not installed (extra 'eval')")
def test_clip_score_equals_torchmetrics_over_40(clip, clip_path):
    from torchmetrics.multimodal.clip_score import CLIPScore
    from transformers import CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    class TensorFeaturesCLIP(CLIPModel):
        """torchmetrics 1.9 expects tensors from get_*_features; transformers 5 returns output objects."""

        def get_image_features(self, *a, **k):
            return super().get_image_features(*a, **k).pooler_output

        def get_text_features(self, *a, **k):
            return super().get_text_features(*a, **k).pooler_output

    model = TensorFeaturesCLIP.from_pretrained(str(clip_path)).eval()
    processor = CLIPProcessor(image_processor=CLIPImageProcessorPil.from_pretrained(str(clip_path)), tokenizer=clip.tokenizer)
    metric = CLIPScore(model_name_or_path=lambda: (model, processor))
    out = clip(short_records(), Rejects())
    for r in out:
        img = torch.from_numpy(np.array(Image.open(io.BytesIO(r["image"]["bytes"])).convert("RGB"))).permute(2, 0, 1)
        metric.reset()
        assert abs(metric(img, r["caption"]).item() / 40 - r["clip_score_caption"]) < 1e-5


def test_long_text_is_truncated_with_its_end_token_and_counted(clip_path):
    scorer = ClipScorer(str(clip_path), device="cpu")
    rec = make_record(0, recaption="word " * 60)  # ~300 tokens with the char-level tiny vocab
    ids = scorer.tokenizer(rec["recaption"])["input_ids"]
    assert len(ids) > 77
    out = scorer([rec], Rejects())[0]
    assert scorer.truncated["recaption"] == 1 and scorer.truncated["caption"] == 0
    cut = ids[:76] + [scorer.tokenizer.eos_token_id]  # the end token is kept
    assert abs(out["clip_score_recaption"] - reference_clip(clip_path, rec["image"]["bytes"], cut)) < 1e-5


def test_long_text_mode_averages_sentence_chunks(clip_path):
    scorer = ClipScorer(str(clip_path), device="cpu", long_text=True)
    text = " ".join(f"Panel {c} shows the response." for c in "abcdefgh")
    rec = make_record(0, recaption=text)
    chunks = scorer.chunks(text)
    assert len(chunks) > 1 and " ".join(chunks) == text
    assert all(scorer.n_tokens(c) <= 77 for c in chunks)
    out = scorer([rec], Rejects())[0]
    expected = np.mean([reference_clip(clip_path, rec["image"]["bytes"], scorer.tokenizer(c)["input_ids"]) for c in chunks])
    assert abs(out["clip_score_recaption"] - expected) < 1e-5 and scorer.truncated["recaption"] == 0


def test_bad_image_is_a_counted_reject_and_the_record_kept(clip):
    records = [make_record(0), make_record(1, image=b"\x89PNG broken")]
    rejects = Rejects()
    out = clip(records, rejects)
    assert len(out) == 2 and out[1]["clip_score_caption"] is None and out[0]["clip_score_caption"] is not None
    assert rejects.by_reason() == {"score_image_undecodable": 1}


def reference_pppl(bert_path, text: str, window: int = 512) -> float:
    """One masked copy at a time, one forward pass each, full logits: the plain definition."""
    from transformers import AutoTokenizer, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(str(bert_path))
    model = BertForMaskedLM.from_pretrained(str(bert_path), dtype=torch.float64).eval()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    W, n = window - 2, len(ids)
    starts = [0] if n <= W else list(range(0, n - W, W // 2)) + [n - W]
    pll = 0.0
    for i in range(n):
        s = min((s for s in starts if s <= i < s + W), key=lambda s: (abs(i - (s + W / 2)), s))
        seq = [tok.cls_token_id] + ids[s:s + W] + [tok.sep_token_id]
        seq[i - s + 1] = tok.mask_token_id
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([seq])).logits[0, i - s + 1]
        pll += torch.log_softmax(logits, -1)[ids[i]].item()
    return math.exp(-pll / n)


TEXTS = ["The figure shows the magnetic field versus temperature.", "Two curves.",
         "Measured spin structure factor; red line: fit (theory), blue points: data."]


def test_pseudo_perplexity_equals_an_unbatched_loop(bert_path):
    scorer = PseudoPerplexityScorer(str(bert_path), device="cpu", batch_size=7, dtype="float64")
    got = scorer.pseudo_perplexity(TEXTS + ["", None])
    assert got[3] is None and got[4] is None
    for text, v in zip(TEXTS, got):
        assert abs(v - reference_pppl(bert_path, text)) < 1e-5
    f32 = PseudoPerplexityScorer(str(bert_path), device="cpu", batch_size=64).pseudo_perplexity(TEXTS)
    assert all(abs(a - b) / b < 1e-5 for a, b in zip(f32, got))  # float32 (the default) agrees closely


def test_long_texts_are_scored_in_sliding_windows(bert_path):
    scorer = PseudoPerplexityScorer(str(bert_path), device="cpu", batch_size=16, max_length=20, dtype="float64")
    text = TEXTS[0] + " " + TEXTS[2]
    n = len(scorer.token_ids(text))
    assert n > 18
    got = scorer.pseudo_perplexity([text], "recaption")[0]
    assert scorer.windowed["recaption"] == 1
    assert abs(got - reference_pppl(bert_path, text, window=20)) < 1e-5


def test_window_plan_scores_every_token_once():
    for n, w in [(5, 10), (10, 10), (11, 10), (100, 10), (513, 510)]:
        plan = window_plan(n, w)
        scored = sorted(i for _, pos in plan for i in pos)
        assert scored == list(range(n))
        assert all(s <= i < s + w for s, pos in plan for i in pos)


def test_pseudo_perplexity_stage_fills_both_fields(bert_path):
    scorer = PseudoPerplexityScorer(str(bert_path), device="cpu")
    out = scorer([make_record(0, recaption=None), make_record(1)], Rejects())
    assert out[0]["pseudo_ppl_recaption"] is None and out[0]["pseudo_ppl_caption"] > 1
    assert out[1]["pseudo_ppl_recaption"] > 1
