"""A paper's publication year: from its source's date fields, else from its identifier.

arXiv identifiers carry the month of first submission (``2101.00123``: January 2021;
``hep-th/9901001``: January 1999), and bioRxiv/medRxiv DOIs since December 2019 the posting date
(``10.1101/2020.03.04.977751``). The readers fill ``year`` from their source's date fields
(:func:`year_of`), else from the identifier (:func:`year_from_id`); :func:`paper_year` does the same
for a record already written, as the sidecar index takes it (``reindex`` of a dataset written
before the field existed). Standard library only.
"""

from __future__ import annotations

import re
from typing import Any, Optional

FIRST_YEAR, LAST_YEAR = 1600, 2100  # a year outside is a typo or hostile, not a paper's
_NEW_ARXIV = re.compile(r"(?:arxiv:)?(\d{2})(\d{2})\.\d{4,5}(?:v\d+)?", re.IGNORECASE)
_OLD_ARXIV = re.compile(r"(?:arxiv:)?[a-z-]+(?:\.[a-z]{2})?/(\d{2})(\d{2})\d{3}(?:v\d+)?", re.IGNORECASE)
_DATED_DOI = re.compile(r"(?:https?://(?:dx\.)?doi\.org/|doi:)?10\.1101/(\d{4})\.(\d{2})\.\d{2}\.\d+(?:v\d+)?", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def plausible(year: int) -> bool:
    return FIRST_YEAR <= year <= LAST_YEAR


def year_of(value: Any) -> Optional[int]:
    """The year a date field gives: an integer, or the first 4-digit year in a text ("2021",
    "2021-03-04", "March 2021"); None for anything else or a year outside 1600-2100."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if plausible(value) else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and plausible(int(value)) else None
    m = _YEAR.search(str(value)[:100])
    return int(m.group(1)) if m and plausible(int(m.group(1))) else None


def year_from_id(paper_id: Any) -> Optional[int]:
    """The year an arXiv identifier or a dated bioRxiv/medRxiv DOI names; None for other identifiers."""
    pid = str(paper_id or "").strip()
    m = _NEW_ARXIV.fullmatch(pid)
    if m and 1 <= int(m.group(2)) <= 12 and int(m.group(1)) >= 7:  # new-style identifiers began in April 2007
        return 2000 + int(m.group(1))
    m = _OLD_ARXIV.fullmatch(pid)
    if m and 1 <= int(m.group(2)) <= 12:
        yy = int(m.group(1))
        return 1900 + yy if yy >= 91 else 2000 + yy  # old-style identifiers ran from August 1991 to March 2007
    m = _DATED_DOI.fullmatch(pid)
    if m and 1 <= int(m.group(2)) <= 12:
        return year_of(int(m.group(1)))
    return None


def paper_year(record: Any) -> Optional[int]:
    """A record's ``year`` when plausible, else the year its ``paper_id`` names, else None."""
    return year_of(record.get("year")) or year_from_id(record.get("paper_id"))
