"""The demo's steps, each ``step(ctx)`` on a :class:`~s1mmalign.builder.commands.demo.DemoContext`.

Fixture code, apart from the commands it exercises: release conversion, paper ingestion,
recaption with the ``context`` backend, writing, evaluation with tiny random-weight models (the
report and plots are made; the scores mean nothing), ``load_dataset``, and a resumable build.
"""

from __future__ import annotations

import itertools
import re
import time

from s1mmalign.builder.records.rejects import Rejects


def step_convert(ctx) -> None:
    """Demo: the sample in the release layout (split parts included), then ``convert``."""
    from s1mmalign.builder.commands.convert import convert_release
    from s1mmalign.builder.shards.writers import ShardOptions
    from s1mmalign.builder.sources.sample_release import sample_release

    release = sample_release(ctx.out / "release", ctx.manifest)
    converted = ctx.out / "converted"
    report = convert_release(release, converted, progress=False, workers=1,  # a few records: no processes
                             options=ShardOptions(parquet_shard_bytes=1 << 20, tar_shard_bytes=1 << 20))
    ctx.notes["converted"] = converted
    ctx.say(f"convert: release in {release} -> {report['written']} records in {converted} "
            f"(rejected {report['rejected']}, sources {sorted(report['sources'])})")


def step_ingest(ctx) -> None:
    """Demo: the sample papers (arXiv LaTeX, and JATS when its sample is there) through ``ingest``;
    the next steps read the bundled sample's records plus the ingested ones."""
    from s1mmalign.builder.commands.ingest import ingest
    from s1mmalign.builder.records.manifest import (
        MANIFEST_NAME,
        read_manifest,
        write_manifest,
    )

    papers = ctx.sample / "papers"
    sources = [papers] + [p for p in (ctx.sample / "jats",) if p.is_dir()]
    out = ctx.out / "ingested"
    report = ingest(sources, out, arxiv_metadata=papers / "arxiv-metadata.jsonl", progress=False)
    ctx.say(f"ingest: {report['units']} papers -> {report['records_written']} figure records in {out / MANIFEST_NAME} "
            f"(rejected {report['rejected']}: {report['rejects_by_reason']}; stages: {', '.join(report['stages']) or 'none'})")
    # One manifest for the next steps: the bundled sample's records, then the ingested ones.
    # Its images are written beside it; the ingested ones are there already.
    combined = out / "with_sample.jsonl"
    scratch = Rejects()
    n = write_manifest(itertools.chain(read_manifest(ctx.manifest, scratch), read_manifest(out / MANIFEST_NAME, scratch)), combined)
    ctx.manifest = combined
    ctx.notes["ingested"] = out
    ctx.say(f"ingest: {n} records (bundled sample + ingested papers) -> {combined}")


def step_recaption(ctx) -> None:
    from s1mmalign.builder.records.manifest import read_manifest, write_manifest
    from s1mmalign.builder.stages.recaption import make_recaptioner

    rejects = Rejects()
    stage = make_recaptioner("context", overwrite=True, cache=None)
    out = ctx.out / "recaptioned" / "manifest.jsonl"
    n = write_manifest(stage(list(read_manifest(ctx.manifest, rejects)), rejects), out)
    ctx.manifest = out
    ctx.say(f"recaption: {stage.stats['recaptioned']} of {n} records with {stage.model_string} -> {out} "
            f"(failed {stage.stats['failed']})")


def step_evaluate(ctx) -> None:
    from s1mmalign.builder.commands.evaluate import evaluate_dataset
    from s1mmalign.builder.records.manifest import read_manifest
    from s1mmalign.builder.stages.recaption.tiny import (
        build_tiny_bert_mlm,
        build_tiny_clip,
    )

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


def step_write(ctx) -> None:
    from s1mmalign.builder.records.manifest import read_manifest
    from s1mmalign.builder.shards.write import write_dataset
    from s1mmalign.builder.shards.writers import ShardOptions

    ctx.dataset = ctx.out / "dataset"
    rejects = Rejects()
    report = write_dataset(read_manifest(ctx.manifest, rejects), ctx.dataset, rejects=rejects,
                           options=ShardOptions(parquet_shard_bytes=1 << 20, tar_shard_bytes=1 << 20))
    ctx.say(f"write: {report['written']} records -> {report['shards']} shards in {ctx.dataset} "
            f"(rejected {report['rejected']})")


def step_load(ctx) -> None:
    import datasets

    root = str(ctx.dataset)
    ds = datasets.load_dataset(root, split="train")
    ctx.say(f"load_dataset({root!r}): {ds.num_rows} rows; first: {ds[0]['key']} "
            f"{ds[0]['image'].size} [{ds[0]['discipline']}/{ds[0]['modality']}] {ds[0]['caption'][:60]!r}")
    for config in ("physics", "modality-plot"):
        stream = datasets.load_dataset(root, config, split="train", streaming=True)
        keys = [r["key"] for r in stream]
        ctx.say(f"load_dataset({root!r}, {config!r}, streaming=True): {len(keys)} rows")


def step_build(ctx) -> None:
    """Demo: the sample papers and JATS articles through every stage, resumably; then a rerun
    (everything skipped) and what ``publish`` would upload."""
    from s1mmalign.builder.commands.build import run_build
    from s1mmalign.builder.commands.publish import plan_upload

    sample = ctx.sample
    out = ctx.out / "build"
    sources = [str(p) for p in (sample / "papers", sample / "jats") if p.exists()]
    report = run_build(None, progress=False, sources=sources, out=str(out), recaptioner="context")
    s = report["stages"]
    ctx.say(f"build: {s['ingest']['units']} units, {s['ingest']['records_out']} figures ingested, "
            f"{s['write']['records_out']} written to {out} in {report['wall_s']:.1f} s "
            f"(rejects: {report['rejects_by_reason'] or 'none'})")
    again = run_build(None, progress=False, sources=sources, out=str(out), recaptioner="context")
    skipped = sum(a.get("units_skipped", 0) for a in again["stages"].values())
    ctx.say(f"build again: {skipped} (stage, unit) pairs skipped, nothing redone ({again['wall_s']:.2f} s)")
    plan = plan_upload(out)
    ctx.say(f"publish --dry-run: {len(plan.files)} files, {plan.total_bytes / 1e6:.1f} MB would be uploaded")
