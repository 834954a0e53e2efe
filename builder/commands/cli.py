"""The ``s1mmalign`` command line: one subcommand per job, each defined beside its code.

A command module exposes ``add_cli(subparsers)``, which adds its parser and sets
``func`` (called with the parsed args, returns an exit code). Modules are imported only
to build the parser, so keep their top-level imports light (torch, transformers and
friends are imported inside the functions that need them).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional, Sequence

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "s1mmalign.builder.commands.demo",
    "s1mmalign.builder.commands.ingest",
    "s1mmalign.builder.shards.write",
    "s1mmalign.builder.commands.recaption",
    "s1mmalign.builder.commands.evaluate",
    "s1mmalign.builder.commands.convert",
    "s1mmalign.builder.commands.build",
    "s1mmalign.builder.commands.publish",
    "s1mmalign.loaders.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s1mmalign",
        description="Build, check, publish and stream S1-MMAlign scientific figure-caption datasets.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        if args.verbose:
            raise
        print(f"s1mmalign {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
