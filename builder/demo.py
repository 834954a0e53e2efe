"""``s1mmalign demo [OUT]``: the whole path that exists, on the sample shipped with the package.

Steps run in order; each prints what it did. Later stages (release conversion, paper
ingestion, recaptioning, evaluation, streaming) add a step to :data:`STEPS`: a function
``step(ctx)`` taking the :class:`DemoContext`, which carries the sample folder, the output
folder, the current manifest and a ``say`` printer.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

SAMPLE_DIR = Path(__file__).with_name("sample")


@dataclass
class DemoContext:
    out: Path
    sample: Path = SAMPLE_DIR
    manifest: Path = SAMPLE_DIR / "manifest.jsonl"  # the records the next step reads
    dataset: Optional[Path] = None  # the dataset folder once written
    notes: dict = field(default_factory=dict)

    def say(self, msg: str) -> None:
        print(f"[demo] {msg}", flush=True)


def step_write(ctx: DemoContext) -> None:
    from s1mmalign.builder.manifest import read_manifest
    from s1mmalign.builder.rejects import Rejects
    from s1mmalign.builder.shards import ShardOptions
    from s1mmalign.builder.write import write_dataset

    ctx.dataset = ctx.out / "dataset"
    rejects = Rejects()
    report = write_dataset(read_manifest(ctx.manifest, rejects), ctx.dataset, rejects=rejects,
                           options=ShardOptions(parquet_shard_bytes=1 << 20, tar_shard_bytes=1 << 20))
    ctx.say(f"write: {report['written']} records -> {report['shards']} shards in {ctx.dataset} "
            f"(rejected {report['rejected']})")


def step_load(ctx: DemoContext) -> None:
    import datasets

    root = str(ctx.dataset)
    ds = datasets.load_dataset(root, split="train")
    ctx.say(f"load_dataset({root!r}): {ds.num_rows} rows; first: {ds[0]['key']} "
            f"{ds[0]['image'].size} [{ds[0]['discipline']}/{ds[0]['modality']}] {ds[0]['caption'][:60]!r}")
    for config in ("physics", "modality-plot"):
        stream = datasets.load_dataset(root, config, split="train", streaming=True)
        keys = [r["key"] for r in stream]
        ctx.say(f"load_dataset({root!r}, {config!r}, streaming=True): {len(keys)} rows")


#: The demo, in order. Later issues insert their steps (e.g. convert before write).
from s1mmalign.builder.convert import step_convert  # noqa: E402  (release layout -> convert)
from s1mmalign.builder.ingest import step_ingest  # noqa: E402  (sample papers -> ingest)
from s1mmalign.builder.recaption.demo import step_evaluate, step_recaption  # noqa: E402  (context backend; tiny-model scores)

from s1mmalign.loaders.demo import step_stream  # noqa: E402  (the dataset -> training batches)

from s1mmalign.builder.build import step_build  # noqa: E402  (papers -> dataset, resumable)

STEPS: list[Callable[[DemoContext], None]] = [step_convert, step_ingest, step_recaption, step_write, step_evaluate,
                                              step_load, step_stream, step_build]


def run_demo(out: Optional[str] = None) -> DemoContext:
    target = Path(out) if out else Path(tempfile.mkdtemp(prefix="s1mmalign-demo-"))
    if target.exists() and any(target.iterdir()):
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=target)
    ctx.say(f"output folder: {target}")
    for step in STEPS:
        step(ctx)
    ctx.say("done")
    return ctx


def add_cli(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on the bundled sample (offline, ~1 min)",
                       description="Run every stage that exists on the small sample shipped with the package "
                                   "and read the result back with datasets.load_dataset.")
    p.add_argument("out", nargs="?", help="output folder (default: a new temporary folder); emptied first")
    p.set_defaults(func=lambda args: run_demo(args.out) and 0)
