"""``s1mmalign demo [OUT]``: the whole path that exists, on the sample shipped with the package.

Steps run in order; each prints what it did. Later stages (release conversion, paper
ingestion, recaptioning, evaluation, streaming) add a step to :data:`STEPS`: a function
``step(ctx)`` taking the :class:`DemoContext`, which carries the sample folder, the output
folder, the current manifest and a ``say`` printer.
"""

from __future__ import annotations

import importlib
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


def _lazy(target: str) -> Callable[[DemoContext], None]:
    """A step named ``module:function``, imported when it runs (``--help`` stays fast)."""
    module, name = target.split(":")

    def step(ctx: DemoContext) -> None:
        return getattr(importlib.import_module(module), name)(ctx)

    step.__name__ = name
    return step


#: The demo, in order: every stage that exists, on the bundled sample.
STEPS: list[Callable[[DemoContext], None]] = [
    _lazy("s1mmalign.builder.convert:step_convert"),  # release layout -> convert
    _lazy("s1mmalign.builder.ingest:step_ingest"),  # sample papers -> ingest
    _lazy("s1mmalign.builder.recaption.demo:step_recaption"),  # context backend
    step_write,
    _lazy("s1mmalign.builder.recaption.demo:step_evaluate"),  # tiny-model CLIP score / pseudo-perplexity
    step_load,
    _lazy("s1mmalign.loaders.demo:step_stream"),  # the dataset -> training batches
    _lazy("s1mmalign.builder.build:step_build"),  # papers -> dataset, resumable
]


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
