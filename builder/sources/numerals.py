"""Roman numerals as papers print them: LaTeX's ``\\roman`` counters and JATS lists of ``list-type="roman-lower"``."""

from __future__ import annotations

_VALUES = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
           (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))


def roman(n: int) -> str:
    """``n`` in lower-case roman numerals; ``str(n)`` outside 1..3999, which have none (a hostile
    counter or list of a million items must not print a thousand m's)."""
    if not 0 < n < 4000:
        return str(n)
    out = ""
    for value, letters in _VALUES:
        while n >= value:
            out, n = out + letters, n - value
    return out
