"""The rejects report: every record or file that did not come out, with key, field and reason.

Stages add to one :class:`Rejects`; the run goes on. Counts by reason (and by source) go into
the final report; the rows go to ``reports/rejects.jsonl`` in the output folder.
"""

from __future__ import annotations

import collections
import json
import os
from dataclasses import asdict, dataclass
from typing import Iterator, Optional

from s1mmalign.core.atomic import atomic_file


@dataclass(frozen=True)
class Reject:
    key: Optional[str]
    field: str
    reason: str
    detail: str = ""
    stage: str = ""
    source: str = ""


class Rejects:
    """An append-only list of rejects with counts. Thread-compatible, not thread-safe."""

    def __init__(self) -> None:
        self._rows: list[Reject] = []

    def add(self, key: Optional[str], field: str, reason: str, detail: str = "", *, stage: str = "", source: str = "") -> None:
        self._rows.append(Reject(key, field, reason, str(detail)[:500], stage, source))

    def extend(self, other: "Rejects") -> None:
        self._rows.extend(other._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Reject]:
        return iter(self._rows)

    def by_reason(self) -> dict[str, int]:
        return dict(collections.Counter(r.reason for r in self._rows).most_common())

    def by_source_and_reason(self) -> dict[str, dict[str, int]]:
        out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for r in self._rows:
            out[r.source or "-"][r.reason] += 1
        return {s: dict(c.most_common()) for s, c in sorted(out.items())}

    def write_jsonl(self, path: str | os.PathLike) -> None:
        with atomic_file(path, "w") as f:
            for r in self._rows:
                f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")

    @classmethod
    def read_jsonl(cls, path: str | os.PathLike) -> "Rejects":
        out = cls()
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    out._rows.append(Reject(**json.loads(line)))
        return out
