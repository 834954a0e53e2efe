"""CLIP score, pseudo-perplexity and greedy recaptions on a GPU against the same on the CPU.

    python benchmarks/gpu/compare_devices.py [--device cuda] [--items 8]

Tiny random-weight CLIP, BERT masked LM and Qwen2.5-VL (builder/recaption/tiny.py), the same
records, scored once on the CPU in float32 (the reference) and on ``--device`` in several
precisions. Each score row is checked against a stated tolerance and printed PASS/FAIL; the
exit status is 1 if any row fails. Tolerances (CLIP score is 2.5 * max(cos, 0), in [0, 2.5]):

* float32, TF32 off        : |dCLIP| <= 1e-5, |dPPPL| / PPPL <= 1e-5 (the unit tests' bound)
* float32, torch's defaults: |dCLIP| <= 1e-3, |dPPPL| / PPPL <= 1e-3 (cuDNN convolutions may use TF32)
* float64 (PPPL only)      : |dPPPL| / PPPL <= 1e-9 against float64 on the CPU
* bfloat16                 : |dCLIP| <= 0.05, |dPPPL| / PPPL <= 0.05 (8-bit mantissa)

Greedy generation is reported, not checked: with random weights the top two logits are often
nearly tied, so a different kernel order may flip one token and the texts diverge from there.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import draw_figure, make_record  # noqa: E402

TOL = {  # name -> (CLIP absolute, PPPL relative)
    "float32 (TF32 off)": (1e-5, 1e-5),
    "float32 (defaults)": (1e-3, 1e-3),
    "float64": (None, 1e-9),
    "bfloat16": (0.05, 0.05),
}


def sample_records(n: int) -> list[dict]:
    sizes = [(320, 240), (640, 360), (200, 500), (96, 72)]
    return [make_record(i, image=draw_figure(i, size=sizes[i % 4]),
                        recaption=f"A line plot of sample {i}: the response rises with temperature then saturates above {10 + i} K.")
            for i in range(n)]


@contextlib.contextmanager
def tf32(enabled: bool):
    import torch

    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def clip_scores(path, recs, device: str, dtype: str) -> list[float]:
    from s1mmalign.builder.records.rejects import Rejects
    from s1mmalign.builder.stages.scoring import ClipScorer

    out = ClipScorer(str(path), device=device, dtype=dtype, batch_size=4)(recs, Rejects())
    return [r[f"clip_score_{f}"] for r in out for f in ("caption", "recaption")]


def pppl(path, texts, device: str, dtype: str) -> list[float]:
    from s1mmalign.builder.stages.scoring import PseudoPerplexityScorer

    return PseudoPerplexityScorer(str(path), device=device, dtype=dtype, batch_size=32).pseudo_perplexity(texts)


def row(name: str, clip_ref, clip_got, ppl_ref, ppl_got) -> bool:
    tol_clip, tol_ppl = TOL[name]
    ok = True
    parts = [f"{name:<20}"]
    if clip_got is not None:
        d = max(abs(a - b) for a, b in zip(clip_ref, clip_got))
        ok &= d <= tol_clip
        parts.append(f"max |dCLIP| {d:.2e} (<= {tol_clip:g})")
    else:
        parts.append(f"{'':<31}")
    r = max(abs(a - b) / b for a, b in zip(ppl_got, ppl_ref))
    ok &= r <= tol_ppl
    parts.append(f"max |dPPPL|/PPPL {r:.2e} (<= {tol_ppl:g})")
    print("  ".join(parts) + ("  PASS" if ok else "  FAIL"))
    return ok


def same_order(ref, got) -> str:
    """How often caption-vs-recaption comparisons agree (the paper's "recaption scores higher")."""
    pairs = list(zip(ref[0::2], ref[1::2], got[0::2], got[1::2]))
    agree = sum((a < b) == (c < d) for a, b, c, d in pairs)
    return f"{agree}/{len(pairs)}"


def compare_generation(qwen, device: str, n: int, new_tokens: int) -> None:
    from s1mmalign.builder.stages.recaption.base import Request, prepare_image
    from s1mmalign.builder.stages.recaption.prompt import build_prompt
    from s1mmalign.builder.stages.recaption.transformers_backend import TransformersBackend

    recs = [make_record(i, image=draw_figure(i, size=[(96, 72), (200, 60), (50, 120), (128, 128)][i % 4]),
                        recaption=None, abstract="A longer abstract. " * (i + 1)) for i in range(n)]
    reqs = [Request(r["key"], build_prompt(r), r, prepare_image(r["image"]["bytes"], 112 * 112)) for r in recs]

    def texts(dev, dtype, batched=True):
        be = TransformersBackend(model=str(qwen), device=dev, dtype=dtype, max_new_tokens=new_tokens,
                                 min_new_tokens=new_tokens, max_pixels=112 * 112)
        out = be.generate(reqs) if batched else [be.generate([r])[0] for r in reqs]
        be.close()
        return out

    def prefix(a, b):
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        return k

    ref = texts("cpu", "float32")
    print(f"greedy generation, {n} requests x {new_tokens} new tokens, against the CPU in float32 (reported, not checked):")
    for label, got in [(f"{device} float32, batched", texts(device, "float32")),
                       (f"{device} float32, one at a time", texts(device, "float32", batched=False)),
                       (f"{device} bfloat16, batched", texts(device, "bfloat16"))]:
        same = sum(a == b for a, b in zip(ref, got))
        common = sum(prefix(a, b) for a, b in zip(ref, got)) / max(1, sum(len(a) for a in ref))
        print(f"  {label:<32} identical texts {same}/{n}, common prefix {common:5.1%} of the CPU text")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=24)
    args = ap.parse_args()
    import torch

    from s1mmalign.builder.stages.recaption.tiny import build_tiny_bert_mlm, build_tiny_clip, build_tiny_qwen2_5_vl

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device visible: pass --device cpu to rehearse")
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="compare-devices-"))
    clip, bert, qwen = build_tiny_clip(tmp / "clip"), build_tiny_bert_mlm(tmp / "bert"), build_tiny_qwen2_5_vl(tmp / "qwen")
    recs = sample_records(args.items)
    texts = [r[f] for r in recs for f in ("caption", "recaption")]
    print(f"torch {torch.__version__}; {args.items} records ({len(texts)} texts); reference: CPU float32 "
          f"(PPPL float64 row: CPU float64); device {args.device}"
          + (f" = {torch.cuda.get_device_name(0)}" if args.device.startswith("cuda") else ""))
    clip_ref, ppl_ref = clip_scores(clip, recs, "cpu", "float32"), pppl(bert, texts, "cpu", "float32")
    assert all(s is not None and s > 0 for s in clip_ref), "tiny CLIP gave empty or zero scores: nothing to compare"
    ok = True
    with tf32(False):
        c, p = clip_scores(clip, recs, args.device, "float32"), pppl(bert, texts, args.device, "float32")
        ok &= row("float32 (TF32 off)", clip_ref, c, ppl_ref, p)
        ok &= row("float64", None, None, pppl(bert, texts, "cpu", "float64"), pppl(bert, texts, args.device, "float64"))
    c, p = clip_scores(clip, recs, args.device, "float32"), pppl(bert, texts, args.device, "float32")
    ok &= row("float32 (defaults)", clip_ref, c, ppl_ref, p)
    c, p = clip_scores(clip, recs, args.device, "bfloat16"), pppl(bert, texts, args.device, "bfloat16")
    ok &= row("bfloat16", clip_ref, c, ppl_ref, p)
    print(f"bfloat16: caption-vs-recaption CLIP order as on the CPU in {same_order(clip_ref, c)} records, "
          f"PPPL order in {same_order(ppl_ref, p)}")
    print(f"CLIP scores (CPU float32) range {min(clip_ref):.4f}..{max(clip_ref):.4f}; "
          f"PPPL range {min(ppl_ref):.1f}..{max(ppl_ref):.1f}")
    compare_generation(qwen, args.device, 4, args.new_tokens)
    print(f"{'all score rows PASS' if ok else 'SOME SCORE ROWS FAILED'} ({time.perf_counter() - t0:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
