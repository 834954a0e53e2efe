"""``s1mmalign demo [OUT]``: the whole path that exists, on the sample shipped with the package.

Steps run in order; each prints what it did. Later stages (release conversion, paper
ingestion, recaptioning, evaluation, streaming) add a step to :data:`STEPS`: a function
``step(ctx)`` taking the :class:`DemoContext`, which carries the sample folder, the output
folder, the current manifest and a ``say`` printer.
"""

from __future__ import annotations

import importlib
import json
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


#: Written into the demo's folder first: what the demo made there (removed by the next demo run, and only that).
MARKER = ".s1mmalign-demo.json"


def _claim(target: Path, force: bool) -> None:
    """Make ``target`` ready for a demo run; never deletes what an earlier demo did not write."""
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} is a file; name a new or empty folder for the demo")
    marker = target / MARKER
    if marker.is_file():  # an earlier demo's output: remove exactly what it listed
        try:
            made = json.loads(marker.read_text(encoding="utf-8")).get("made", [])
        except ValueError:
            made = []
        for name in made:
            p = target / name
            if name and "/" not in name and name not in (".", "..") and (p.exists() or p.is_symlink()):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    elif target.exists() and any(target.iterdir()) and not force:
        raise ValueError(f"{target} is not empty and not a previous demo's output; choose a new or empty folder, "
                         "or pass --force to write the demo into it (its files are kept unless the demo writes the same names)")
    target.mkdir(parents=True, exist_ok=True)
    _write_marker(target, [])


def _write_marker(target: Path, made: list[str]) -> None:
    from s1mmalign.core.atomic import write_text_atomic

    write_text_atomic(target / MARKER, json.dumps({"made": sorted(made)}))


def run_demo(out: Optional[str] = None, *, force: bool = False) -> DemoContext:
    target = Path(out) if out else Path(tempfile.mkdtemp(prefix="s1mmalign-demo-"))
    _claim(target, force)
    before = {p.name for p in target.iterdir()}  # kept: not the demo's
    ctx = DemoContext(out=target)
    ctx.say(f"output folder: {target}")
    try:
        for step in STEPS:
            step(ctx)
    finally:  # what this run made, so the next demo run removes exactly that
        _write_marker(target, [p.name for p in target.iterdir() if p.name not in before and p.name != MARKER])
    ctx.say("done")
    return ctx


def add_cli(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on the bundled sample (offline, ~1 min)",
                       description="Run every stage that exists on the small sample shipped with the package "
                                   "and read the result back with datasets.load_dataset.")
    p.add_argument("out", nargs="?", help="output folder (default: a new temporary folder); must be new, empty, "
                                          "or an earlier demo's output (whose files are replaced)")
    p.add_argument("--force", action="store_true", help="write into a folder that holds other files (they are kept)")
    p.set_defaults(func=lambda args: run_demo(args.out, force=args.force) and 0)
