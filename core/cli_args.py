"""The filter flags every command spells the same: ``--discipline``, ``--modality``, ``--source-name``.

Each takes one name or a comma-separated list and may be repeated; the plural spellings
(``--disciplines physics,biology``) are the same flag. Values are checked against the taxonomy
where there is one, so a typo is an error naming the valid values, not an empty selection.
"""

from __future__ import annotations

import argparse
from typing import Optional

from s1mmalign.core.taxonomy import DISCIPLINES, MODALITIES


def _number(kind, holds, what: str):
    """An argparse ``type``: a number of ``kind`` for which ``holds`` is true (NaN never is)."""
    def parse(text: str):
        value = kind(text)
        if not holds(value):
            raise ValueError
        return value

    parse.__name__ = f"{what} {kind.__name__}"  # argparse: "invalid positive float value: '0'"
    return parse


def positive(kind):
    """An argparse ``type``: a number of ``kind`` above 0 (counts, sizes, batch sizes, workers)."""
    return _number(kind, lambda v: v > 0, "positive")


def at_least_zero(kind):
    """An argparse ``type``: a number of ``kind`` of 0 or more (how many to show)."""
    return _number(kind, lambda v: v >= 0, "non-negative")  # argparse: "invalid non-negative int value: '-2'"


def percent(text: str) -> float:
    """An argparse ``type``: a share from 0 to 100."""
    value = float(text)
    if not 0 <= value <= 100:  # (NaN included)
        raise ValueError
    return value


percent.__name__ = "percent (0 to 100)"  # argparse: "invalid percent (0 to 100) value: '150'"


class _Names(argparse.Action):
    """Append comma-separated names (``--x a,b --x c`` -> ``[a, b, c]``), checked against ``valid``."""

    def __init__(self, *args, valid: Optional[tuple] = None, noun: str = "name", **kwargs):
        self.valid, self.noun = valid, noun
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        names = [v.strip() for v in str(values).split(",") if v.strip()]
        bad = [n for n in names if self.valid is not None and n not in self.valid]
        if bad:
            parser.error(f"{option_string}: unknown {self.noun} {', '.join(bad)}; valid: {', '.join(self.valid)}")
        setattr(namespace, self.dest, (getattr(namespace, self.dest) or []) + names)


def add_filter_arguments(parser: argparse.ArgumentParser, *, disciplines: bool = True, modalities: bool = False,
                         sources: bool = False, sources_help: str = "keep this source, e.g. arxiv") -> None:
    """Add the filter flags a command takes; parsed values are lists (None when not given)."""
    if disciplines:
        parser.add_argument("--discipline", "--disciplines", dest="disciplines", action=_Names, valid=DISCIPLINES, noun="discipline",
                            metavar="NAME[,NAME]", help=f"keep these disciplines (repeatable; {', '.join(DISCIPLINES)})")
    if modalities:
        parser.add_argument("--modality", "--modalities", dest="modalities", action=_Names, valid=MODALITIES, noun="modality",
                            metavar="NAME[,NAME]", help=f"keep these figure modalities (repeatable; {', '.join(MODALITIES)})")
    if sources:
        parser.add_argument("--source-name", "--sources", dest="sources", action=_Names, metavar="NAME[,NAME]",
                            help=f"{sources_help} (repeatable, or comma-separated)")
