"""Progress reporting: a tqdm bar on a terminal, a plain line every so often otherwise, nothing when quiet.

Every command's progress goes through :func:`progress`. On a terminal it is tqdm (``disable=None``:
tqdm's own check); when stderr is a file or a pipe (a log, CI) it prints one plain line per
``PLAIN_EVERY`` seconds instead of carriage-return redraws; ``set_quiet(True)`` (``--quiet``)
silences both.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Optional

PLAIN_EVERY = 30.0  # seconds between plain lines when stderr is not a terminal
_quiet = False


#: The environment switches of the Hugging Face libraries' own bars (model loading and saving, Hub
#: transfers, dataset preparation), read when each library is imported.
LIBRARY_BAR_SWITCHES = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS")


def set_quiet(quiet: bool) -> None:
    """Silence this package's progress, and with ``quiet`` the Hugging Face libraries' bars too
    (``--quiet`` means no progress at all, whoever draws it)."""
    global _quiet
    _quiet = quiet
    if not quiet:
        return
    for name in LIBRARY_BAR_SWITCHES:
        os.environ[name] = "1"
    # a library already imported has read its switch: told directly
    for module, call in (("huggingface_hub.utils", "disable_progress_bars"), ("datasets.utils.logging", "disable_progress_bar"),
                         ("transformers.utils.logging", "disable_progress_bar")):
        if module in sys.modules:
            getattr(sys.modules[module], call)()


def is_quiet() -> bool:
    return _quiet


class _Lines:
    """The tqdm methods the package uses, writing ``desc: n/total unit`` now and then to stderr."""

    def __init__(self, iterable: Optional[Iterable] = None, *, total: Optional[float] = None, desc: str = "",
                 unit: str = "it", initial: float = 0, every: float = PLAIN_EVERY, **_ignored: Any):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc.strip(), unit.strip() or "it"
        self.n, self.every, self.postfix = initial, every, ""
        self._last = self._start = time.monotonic()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._print()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in {**(ordered_dict or {}), **kwargs}.items())

    def _print(self) -> None:
        done = f"{self.n:.0f}/{self.total:.0f}" if self.total else f"{self.n:.0f}"
        extra = f" ({self.postfix})" if self.postfix else ""
        print(f"{self.desc}: {done} {self.unit}, {time.monotonic() - self._start:.0f} s{extra}", file=sys.stderr, flush=True)

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self.every is not None and self.n and time.monotonic() - self._start >= self.every:
            self._print()  # the final count, when a line was due at all
        self.every = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Off(_Lines):
    def update(self, n: float = 1) -> None:
        self.n += n

    def close(self) -> None:
        pass


def progress(iterable: Optional[Iterable] = None, *, enabled: bool = True, **kwargs: Any):
    """A progress bar over ``iterable`` (or one to ``update``): tqdm on a terminal, plain lines otherwise."""
    if not enabled or _quiet:
        return _Off(iterable, **kwargs)
    stream = kwargs.get("file") or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm

        return tqdm(iterable, disable=None, **kwargs)
    return _Lines(iterable, **kwargs)
