"""``s1mmalign recaption INPUT OUT --backend NAME --model ID_OR_PATH``.

INPUT is a manifest (``manifest.jsonl``) or a dataset folder; OUT is the same kind: a new
manifest (images copied beside it) or a new dataset folder written with ``write_dataset``.
Records that already have a recaption are kept as they are unless ``--redo-recaptions``. A cache
(default ``~/.cache/s1mmalign/recaption``) makes a rerun recompute nothing already done.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.core.cli_args import positive


def add_cli(sub) -> None:
    from s1mmalign.builder.stages.recaption import BACKENDS
    from s1mmalign.builder.stages.recaption.base import DEFAULT_MAX_PIXELS

    p = sub.add_parser(
        "recaption",
        help="enrich captions with Qwen-VL (or the model-free `context` method)",
        description="Fill `recaption` for every record of a manifest or dataset folder. Backends: "
                    "transformers (Qwen2.5-VL/Qwen3-VL), vllm (GPU, extra), openai (any OpenAI-compatible "
                    "endpoint, e.g. `vllm serve`), context (no model). See docs/recaption.md.",
    )
    p.add_argument("input", help="manifest.jsonl or a dataset folder")
    p.add_argument("out", help="output manifest (.jsonl) or dataset folder (same kind as INPUT)")
    p.add_argument("--backend", choices=BACKENDS, default="transformers", help="default: transformers")
    p.add_argument("--model", help="Hub id or local folder (default: the backend's, e.g. Qwen/Qwen2.5-VL-7B-Instruct)")
    p.add_argument("--revision", help="model revision (commit, tag or branch) to load and record")
    p.add_argument("--batch-size", type=positive(int), default=8, help="items per generate call (default 8)")
    p.add_argument("--retries", type=int, default=1, help="retries of an item whose output fails validation")
    p.add_argument("--model-max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"images are downscaled to at most this many pixels for the model (default {DEFAULT_MAX_PIXELS})")
    p.add_argument("--max-new-tokens", type=int, default=384)
    p.add_argument("--device", default="auto", help="transformers: cuda, cuda:1, cpu (default: auto)")
    p.add_argument("--dtype", default="auto", help="transformers: bfloat16, float16, float32 (default: bf16 on GPU)")
    p.add_argument("--base-url", help="openai: endpoint, e.g. http://localhost:8000/v1")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the key")
    p.add_argument("--concurrency", type=positive(int), default=8, help="openai: requests in flight")
    p.add_argument("--timeout", type=positive(float), default=120.0, help="openai: seconds per request")
    p.add_argument("--cache", help="cache folder (default ~/.cache/s1mmalign/recaption or $S1MMALIGN_RECAPTION_CACHE)")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--redo-recaptions", action="store_true", dest="redo",
                   help="recaption records that already have a recaption too (default: keep theirs)")
    p.add_argument("--limit", type=positive(int), help="only the first N records (a trial run)")
    p.add_argument("--no-progress", action="store_true")
    from s1mmalign.builder.commands.write import add_shard_arguments

    add_shard_arguments(p)
    p.set_defaults(func=run)


def backend_options(args) -> dict:
    opts: dict = {}
    if args.model:
        opts["model"] = args.model
    if args.revision:
        opts["revision"] = args.revision
    if args.backend in ("transformers", "vllm"):
        opts["max_new_tokens"] = args.max_new_tokens
    if args.backend == "transformers":
        opts.update(device=args.device, dtype=args.dtype)
    if args.backend == "openai":
        opts.update(api_key_env=args.api_key_env, concurrency=args.concurrency, timeout=args.timeout,
                    max_tokens=args.max_new_tokens)
        if args.base_url:
            opts["base_url"] = args.base_url
    return opts


def run(args) -> int:
    from s1mmalign.builder.commands.write import check_outcome
    from s1mmalign.builder.records.manifest import MANIFEST_NAME, check_manifest
    from s1mmalign.builder.shards.target import args_fingerprint, commit_file_target, open_file_target, open_target
    from s1mmalign.builder.stages.recaption import make_recaptioner
    from s1mmalign.builder.stages.recaption.cache import default_cache_dir
    from s1mmalign.builder.stages.recaption.io import (
        batched,
        count_rows,
        is_dataset_folder,
        iter_dataset_records,
    )

    src, out = Path(args.input), Path(args.out)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist")
    if src.resolve() == out.resolve():
        raise ValueError("OUT must differ from INPUT (the input is never modified)")
    dataset_in = src.is_dir()
    if dataset_in and not is_dataset_folder(src):
        raise ValueError(f"{src} is a folder without Parquet shards under data/: not a dataset folder")
    if not dataset_in:
        check_manifest(src)
        if args.out.endswith(("/", os.sep)) or out.is_dir():  # a folder: OUT/manifest.jsonl, images beside it
            out = out / MANIFEST_NAME
    if src.resolve() == out.resolve():
        raise ValueError("OUT must differ from INPUT (the input is never modified)")
    from s1mmalign.builder.commands.write import print_report, shard_options_from_args

    options = shard_options_from_args(args) if dataset_in else None  # a mistyped --formats fails before OUT is touched
    fp = args_fingerprint(args, files=[] if dataset_in else [src], paths=["input"])
    target = open_target(out, "recaption", fp, overwrite=args.overwrite) if dataset_in else None
    if not dataset_in:
        open_file_target(out, "recaption", fp, overwrite=args.overwrite)
    cache = None if args.no_cache else (args.cache or default_cache_dir())
    rejects = Rejects()
    try:
        stage = make_recaptioner(args.backend, cache=cache, batch_size=args.batch_size, retries=args.retries,
                                 max_pixels=args.model_max_pixels, overwrite=args.redo, progress=not args.no_progress,
                                 **backend_options(args))
    except Exception:
        if target is not None:
            target.abandon()  # a bad option or model: no unfinished run left to refuse the corrected command
        raise
    started = time.perf_counter()

    def records():
        if dataset_in:
            yield from iter_dataset_records(src)
        else:
            from s1mmalign.builder.records.manifest import read_manifest

            yield from read_manifest(src, rejects)

    def limited():
        for i, r in enumerate(records()):
            if args.limit is not None and i >= args.limit:
                return
            yield r

    def recaptioned():
        chunk = max(args.batch_size * 8, 64)  # several generate calls per stage call: retries batch too
        for batch in batched(limited(), chunk):
            yield from stage(batch, rejects)

    try:
        if dataset_in:
            from s1mmalign.builder.shards.write import write_dataset

            total = count_rows(src)
            print(f"recaption {src} ({total} records) -> {out} with {stage.model_string}")
            try:
                report = write_dataset(recaptioned(), target.path, options=options, rejects=rejects,
                                       max_pixels=args.max_pixels, image_check=args.image_check)
            except Exception:
                target.abandon()  # failed before any shard was written
                raise
            written = report["written"]
            target.commit() if written else target.fail()
            print_report(report, out)
        else:
            from s1mmalign.builder.records.manifest import write_manifest

            print(f"recaption {src} -> {out} with {stage.model_string}")
            out.parent.mkdir(parents=True, exist_ok=True)
            written = write_manifest(recaptioned(), out, rejects=rejects)
            commit_file_target(out, "recaption", fp)
            print(f"wrote {written} records to {out}")
            if len(rejects):
                rejects.write_jsonl(out.with_name(out.stem + ".rejects.jsonl"))
    finally:
        stage.close()
    s = stage.stats
    print(json.dumps({**s, "seconds": round(time.perf_counter() - started, 2), "cache": str(cache) if cache else None,
                      "rejects_by_reason": rejects.by_reason()}))
    errors = [r for r in rejects if r.reason == "recaption_backend_error"]
    if errors and len(errors) == s["failed"] and not (s["recaptioned"] or s["cached"]):
        # not one request answered (an endpoint down or mistyped): a setup error, not a few rejects
        raise RuntimeError(f"every recaption failed ({s['failed']} records; {out} holds them with their original "
                           f"captions): {errors[0].detail}; check the backend's options (--base-url, --model) and rerun")
    check_outcome(written, len(rejects), args.max_reject_rate)
    return 0
