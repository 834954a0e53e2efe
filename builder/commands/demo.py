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

SAMPLE_DIR = Path(__file__).parents[1] / "sample"


@dataclass
class DemoContext:
    out: Path
    sample: Path = SAMPLE_DIR
    manifest: Path = SAMPLE_DIR / "manifest.jsonl"  # the records the next step reads
    dataset: Optional[Path] = None  # the dataset folder once written
    notes: dict = field(default_factory=dict)

    def say(self, msg: str) -> None:
        print(f"[demo] {msg}", flush=True)


def _lazy(target: str) -> Callable[[DemoContext], None]:
    """A step named ``module:function``, imported when it runs (``--help`` stays fast)."""
    module, name = target.split(":")

    def step(ctx: DemoContext) -> None:
        return getattr(importlib.import_module(module), name)(ctx)

    step.__name__ = name
    return step


#: The demo, in order: every stage that exists, on the bundled sample.
STEPS: list[Callable[[DemoContext], None]] = [
    _lazy("s1mmalign.builder.commands.demo_steps:step_convert"),  # release layout -> convert
    _lazy("s1mmalign.builder.commands.demo_steps:step_ingest"),  # sample papers -> ingest
    _lazy("s1mmalign.builder.commands.demo_steps:step_recaption"),  # context backend
    _lazy("s1mmalign.builder.commands.demo_steps:step_write"),
    _lazy("s1mmalign.builder.commands.demo_steps:step_evaluate"),  # tiny-model CLIP score / pseudo-perplexity
    _lazy("s1mmalign.builder.commands.demo_steps:step_load"),
    _lazy("s1mmalign.loaders.demo:step_stream"),  # the dataset -> training batches
    _lazy("s1mmalign.builder.commands.demo_steps:step_build"),  # papers -> dataset, resumable
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
