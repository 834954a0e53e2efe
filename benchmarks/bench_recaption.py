"""Recaption and scoring throughput, measured side by side in one run.

    .venv/bin/python benchmarks/bench_recaption.py [--model DIR] [--items 32] [--new-tokens 32] [--device cpu]

1. ``transformers`` backend: items/s at batch sizes 1, 4 and 16 (the same items, the same number
   of new tokens per item: ``min_new_tokens = max_new_tokens``), and the speed-up over batch 1.
   Default model: the tiny random-weight Qwen2.5-VL built from a config (the code path is the
   real one; absolute numbers say nothing about a real checkpoint). ``--model`` takes a real
   checkpoint folder or Hub id (see benchmarks/gpu/).
2. Scoring: CLIP score (records/s, caption + recaption) and pseudo-perplexity (texts/s and
   masked copies/s) with tiny CLIP and BERT models, or ``--clip-model`` / ``--mlm-model``.
3. ``context`` backend: items/s (no model), for scale.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import draw_figure, make_record  # noqa: E402


def records(n: int) -> list[dict]:
    sizes = [(320, 240), (640, 360), (200, 500), (800, 600)]
    return [make_record(i, image=draw_figure(i, size=sizes[i % 4]), recaption=None,
                        abstract="We measure the magnetic response of frustrated magnets. " * (1 + i % 5))
            for i in range(n)]


def bench_transformers(model: str, items: int, new_tokens: int, device: str, dtype: str, batch_sizes) -> dict:
    from s1mmalign.builder.stages.recaption import make_recaptioner
    from s1mmalign.builder.stages.recaption.base import Request, prepare_image
    from s1mmalign.builder.stages.recaption.prompt import build_prompt

    rc = make_recaptioner("transformers", model=model, device=device, dtype=dtype, max_new_tokens=new_tokens,
                          min_new_tokens=new_tokens, max_pixels=448 * 448)
    be = rc.backend
    recs = records(items)
    reqs = [Request(r["key"], build_prompt(r), r, prepare_image(r["image"]["bytes"], 448 * 448)) for r in recs]
    be.generate(reqs[:2])  # warm-up
    out = {}
    for bs in batch_sizes:
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(0, len(reqs), bs):
            be.generate(reqs[i:i + bs])
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        out[bs] = len(reqs) / (time.perf_counter() - t)
    rc.close()
    return out


def bench_scoring(clip_model: str, mlm_model: str, items: int, device: str) -> dict:
    from s1mmalign.builder.records.rejects import Rejects
    from s1mmalign.builder.stages.recaption import make_recaptioner
    from s1mmalign.builder.stages.scoring import ClipScorer, PseudoPerplexityScorer

    recs = make_recaptioner("context", overwrite=True)(records(items), Rejects())
    clip = ClipScorer(clip_model, device=device, batch_size=32)
    clip(recs[:4])
    t = time.perf_counter()
    clip(recs)
    clip_rate = len(recs) / (time.perf_counter() - t)
    mlm = PseudoPerplexityScorer(mlm_model, device=device, batch_size=128)
    texts = [r["caption"] for r in recs] + [r["recaption"] for r in recs]
    copies = sum(len(mlm.token_ids(x)) for x in texts)
    mlm.pseudo_perplexity(texts[:2])
    t = time.perf_counter()
    mlm.pseudo_perplexity(texts)
    dt = time.perf_counter() - t
    ctx, many = make_recaptioner("context", overwrite=True), records(items * 4)
    t = time.perf_counter()
    ctx(many, Rejects())
    return {"clip_records_per_s": clip_rate, "pppl_texts_per_s": len(texts) / dt, "pppl_masked_copies_per_s": copies / dt,
            "context_items_per_s": items * 4 / (time.perf_counter() - t)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="Qwen-VL checkpoint (default: tiny random-weight model built here)")
    ap.add_argument("--clip-model")
    ap.add_argument("--mlm-model")
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch-sizes", default="1,4,16")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    args = ap.parse_args()
    import torch

    from s1mmalign.builder.stages.recaption.tiny import build_tiny_bert_mlm, build_tiny_clip, build_tiny_qwen2_5_vl

    tmp = Path(tempfile.mkdtemp(prefix="bench-recaption-"))
    model = args.model or str(build_tiny_qwen2_5_vl(tmp / "qwen"))
    clip_model = args.clip_model or str(build_tiny_clip(tmp / "clip"))
    mlm_model = args.mlm_model or str(build_tiny_bert_mlm(tmp / "bert"))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, "
          f"items {args.items}, new tokens/item {args.new_tokens}")
    print(f"recaption model: {'tiny random-weight Qwen2.5-VL' if not args.model else model}")
    rates = bench_transformers(model, args.items, args.new_tokens, args.device, args.dtype,
                               [int(b) for b in args.batch_sizes.split(",")])
    base = rates[min(rates)]
    for bs, r in rates.items():
        print(f"transformers  batch {bs:>3}: {r:8.2f} items/s  ({r / base:4.2f}x batch {min(rates)})")
    s = bench_scoring(clip_model, mlm_model, args.items, args.device)
    print(f"CLIP score      : {s['clip_records_per_s']:8.1f} records/s (caption + recaption; "
          f"{'tiny model' if not args.clip_model else clip_model})")
    print(f"pseudo-perplexity: {s['pppl_texts_per_s']:8.1f} texts/s, {s['pppl_masked_copies_per_s']:.0f} masked copies/s "
          f"({'tiny model' if not args.mlm_model else mlm_model})")
    print(f"context backend : {s['context_items_per_s']:8.1f} items/s")


if __name__ == "__main__":
    main()
