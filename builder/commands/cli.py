"""The ``s1mmalign`` command line: one subcommand per job, each defined beside its code.

A command module exposes ``add_cli(subparsers)``, which adds its parser and sets
``func`` (called with the parsed args, returns an exit code). Modules are imported only
to build the parser, so keep their top-level imports light (torch, transformers and
friends are imported inside the functions that need them).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import signal
import sys
import threading
from typing import Optional, Sequence

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "s1mmalign.builder.commands.demo",
    "s1mmalign.builder.commands.ingest",
    "s1mmalign.builder.commands.write",
    "s1mmalign.builder.commands.recaption",
    "s1mmalign.builder.commands.evaluate",
    "s1mmalign.builder.commands.convert",
    "s1mmalign.builder.commands.build",
    "s1mmalign.builder.commands.publish",
    "s1mmalign.builder.commands.reindex",
    "s1mmalign.loaders.cli",
)


def _add_common(parser: argparse.ArgumentParser, default) -> None:
    """Options every command takes, before or after the subcommand's name."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="only warnings and errors: no progress, no summary")
    parser.add_argument("--debug", action="store_true", default=default, help="show the traceback of an error")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's preemption, ``kill``), unwound like Ctrl-C: staging folders and locks
    are let go by the same ``finally`` blocks, and the user is told how to resume."""


def _terminate_handler(owner: int):
    def handler(signum, frame):
        if os.getpid() != owner:  # a forked worker: die as a worker does (its pool is being shut down)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()
    return handler


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("s1mmalign")
    except PackageNotFoundError:
        return "(source)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s1mmalign",
        description="Build, check, publish and stream S1-MMAlign scientific figure-caption datasets.",
    )
    parser.add_argument("--version", action="version", version=f"s1mmalign {_version()}")
    _add_common(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    for p in sub.choices.values():  # after the subcommand too; given there, it wins
        _add_common(p, argparse.SUPPRESS)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from s1mmalign.core.progress import set_quiet

    set_quiet(args.quiet)
    try:
        with contextlib.ExitStack() as stack:
            if threading.current_thread() is threading.main_thread():
                previous = signal.signal(signal.SIGTERM, _terminate_handler(os.getpid()))
                stack.callback(signal.signal, signal.SIGTERM, previous)
            if args.quiet:
                stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
            return int(args.func(args) or 0)
    except KeyboardInterrupt as e:
        what, rc = ("terminated (SIGTERM)", 143) if isinstance(e, Terminated) else ("interrupted", 130)
        print(f"s1mmalign {args.command}: {what}; rerun the same command to resume or start again", file=sys.stderr)
        return rc
    except Exception as e:  # one line; --debug shows the traceback
        if args.debug:
            raise
        print(f"s1mmalign {args.command}: error: {explain(e, args.command)}", file=sys.stderr)
        return 1


_USER_ERRORS = (ValueError, RuntimeError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
_NETWORK_ERRORS = {"ConnectError", "ConnectTimeout", "ConnectionError", "gaierror", "NameResolutionError",
                   "MaxRetryError", "OfflineModeIsEnabled", "ClientConnectorError"}


# the options that name a model by its Hub id, per command: the offline hint names only those
_MODEL_OPTIONS = {"evaluate": "--clip-model, --mlm-model", "recaption": "--model"}


def explain(e: BaseException, command: str = "") -> str:
    """One line for an error: what is wrong and what to do (``command``: the hint names its own options)."""
    chain, seen = [], e
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for c in chain:
        if type(c).__name__ in _NETWORK_ERRORS or (isinstance(c, OSError) and c.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED)):
            models = _MODEL_OPTIONS.get(command)
            return (f"cannot reach the network ({type(c).__name__}: {_first_line(c)}); "
                    "check the connection, or use local copies: a folder instead of a URL"
                    + (f", a model folder instead of a Hub id ({models})" if models else ""))
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        hint = {IsADirectoryError: "is a folder; name a file", NotADirectoryError: "a part of this path is a file, not a folder",
                PermissionError: "permission denied; choose a path you can write to",
                FileNotFoundError: "no such file or folder"}.get(type(e), e.strerror)
        return f"{e.filename}: {hint}"
    if isinstance(e, _USER_ERRORS) or type(e).__name__ == "UsageError":
        return _first_line(e)
    return f"{type(e).__name__}: {_first_line(e)} (rerun with --debug for the traceback)"


def _first_line(e: BaseException) -> str:
    """The message on one line (a multi-line message joined, not cut: its advice is often last)."""
    return " ".join(str(e).split()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
