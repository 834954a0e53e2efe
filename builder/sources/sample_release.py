"""Write small releases in the published S1-MMAlign layout (demo, tests, benchmarks).

:func:`write_archive` streams members into a ``.tar.gz``, split into ``.partaa``... parts of
``part_size`` bytes like ``split -b`` does; :func:`write_jsonl` writes the records (and any
raw extra lines). :func:`sample_release` turns the demo sample (``builder/sample``) into a
release: arXiv records per year (``arxiv/jsonl/21_recaption.jsonl`` + ``images_2021.tar.gz``
split into parts), one jsonl + one archive for the other servers, the release's own field
names (``arxiv_id`` / ``doi``, ``image_path``, ``categories`` as arXiv's space-separated string).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Iterable, Optional

from s1mmalign.core.atomic import atomic_file

SAMPLE_MANIFEST = Path(__file__).parents[1] / "sample" / "manifest.jsonl"

#: contract source id -> (release folder, jsonl name, image_path carries the "images/" prefix)
RELEASE_FOLDERS = {
    "arxiv": ("arxiv", None, True),
    "biorxiv": ("biorxiv", "jsonl/biorxiv_recaption_updated.jsonl", False),
    "medrxiv": ("medrxiv", "jsonl/medrxiv_recaption.jsonl", True),
    "chemrxiv": ("chemrxiv", "jsonl/chemrxiv_recaption_updated.jsonl", False),
    "psyarxiv": ("psyarxiv", "jsonl/psyrxiv_recaption_updated.jsonl", False),
    "nature_communications": ("nature_comunication", "nature_comunication_recaption.jsonl", False),
}


class _SplitWriter(io.RawIOBase):
    """A write-only stream cut into ``base.partaa``, ``.partab``... of ``part_size`` bytes."""

    def __init__(self, base: Path, part_size: Optional[int]):
        super().__init__()
        self.base, self.part_size = base, part_size
        self.paths: list[Path] = []
        self._f = None
        self._left = 0

    def writable(self) -> bool:
        return True

    def _next(self) -> None:
        if self._f is not None:
            self._f.close()
        if self.part_size is None:
            path = self.base
        else:
            i = len(self.paths)
            path = self.base.with_name(f"{self.base.name}.part{chr(97 + i // 26)}{chr(97 + i % 26)}")
        self.paths.append(path)
        self._f = open(path, "wb")
        self._left = self.part_size or (1 << 62)

    def write(self, b) -> int:
        mv = memoryview(b)
        done = 0
        while done < len(mv):
            if self._f is None or self._left == 0:
                self._next()
            n = min(self._left, len(mv) - done)
            self._f.write(mv[done : done + n])
            self._left -= n
            done += n
        return done

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        super().close()


def write_archive(
    path: str | os.PathLike,
    members: Iterable[tuple[str, bytes]],
    *,
    part_size: Optional[int] = None,
    compresslevel: int = 1,
) -> list[Path]:
    """Stream ``(member name, bytes)`` into ``path`` (a ``.tar.gz``), split when ``part_size``.

    Member names are written as given (tests write unsafe ones on purpose). Returns the files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = _SplitWriter(path, part_size)
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=compresslevel, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    sink.close()
    return sink.paths


def write_jsonl(path: str | os.PathLike, records: Iterable[dict], extra_lines: Iterable[str] = ()) -> Path:
    """Records as JSON Lines, then ``extra_lines`` verbatim (malformed lines for tests)."""
    path = Path(path)
    with atomic_file(path, "w") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line if line.endswith("\n") else line + "\n")
    return path


def release_record(rec: dict, image_path: str) -> dict:
    """A contract record as the release stores it (its field names, categories as a string for arXiv)."""
    out = {"arxiv_id": rec["paper_id"]} if rec["source"] == "arxiv" else {"doi": rec["paper_id"]}
    cats = rec.get("categories") or []
    out.update(
        title=rec.get("title", ""),
        image_path=image_path,
        caption=rec.get("caption", ""),
        recaption=rec.get("recaption"),
        categories=" ".join(cats) if rec["source"] == "arxiv" else list(cats),
    )
    return out


def sample_release(root: str | os.PathLike, manifest: str | os.PathLike = SAMPLE_MANIFEST, *, part_size: int = 16384) -> Path:
    """The demo sample as a release under ``root``; returns ``root``.

    Archives bigger than ``part_size`` are split into parts, as the published ones are.
    """
    root = Path(root)
    manifest = Path(manifest)
    groups: dict[tuple[str, str], list[tuple[dict, str, bytes]]] = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        folder, jsonl, prefixed = RELEASE_FOLDERS[rec["source"]]
        image = (manifest.parent / rec["image"]).read_bytes()
        fname = Path(rec["image"]).name
        if rec["source"] == "arxiv":
            yymm = rec["paper_id"][:4]
            member = f"{yymm}/{rec['paper_id']}.tar.gz/{fname}"
            jsonl, archive = f"jsonl/{yymm[:2]}_recaption.jsonl", f"images_20{yymm[:2]}.tar.gz"
        else:
            member = f"{rec['paper_id'].replace('/', '_')}/{fname}"
            archive = "images.tar.gz"
        image_path = f"images/{member}" if prefixed else member
        groups.setdefault((folder, jsonl, archive), []).append((rec, image_path, image))
    for (folder, jsonl, archive), items in sorted(groups.items()):
        write_jsonl(root / folder / jsonl, [release_record(r, p) for r, p, _ in items])
        members = [(p[len("images/"):] if p.startswith("images/") else p, img) for _, p, img in items]
        total = sum(len(img) for _, img in members)
        write_archive(root / folder / archive, members, part_size=part_size if total > part_size else None)
    return root
