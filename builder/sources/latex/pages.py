r"""Which page of a multi-page PDF ``\includegraphics[page=3]{diagram.pdf}`` shows.

One PDF of several pages often holds all of a paper's diagrams, each figure showing one page;
without the page every such figure showed page 1 (a wrong image, then dropped as a duplicate).
"""

from __future__ import annotations

import re

_PAGED = re.compile(r"\\includegraphics\*?\s*\[([^\[\]]*)\]\s*\{([^{}]*)\}")
_PAGE = re.compile(r"(?:^|,)\s*page\s*=\s*\{?\s*(\d{1,5})\s*\}?\s*(?:,|$)")


def graphic_pages(body: str, names: list[str]) -> list[int]:
    """The page (1-based) each of ``names`` (the graphics of ``body``, in order) shows: 1 unless
    its ``\\includegraphics`` gives ``page=N``."""
    paged = [(m.group(2).strip(), int(p.group(1))) for m in _PAGED.finditer(body) if (p := _PAGE.search(m.group(1)))]
    out = []
    for name in names:
        hit = next((i for i, (n, _) in enumerate(paged) if n == name), None)
        out.append(max(1, paged.pop(hit)[1]) if hit is not None else 1)
    return out
