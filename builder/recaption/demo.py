"""Demo steps: recaption the demo's manifest with the ``context`` backend (offline, no model),
and evaluate the written dataset with tiny CLIP and BERT models built from configs.

The tiny models have random weights: the evaluate step shows the report and plots being made,
not meaningful scores.
"""

from __future__ import annotations

import re
import time


def step_recaption(ctx) -> None:
    from s1mmalign.builder.manifest import read_manifest, write_manifest
    from s1mmalign.builder.recaption import make_recaptioner
    from s1mmalign.builder.rejects import Rejects

    rejects = Rejects()
    stage = make_recaptioner("context", overwrite=True, cache=None)
    out = ctx.out / "recaptioned" / "manifest.jsonl"
    n = write_manifest(stage(list(read_manifest(ctx.manifest, rejects)), rejects), out)
    ctx.manifest = out
    ctx.say(f"recaption: {stage.stats['recaptioned']} of {n} records with {stage.model_string} -> {out} "
            f"(failed {stage.stats['failed']})")


def step_evaluate(ctx) -> None:
    from s1mmalign.builder.evaluate import evaluate_dataset
    from s1mmalign.builder.recaption.tiny import build_tiny_bert_mlm, build_tiny_clip

    from s1mmalign.builder.manifest import read_manifest

    started, cpu = time.perf_counter(), time.process_time()
    models = ctx.out / "tiny-models"
    # The sample's own words in the vocab: word tokens, not characters (pseudo-perplexity costs
    # one forward pass per token).
    words = {w for r in read_manifest(ctx.manifest, load_images=False)
             for w in re.findall(r"[A-Za-z]+", f"{r.get('caption')} {r.get('recaption')}")}
    clip, mlm = build_tiny_clip(models / "clip"), build_tiny_bert_mlm(models / "bert", words=words)
    report = evaluate_dataset(ctx.dataset, clip_model=str(clip), mlm_model=str(mlm), device="cpu")
    c = report["clip_score"]
    change = f"{c['mean_change_pct']:+.2f} %" if c["mean_change_pct"] is not None else "n/a"
    ctx.say(f"evaluate (tiny random-weight models): {report['records']} records, CLIP score mean change {change} "
            f"(paper +18.21 %) -> {ctx.dataset / 'eval'}/report.md, plots, scores.parquet "
            f"({time.perf_counter() - started:.1f} s, {time.process_time() - cpu:.1f} s CPU)")
