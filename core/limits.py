"""Every limit on untrusted input in one place: its name, its default and how to change it.

Each limit bounds one expansion or one resource a hostile input could blow up (docs/security.md
says which input and which reject reason). :func:`limits` returns the defaults with any
``S1MMALIGN_LIMIT_<NAME>`` environment variable applied (``S1MMALIGN_LIMIT_CAPTION_CHARS=131072``),
so the same values reach every process of a run (Ray workers); code that takes a ``Limits``
argument uses it instead.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass

ENV_PREFIX = "S1MMALIGN_LIMIT_"


@dataclass(frozen=True)
class Limits:
    #: bytes a gzipped figure (``.eps.gz``) may inflate to (reject ``gzip_too_large``)
    gzip_bytes: int = 64 << 20
    #: ``\input``/``\include`` files inlined into one paper (reject ``tex_too_large``)
    tex_inputs: int = 500
    #: characters of one paper's TeX after inlining its inputs (reject ``tex_too_large``)
    tex_chars: int = 32 << 20
    #: user macro expansions while converting one text (caption, title) to plain text (``macro_limit``)
    macro_expansions: int = 2000
    #: characters of one converted text (caption, title, abstract) before it is cut (``macro_limit``)
    text_chars: int = 1 << 20
    #: members of one paper source or PMC package (reject ``archive_too_large``)
    archive_members: int = 20_000
    #: bytes one paper source or PMC package unpacks to (reject ``archive_too_large``)
    archive_bytes: int = 1 << 30
    #: bytes of one release archive member read into memory (reject ``member_too_large``)
    member_bytes: int = 64 << 20
    #: bytes of one manifest line (reject ``line_too_long``)
    manifest_line_bytes: int = 16 << 20
    #: characters of a caption, recaption, title or abstract (reject ``field_too_large``)
    caption_chars: int = 64 * 1024
    #: seconds one figure may render (reject ``render_timeout``)
    render_seconds: float = 60.0
    #: seconds all the figures of one paper may render together (reject ``render_timeout``)
    paper_render_seconds: float = 180.0
    #: address space of a renderer's process, bytes (reject ``render_memory``)
    render_memory: int = 2 << 30

    def replace(self, **changes) -> "Limits":
        return dataclasses.replace(self, **changes)


DEFAULTS = Limits()


@functools.lru_cache(maxsize=1)
def limits() -> Limits:
    """The defaults with ``S1MMALIGN_LIMIT_<NAME>`` overrides, read once per process (hot paths
    call this per record); a bad value is a one-line ValueError. ``limits.cache_clear()`` rereads."""
    changes = {}
    for f in dataclasses.fields(Limits):
        raw = os.environ.get(ENV_PREFIX + f.name.upper())
        if raw is None or not raw.strip():
            continue
        try:
            value = float(raw) if f.type in ("float", float) else int(raw.replace("_", ""))
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: expected a number") from None
        if value <= 0:
            raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: must be positive")
        changes[f.name] = value
    return DEFAULTS.replace(**changes) if changes else DEFAULTS
