"""arXiv sources -> papers -> figure records.

Inputs, as arXiv distributes them:

* bulk source tars ``arXiv_src_YYMM_NNN.tar`` (the S3 requester-pays bucket): members
  ``YYMM/<id>.gz``, each a gzipped tar of the paper's source or a gzipped single ``.tex``
  (members ending in ``.pdf`` are papers without source). Read as a stream, one paper in
  memory at a time: :func:`iter_bulk_tar`;
* a folder of papers: ``<id>.tar.gz`` / ``<id>.tgz`` / ``<id>.tar`` / ``<id>.gz`` files or
  unpacked ``<id>/`` folders: :func:`read_paper_path`;
* metadata from the arXiv OAI snapshot (JSON Lines with ``id``, ``title``, ``abstract``,
  ``categories``, ``license``, ``doi``, ...): :class:`ArxivMetadata`, indexed by byte offset
  so only the papers read are ever parsed.

:func:`paper_records` turns one paper into contract records: one per figure, its image the
figure's file (EPS/PDF rasterised to PNG; several panels side by side in one image). Anything
that cannot become a record is a reject with a reason, and the run goes on.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.contexts import find_citations
from s1mmalign.builder.sources.latex import PaperFiles, parse_paper, relative_name
from s1mmalign.builder.sources.rasterize import RasterizeError, needs_rasterizing, rasterize
from s1mmalign.builder.sources.sandbox import RenderBudget
from s1mmalign.core import contract
from s1mmalign.core.images import ImageRejected, StoredImage, normalize_image
from s1mmalign.core.limits import limits
from s1mmalign.core.years import year_from_id

log = logging.getLogger(__name__)

SOURCE = "arxiv"
#: A paper's source larger than this (decompressed) is skipped: memory stays bounded.
MAX_PAPER_BYTES = 512 << 20
BULK_TAR_RE = re.compile(r"arXiv_src_\d{4}_\d{3}\.tar$")
_NEW_ID = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)?$")
_OLD_ID = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?)[/_]?(\d{7})(v\d+)?$")


@dataclass
class ReaderOptions:
    """How figure files are read. No size rule here: the recipe's "files under 5 KB are icons or
    placeholders" drops real vector plots (a line plot is a 3 KB PDF) and whole multi-panel
    figures for one flat panel; the filter stage judges pixels, and looks for ink in small files."""

    dpi: int = 150
    max_paper_bytes: int = MAX_PAPER_BYTES


def paper_id_from_name(name: str) -> str:
    """``2101.00123`` from ``2101.00123.gz`` / ``2101.00123v2.tar.gz``; ``astro-ph/0601001`` from
    ``astro-ph0601001.gz``; anything else: the name without archive extensions."""
    base = os.path.basename(name.rstrip("/"))
    for ext in (".tar.gz", ".tgz", ".tar", ".gz", ".zip"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
            break
    m = _NEW_ID.match(base)
    if m:
        return m.group(1)
    m = _OLD_ID.match(base)
    if m:
        return f"{m.group(1)}/{m.group(2)}"
    return base


# -- metadata ---------------------------------------------------------------------------------

class ArxivMetadata:
    """The OAI snapshot, looked up by id. Holds one byte offset per paper, not the records."""

    _ID = re.compile(rb'"id"\s*:\s*"([^"]+)"')

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._offsets: Optional[dict[str, int]] = None

    def _index(self) -> dict[str, int]:
        if self._offsets is None:
            offsets, pos = {}, 0
            with open(self.path, "rb") as f:
                for line in f:
                    m = self._ID.search(line)
                    if m:
                        offsets[m.group(1).decode("utf-8", "replace")] = pos
                    pos += len(line)
            self._offsets = offsets
        return self._offsets

    def __len__(self) -> int:
        return len(self._index())

    def get(self, paper_id: str) -> Optional[dict]:
        """Normalised metadata (title, abstract, categories list, license, doi) or None."""
        off = self._index().get(paper_id)
        if off is None:
            m = _NEW_ID.match(paper_id) or None
            off = self._index().get(m.group(1)) if m else None
        if off is None:
            return None
        with open(self.path, "rb") as f:
            f.seek(off)
            try:
                raw = json.loads(f.readline())
            except json.JSONDecodeError:
                return None
        return {
            "title": " ".join(str(raw.get("title") or "").split()),
            "abstract": " ".join(str(raw.get("abstract") or "").split()),
            "categories": contract.parse_categories(raw.get("categories") or []),
            "license": raw.get("license") or "",
            "doi": raw.get("doi") or "",
        }


# -- reading archives -------------------------------------------------------------------------

class PaperUnreadable(ValueError):
    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


def _gunzip(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise PaperUnreadable("corrupt_archive", f"bad gzip data: {e}") from None
    if len(out) > limit:
        raise PaperUnreadable("paper_too_large", f"more than {limit >> 20} MiB decompressed")
    if not d.eof:
        raise PaperUnreadable("corrupt_archive", "truncated gzip stream")
    return out


def _tar_files(data: bytes, limit: int, max_members: int) -> dict[str, bytes]:
    files, total = {}, 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for i, m in enumerate(tf):
                if i >= max_members:
                    raise PaperUnreadable("archive_too_large", f"more than {max_members} members")
                if not m.isfile():
                    continue  # links, devices and folders are never followed
                name = relative_name(m.name)
                if name is None:
                    continue  # absolute or '..' member names stay out
                total += m.size
                if total > limit:
                    raise PaperUnreadable("paper_too_large", f"more than {limit >> 20} MiB of files")
                f = tf.extractfile(m)
                files[name] = f.read() if f else b""
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise PaperUnreadable("corrupt_archive", f"{type(e).__name__}: {e}") from None
    return files


def _is_tar(data: bytes) -> bool:
    return len(data) > 262 and data[257:262] == b"ustar" or (len(data) >= 512 and _tar_checksum_ok(data[:512]))


def _tar_checksum_ok(header: bytes) -> bool:
    try:
        stored = int(header[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(header[:148]) + 8 * 32 + sum(header[156:512])


def _looks_like_tex(data: bytes) -> bool:
    head = data[:65536]
    if b"\0" in head[:4096]:
        return False
    return bool(re.search(rb"\\(documentclass|documentstyle|begin\s*\{document\}|input|section|title)\b", head))


def files_from_bytes(name: str, data: bytes, options: ReaderOptions = ReaderOptions()) -> PaperFiles:
    """A paper's files from the bytes of one archive member or file (``.gz``, ``.tar.gz``, ``.tar``)."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, options.max_paper_bytes)
    if data[:4] == b"%PDF":
        raise PaperUnreadable("no_latex_source", f"{name} is a PDF (the paper has no LaTeX source)")
    if _is_tar(data):
        return PaperFiles(_tar_files(data, options.max_paper_bytes, limits().archive_members))
    if _looks_like_tex(data):
        return PaperFiles({"main.tex": data})
    raise PaperUnreadable("not_tar_or_tex", f"{name}: neither a tar archive nor a TeX file (starts {data[:16]!r})")


def read_paper_path(path: Path, options: ReaderOptions = ReaderOptions()) -> PaperFiles:
    """One paper from a file (``.tar.gz``, ``.gz``, ``.tar``, ``.tex``) or an unpacked folder."""
    if path.is_dir():
        return PaperFiles.from_dir(path)
    size = path.stat().st_size
    if size > options.max_paper_bytes:
        raise PaperUnreadable("paper_too_large", f"{path.name}: {size >> 20} MiB")
    return files_from_bytes(path.name, path.read_bytes(), options)


def iter_bulk_tar(path: Path, rejects: Rejects, options: ReaderOptions = ReaderOptions()) -> Iterator[tuple[str, PaperFiles]]:
    """(paper id, files) for every paper of an arXiv bulk source tar, streamed."""
    try:
        tf = tarfile.open(path, mode="r|*")
    except (tarfile.TarError, OSError, EOFError) as e:
        rejects.add(None, "archive", "corrupt_archive", f"{path.name}: {type(e).__name__}: {e}", stage="ingest", source=SOURCE)
        return
    with tf:
        members = iter(tf)
        while True:
            try:
                m = next(members)
            except StopIteration:
                break
            except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
                rejects.add(None, "archive", "corrupt_archive", f"{path.name}: {type(e).__name__}: {e} (rest of the archive skipped)",
                            stage="ingest", source=SOURCE)
                break
            if not m.isfile():
                continue
            pid = paper_id_from_name(m.name)
            key = contract.make_key(SOURCE, pid)
            if m.size > options.max_paper_bytes:
                rejects.add(key, "paper", "paper_too_large", f"{m.name}: {m.size >> 20} MiB", stage="ingest", source=SOURCE)
                continue
            try:
                f = tf.extractfile(m)
                data = f.read() if f else b""
                if len(data) != m.size:
                    raise PaperUnreadable("corrupt_archive", f"{path.name}: member {m.name} truncated")
            except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
                rejects.add(key, "paper", "corrupt_archive", f"{path.name}: {m.name}: {e} (rest of the archive skipped)",
                            stage="ingest", source=SOURCE)
                break
            except PaperUnreadable as e:
                rejects.add(key, "paper", e.reason, e.detail, stage="ingest", source=SOURCE)
                break
            try:
                files = files_from_bytes(m.name, data, options)
            except PaperUnreadable as e:
                rejects.add(key, "paper", e.reason, f"{path.name}: {e.detail}", stage="ingest", source=SOURCE)
                continue
            yield pid, files


# -- figure records ---------------------------------------------------------------------------

#: The long side of a multi-panel figure made from its panels: wider rows are scaled down (a thesis's
#: six-panel rows reached 5,400 px, and their PNG encoding was a third of the reading time).
MAX_MONTAGE_SIDE = 3072


def _montage(pngs: list[bytes]) -> bytes:
    """Panels side by side (at most 3 per row), scaled to a common height, on white; the long side
    at most :data:`MAX_MONTAGE_SIDE`."""
    from PIL import Image

    from s1mmalign.core.images import to_rgb

    imgs = [to_rgb(Image.open(io.BytesIO(b))) for b in pngs]
    h = min(max(i.height for i in imgs), 1200)
    rows = [imgs[k:k + 3] for k in range(0, len(imgs), 3)]
    fit_w = min((MAX_MONTAGE_SIDE - 10 * (len(r) - 1)) / sum(i.width / i.height for i in r) for r in rows)
    h = max(1, int(min(h, fit_w, (MAX_MONTAGE_SIDE - 10 * (len(rows) - 1)) / len(rows))))
    imgs = [i.resize((max(1, int(i.width * h / i.height)), h)) for i in imgs]
    rows = [imgs[k:k + 3] for k in range(0, len(imgs), 3)]
    width = max(sum(i.width for i in r) + 10 * (len(r) - 1) for r in rows)
    canvas = Image.new("RGB", (width, len(rows) * h + 10 * (len(rows) - 1)), "white")
    for r, row in enumerate(rows):
        x = 0
        for i in row:
            canvas.paste(i, (x, r * (h + 10)))
            x += i.width + 10
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _figure_image(files: PaperFiles, name: str, options: ReaderOptions, budget: RenderBudget, page: int = 1) -> StoredImage:
    data = files.read(name)
    if needs_rasterizing(name, data):
        try:
            data = rasterize(name, data, dpi=options.dpi, budget=budget, page=page)
        except RasterizeError as e:
            raise ImageRejected(e.reason, f"{name}: {e.detail}") from None
    return normalize_image(data)  # raises ImageRejected (undecodable, truncated, bomb, ...)


_TABLE_CAPTION = re.compile(r"^\s*(table|tab\.)\s*[\dIVX]*\s*[:.]", re.I)


def paper_records(
    paper_id: str,
    files: PaperFiles,
    rejects: Rejects,
    metadata: Optional[dict] = None,
    options: ReaderOptions = ReaderOptions(),
) -> Iterator[dict]:
    """Contract records for the figures of one paper (the module docstring says which)."""
    paper_key = contract.make_key(SOURCE, paper_id)
    try:
        paper = parse_paper(files)
    except Exception as e:  # noqa: BLE001 -- a parser bug on one paper must not end the run
        rejects.add(paper_key, "paper", "latex_parse_error", f"{type(e).__name__}: {e}", stage="ingest", source=SOURCE)
        return
    for reason, detail in paper.problems:
        rejects.add(paper_key, "paper", reason, f"{paper_id}: {detail}", stage="ingest", source=SOURCE)
    if paper.main is None:
        return
    meta = metadata or {}
    categories = meta.get("categories") or []
    numbers = paper.numbers()
    cites = find_citations(paper.paragraphs, numbers)
    title, abstract = meta.get("title") or paper.title, meta.get("abstract") or paper.abstract
    base = {
        "title": title,
        "abstract": abstract,
        "paper_id": paper_id,
        "year": year_from_id(paper_id),  # the month of first submission is in the identifier
        "source": SOURCE,
        "categories": categories,
        # without metadata (a folder of source tarballs) the paper's own words decide: its author
        # keywords, its journal (named, or served by its class: AASTeX, REVTeX's prl, acmart), title, abstract
        "discipline": contract.discipline_for_tags(categories or paper.front.keywords, title=title, abstract=abstract,
                                                   journal=None if categories else paper.front.journal),
        "license": meta.get("license") or "",
        "recaption": None,
    }
    budget: Optional[RenderBudget] = None  # one render time budget for all the paper's figures
    for fig in paper.figures:
        key = contract.make_key(SOURCE, paper_id, fig.label or (fig.id if fig.unnumbered else fig.index))
        if budget is None:  # made at the first figure: the clock starts when rendering does
            lim = limits()
            budget = RenderBudget(lim.paper_render_seconds, lim.render_seconds)
        rej = lambda field, reason, detail: rejects.add(key, field, reason, f"{paper_id} {fig.display_label}: {detail}",
                                                        stage="ingest", source=SOURCE)
        if fig.is_table or _TABLE_CAPTION.match(fig.caption):
            if fig.graphics:
                rej("image", "table_image", "a table rendered as an image")
            continue
        if fig.problem:
            rej("caption", *fig.problem)
            continue
        if not fig.graphics:
            rej("image", "no_graphics", "no \\includegraphics (a TikZ/PGF drawing or a text box)")
            continue
        missing = [g for g, f in zip(fig.graphics, fig.files) if f is None]
        if missing:
            rej("image", "missing_figure_file", f"not in the source: {', '.join(missing)}")
            continue
        try:
            panels = [_figure_image(files, f, options, budget, page) for f, page in zip(fig.files, fig.pages)]
            stored = panels[0] if len(panels) == 1 else normalize_image(_montage([p.data for p in panels]))
        except ImageRejected as e:
            rej("image", e.reason, e.detail)
            continue
        except OSError as e:
            rej("image", "unreadable", f"{type(e).__name__}: {e}")
            continue
        ctx = cites.get(fig.id)
        yield {
            **base,
            "key": key,
            "image": {"bytes": stored.data, "path": ";".join(fig.files)},
            "image_path": f"{paper_id}/" + ";".join(fig.files),
            "caption": fig.caption,
            "citation_contexts": list(ctx.sentences) if ctx else [],
            "citation_count": ctx.count if ctx else 0,
            "figure_label": fig.display_label,
            "multi_panel": len(fig.files) > 1 or len(fig.sublabels) + len(fig.subcaptions) > 1 or None,
            "width": stored.width,
            "height": stored.height,
            "image_sha256": stored.sha256,
            "modality": "other",
            "modality_method": None,
        }
