"""One JATS article (folder or file) to figure records: figures, their media files, citing sentences."""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from pathlib import Path
from typing import Iterator, Optional
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException

from s1mmalign.builder.records.manifest import safe_join
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.contexts import find_citations, printed_number
from s1mmalign.builder.sources.jats.figures import (
    _TABLE_LABEL,
    XML_LANG,
    _Figure,
    _figures,
    _number_in_order,
    _scopes,
    _unlabelled_numbers,
)
from s1mmalign.builder.sources.jats.xml import (
    _FORMAT_RANK,
    MEDIA_SUFFIXES,
    STAGE,
    _abstract,
    _article_ids,
    _journal_title,
    _keywords,
    _license,
    _meta,
    _paragraphs,
    _pub_year,
    _source_of,
    _subjects,
    _title,
    parse_article,
)
from s1mmalign.builder.sources.rasterize import RasterizeError, needs_rasterizing, rasterize
from s1mmalign.builder.sources.sandbox import RenderBudget
from s1mmalign.core import contract
from s1mmalign.core.images import ImageRejected, normalize_image
from s1mmalign.core.limits import limits
from s1mmalign.core.years import year_from_id

#: PLOS's own XML names a graphic by its DOI ("info:doi/10.1371/journal.pone.0000217.g001"): the
#: file beside the article is named by the DOI's suffix ("journal.pone.0000217.g001.png").
_DOI_HREF = re.compile(r"^info:doi/10\.\d{4,9}/")


def _unsafe_href(href: str) -> Optional[str]:
    """Why ``href`` may not be followed, or None."""
    if not href.strip():
        return "empty href"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", href) and not re.match(r"^[A-Za-z]:[\\/]", href):
        return "a URL, not a file of the paper"
    if href.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", href) or "\x00" in href:
        return "absolute path"
    if ".." in re.split(r"[\\/]", href):
        return "'..' leaves the paper's folder"
    return None


def _pixel_area(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size[0] * im.size[1]
    except Exception:
        return -1


def resolve_media(root: Path, href: str) -> list[Path]:
    """The media files ``href`` may name under ``root``, best first.

    ``href`` is matched exactly, then by stem with any image extension (PMC often writes the
    href without one, or names ``x.tif`` while shipping ``x.jpg``), case-insensitively, in the
    href's folder. Best = largest pixel area, then lossless before lossy before GIF.
    """
    base = safe_join(root, href, resolve_links=True)
    if base is None:
        return []
    folder = base.parent
    if not folder.is_dir():
        return []
    name = base.name
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in MEDIA_SUFFIXES else name
    found = []
    for p in folder.iterdir():
        if not p.is_file():
            continue
        low = p.name.lower()
        if low == name.lower() or (low.startswith(stem.lower() + ".") and p.suffix.lower() in MEDIA_SUFFIXES
                                   and low[: -len(p.suffix)] == stem.lower()):
            if safe_join(root, p.relative_to(root).as_posix(), resolve_links=True) is not None:
                found.append(p)
    found.sort(key=lambda p: (-_pixel_area(p), _FORMAT_RANK.get(p.suffix.lower(), 4), p.name))
    return found


# -- articles -------------------------------------------------------------------------------------


def find_article_xml(folder: Path) -> list[Path]:
    """The JATS article files of a folder (``.nxml`` first; ``.xml`` that look like JATS).

    A symlink counts only when its target stays inside the folder (a link to a file outside
    is never read)."""
    inside = [p for p in folder.iterdir() if p.is_file() and safe_join(folder, p.name, resolve_links=True) is not None]
    nxml = sorted(p for p in inside if p.suffix.lower() == ".nxml")
    if nxml:
        return nxml
    return sorted(p for p in inside if p.suffix.lower() == ".xml" and looks_like_jats(p))


def looks_like_jats(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return bool(re.search(r"<article[\s>]", head)) and ("JATS" in head or "jats" in head or "article-type" in head
                                                       or "xmlns:xlink" in head or "<front" in head)


def is_jats_source(path: str | os.PathLike) -> bool:
    """True for a JATS article file, a folder holding one, or an ``oa_package`` tar.gz."""
    p = Path(path)
    if p.is_dir():
        try:
            return bool(find_article_xml(p))
        except OSError:
            return False
    if p.suffix.lower() == ".nxml":
        return True
    if p.suffix.lower() == ".xml":
        return looks_like_jats(p)
    if p.name.lower().endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(p, "r:gz") as tf:
                for i, m in enumerate(tf):
                    if m.name.lower().endswith(".nxml"):
                        return True
                    if i >= 500:
                        break
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            return False
    return False


def read_jats_article(
    path: str | os.PathLike,
    rejects: Rejects,
    *,
    source: Optional[str] = None,
    media_root: str | os.PathLike | None = None,
    paper_id: Optional[str] = None,
) -> Iterator[dict]:
    """Yield one contract record (image bytes included) per figure of a JATS article.

    ``path``: an article folder or an article file (media beside it, or under ``media_root``).
    ``source`` overrides the detected one (``pmc``, ``biorxiv``, ``medrxiv``, ...).
    Figures that cannot be read are added to ``rejects``; this never raises on bad input.
    """
    path = Path(path)
    if path.is_dir():
        try:
            files = find_article_xml(path)
        except OSError as e:
            rejects.add(None, "article", "unreadable", f"{path}: {e}", stage=STAGE, source=source or "")
            return
        if not files:
            rejects.add(None, "article", "no_article_xml", f"{path}: no .nxml/.xml article in the folder",
                        stage=STAGE, source=source or "")
            return
        for f in files:
            yield from _read_one(f, Path(media_root) if media_root else path, rejects, source, paper_id)
    else:
        yield from _read_one(path, Path(media_root) if media_root else path.parent, rejects, source, paper_id)




def _read_one(xml: Path, root: Path, rejects: Rejects, source: Optional[str], paper_id: Optional[str]) -> Iterator[dict]:
    try:
        root_el = parse_article(xml)
    except (ParseError, DefusedXmlException, UnicodeDecodeError, ValueError) as e:
        rejects.add(paper_id or xml.stem, "article", "malformed_xml", f"{xml.name}: {type(e).__name__}: {e}",
                    stage=STAGE, source=source or "")
        return
    except OSError as e:
        rejects.add(paper_id or xml.stem, "article", "unreadable", f"{xml.name}: {e}", stage=STAGE, source=source or "")
        return
    meta = _meta(root_el)
    ids = _article_ids(meta)
    doi = ids.get("doi", "")
    if not re.match(r"(?:https?://(?:dx\.)?doi\.org/|doi:)?10\.\d{4,9}/\S", doi, re.IGNORECASE):
        doi = ""  # a draft's placeholder ("N/A" in every JOSS draft): never one paper id for many papers
    pid = paper_id or doi or (f"PMC{ids['pmc'].removeprefix('PMC')}" if "pmc" in ids else "") or ids.get("pmid") or xml.stem
    src = source or _source_of(root_el, doi)
    year = _pub_year(meta) or year_from_id(doi)
    title, abstract = _title(meta), _abstract(meta)
    subjects, license_ = _subjects(root_el), _license(root_el)
    figures: list[_Figure] = []
    cites = {}
    for scope in _scopes(root_el):
        figs = _figures(scope, len(figures), scope.get(XML_LANG) or root_el.get(XML_LANG) or "")
        _number_in_order(scope, figs)
        if figs:
            numbers = {f.fid: printed_number(f.label) for f in figs}
            paras = _paragraphs(scope, {**_unlabelled_numbers(scope), **{fid: n for fid, n in numbers.items() if n}})
            cites.update(find_citations(paras, numbers, figure_ids=[f.fid for f in figs]))
            figures += figs
    if not figures:
        return
    # bioRxiv is all biology and medRxiv all medicine; PMC spans every field: subjects first, then the
    # journal's title ("BMC Microbiology"), then (PMC only) the article's title and abstract, then "other";
    # where neither subjects nor journal name a field (article types in a journal of every field: SciELO's
    # "Artigo", PLOS ONE's "Research Article"), the author keywords are read with the title and abstract
    pmc, journal = src == "pmc", _journal_title(root_el)
    named = contract.discipline_for_tags(subjects, default=None) or contract.discipline_for_journal(journal)
    tags = subjects if named else subjects + _keywords(root_el)
    discipline = contract.discipline_for_tags(tags, default={"biorxiv": "biology", "medrxiv": "medicine"}.get(src, "other"),
                                              journal=journal, title=title if pmc else None,
                                              abstract=abstract if pmc else None)
    budget: Optional[RenderBudget] = None
    for fig in figures:
        key = contract.make_key(src, pid, fig.fid)

        def reject(field: str, reason: str, detail: str) -> None:
            rejects.add(key, field, reason, f"{pid} {fig.label or fig.fid}: {detail}", stage=STAGE, source=src)

        if not fig.caption:
            reject("caption", "no_caption", "the figure has no caption text")
            continue
        if _TABLE_LABEL.match(fig.label):
            reject("image", "table_image", "a table set as an image in a <fig>")
            continue
        if fig.href is None:
            reject("image", "no_graphic", "the figure has no <graphic xlink:href>")
            continue
        href = _DOI_HREF.sub("", fig.href.strip())
        why = _unsafe_href(href)
        if why:
            reject("image", "unsafe_href", f"{fig.href!r}: {why}; not followed")
            continue
        candidates = resolve_media(root, href)
        if not candidates:
            reject("image", "missing_media", f"no media file for href {fig.href!r} in {root.name}")
            continue
        media = candidates[0]
        try:
            data = media.read_bytes()
            if needs_rasterizing(media.name, data):  # Copernicus's XML names its figures' PDFs
                if budget is None:  # one render time budget for all the paper's figures
                    budget = RenderBudget(limits().paper_render_seconds, limits().render_seconds)
                data = rasterize(media.name, data, budget=budget)
            stored = normalize_image(data)
        except RasterizeError as e:
            reject("image", e.reason, f"{media.name}: {e.detail}")
            continue
        except ImageRejected as e:
            reject("image", e.reason, f"{media.name}: {e.detail}")
            continue
        except OSError as e:
            reject("image", "unreadable", f"{media.name}: {e}")
            continue
        ctx = cites.get(fig.fid)
        yield {
            "key": key,
            "image": {"bytes": stored.data, "path": media.relative_to(root).as_posix()},
            "caption": fig.caption,
            "title": title,
            "abstract": abstract,
            "citation_contexts": list(ctx.sentences) if ctx else [],
            "citation_count": ctx.count if ctx else 0,
            "paper_id": pid,
            "year": year,
            "figure_label": fig.label or fig.fid,
            "source": src,
            "categories": subjects,
            "discipline": discipline,
            "license": license_,
            "width": stored.width,
            "height": stored.height,
            "image_sha256": stored.sha256,
            "image_path": media.relative_to(root).as_posix(),
        }


# -- oa_package archives --------------------------------------------------------------------------
