"""Joining a unit: jsonl records indexed by image path, matched to archive members, mapped to the contract."""

from __future__ import annotations

import array
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
from typing import TYPE_CHECKING, Any, Iterator, Optional

import numpy as np

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.release.streams import STREAM_END_ERRORS, GzipStream, PartsStream, TarMembers
from s1mmalign.core import contract
from s1mmalign.core.limits import limits
from s1mmalign.core.years import year_from_id, year_of

if TYPE_CHECKING:  # annotations only: the unit module imports this one
    from s1mmalign.builder.sources.release.unit import ReleaseUnit

STAGE = "release"

#: Discipline of a record whose categories name none (preprint servers of one field).
SOURCE_DEFAULT_DISCIPLINE: dict[str, str] = {
    "biorxiv": "biology",
    "medrxiv": "medicine",
    "chemrxiv": "chemistry",
}

#: The license the release's dataset card states; a record's own ``license`` field wins.
RELEASE_LICENSE = "cc-by-nc-4.0"
RECAPTION_MODEL = "release:Qwen3-VL"



# --------------------------------------------------------------------------------------------
# Join
# --------------------------------------------------------------------------------------------


def normalize_image_path(path: str) -> Optional[str]:
    """The join key of a release ``image_path`` or archive member: no ``./``, no ``images/``.

    None for an unsafe path (absolute, or with ``..``): such names are never joined.
    """
    if not path or "\x00" in path or "\\" in path:
        return None
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    if parts[0] == "images" and len(parts) > 1:
        parts = parts[1:]
    return "/".join(parts)


def _digest(norm: str) -> int:
    return int.from_bytes(hashlib.blake2b(norm.encode("utf-8"), digest_size=8).digest(), "little") >> 1


class PartitionIndex:
    """normalised image_path -> (jsonl file, byte offset of its line), 16 bytes per record.

    Sorted numpy arrays of 63-bit digests and packed offsets (file number in the top 15 bits);
    a hit is confirmed by re-reading the line, so a digest collision can never mis-join.
    """

    def __init__(self, digests: np.ndarray, locs: np.ndarray):
        order = np.lexsort((locs, digests))
        self.digests, self.locs = digests[order], locs[order]
        self.used = np.zeros(len(self.digests), dtype=bool)

    def __len__(self) -> int:
        return len(self.digests)

    def find(self, digest: int) -> tuple[int, int]:
        """[lo, hi) positions with this digest."""
        lo = int(np.searchsorted(self.digests, digest, "left"))
        hi = lo
        while hi < len(self.digests) and self.digests[hi] == digest:
            hi += 1
        return lo, hi


class _Lines:
    """Random access to the lines of a unit's jsonl files (local copies for remote files)."""

    def __init__(self, files: list[str]):
        self.files = [open(f, "rb") for f in files]

    def line(self, loc: int) -> bytes:
        f = self.files[loc >> 48]
        f.seek(loc & ((1 << 48) - 1))
        return f.readline()

    def close(self) -> None:
        for f in self.files:
            f.close()


def _parse_line(raw: bytes) -> Optional[dict]:
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _build_index(unit: ReleaseUnit, rejects: Rejects, tmpdir: str) -> tuple[PartitionIndex, _Lines]:
    """Scan the unit's jsonl once: reject bad lines, index the good ones by image_path."""
    digests = array.array("q")  # 8 bytes per record while scanning (a list would take ~36)
    locs = array.array("q")
    local_files = []
    for n, path in enumerate(unit.jsonl):
        name = unit.rel(path)
        if unit.local:
            local, src, copy = path, open(path, "rb"), None
        else:  # a jsonl is read whole anyway: keep a local copy for the join's random reads
            local = os.path.join(tmpdir, f"{n}.jsonl")
            src, copy = unit.fs.open(path, "rb", block_size=8 << 20), open(local, "wb")
        local_files.append(local)
        offset = 0
        with src:
            for lineno, raw in enumerate(src, 1):
                if copy is not None:
                    copy.write(raw)
                loc = offset | (n << 48)
                offset += len(raw)
                if not raw.strip():
                    rejects.add(None, "<line>", "empty_line", f"{name}:{lineno}", stage=STAGE, source=unit.source)
                    continue
                rec = _parse_line(raw)
                if rec is None:
                    rejects.add(None, "<line>", "malformed_json", f"{name}:{lineno}: not a JSON object",
                                stage=STAGE, source=unit.source)
                    continue
                ip = rec.get("image_path")
                norm = normalize_image_path(ip) if isinstance(ip, str) else None
                if norm is None:
                    reason = "missing_image_path" if not isinstance(ip, str) or not ip else "unsafe_image_path"
                    rejects.add(None, "image_path", reason, f"{name}:{lineno}: {ip!r:.200}", stage=STAGE, source=unit.source)
                    continue
                digests.append(_digest(norm))
                locs.append(loc)
        if copy is not None:
            copy.close()
    index = PartitionIndex(np.frombuffer(digests, dtype=np.int64).copy(), np.frombuffer(locs, dtype=np.int64).copy())
    del digests, locs
    lines = _Lines(local_files)
    # Duplicates: same normalised image_path on several lines -> keep the first line.
    if len(index):
        same = np.flatnonzero(index.digests[1:] == index.digests[:-1]) + 1
        for pos in same:
            first = _parse_line(lines.line(int(index.locs[pos - 1])))
            this = _parse_line(lines.line(int(index.locs[pos])))
            if normalize_image_path(first.get("image_path")) != normalize_image_path(this.get("image_path")):
                continue  # digest collision between different paths: both stay
            index.used[pos] = True  # never joined
            rejects.add(_key(unit.source, this), "image_path", "duplicate_record",
                        f"{this.get('image_path')!r:.200} appears again in {unit.rel(unit.jsonl[int(index.locs[pos]) >> 48])}",
                        stage=STAGE, source=unit.source)
    return index, lines


def release_key(source: str, image_path: str) -> str:
    """The record key of a release image: ``<source>_<tail of the path>_<digest>``, at most 80
    characters so ``<key>.json`` fits a plain tar header. Stable: it depends only on the source
    and the normalised ``image_path`` (the digest covers the whole path)."""
    norm = normalize_image_path(image_path) or image_path
    tail = re.sub(r"(\.tar\.gz|\.tgz)(?=/)", "", norm).rsplit(".", 1)[0]
    tail = re.sub(r"[^A-Za-z0-9-]+", "_", tail).strip("_")[-40:].lstrip("_-")
    digest = hashlib.blake2b(f"{source}\x1f{norm}".encode("utf-8"), digest_size=6).hexdigest()
    return "_".join(p for p in (source, tail, digest) if p)


def _key(source: str, rec: dict) -> str:
    return release_key(source, str(rec.get("image_path") or ""))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _contexts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)]


def _discipline(source: str, categories: list[str], rec: dict) -> str:
    """The record's discipline: its categories, else its source's default, else its title and abstract."""
    default = SOURCE_DEFAULT_DISCIPLINE.get(source)
    if default:
        return contract.discipline_for_tags(categories, default=default)
    return contract.discipline_for_tags(categories, title=_text(rec.get("title")), abstract=_text(rec.get("abstract")))


#: Release fields that may date a paper, in order of preference (the release names none yet; the
#: arXiv id or a dated bioRxiv DOI then gives the year).
YEAR_FIELDS = ("year", "publication_year", "pub_year", "publication_date", "published", "date")


def to_record(source: str, rec: dict, image: bytes, member_name: str, categories: Optional[list[str]] = None) -> dict[str, Any]:
    """A release jsonl record + its image bytes -> a record in the contract's schema.

    Raises ``TypeError`` for a ``categories`` value that is neither a string nor a list
    (``categories``: the record's, already parsed). ``width``, ``height`` and ``image_sha256``
    are left to the writer (``prepare_record``).
    """
    if categories is None:
        categories = contract.parse_categories(rec.get("categories"))
    discipline = _discipline(source, categories, rec)
    modality = rec.get("modality") if rec.get("modality") in contract.MODALITIES else "other"
    recaption = rec.get("recaption")
    recaption = recaption if isinstance(recaption, str) and recaption.strip() else None
    paper_id = rec.get("arxiv_id") or rec.get("doi") or rec.get("paper_id") or ""
    return {
        "key": _key(source, rec),
        "image": {"bytes": image, "path": posixpath.basename(member_name)},
        "caption": _text(rec.get("caption")),
        "recaption": recaption,
        "title": _text(rec.get("title")),
        "abstract": _text(rec.get("abstract")),
        "citation_contexts": _contexts(rec.get("citation_contexts", rec.get("context"))),
        "paper_id": _text(paper_id),
        "year": next((y for y in map(year_of, (rec.get(k) for k in YEAR_FIELDS)) if y), None) or year_from_id(paper_id),
        "figure_label": _text(rec.get("figure_label", rec.get("label"))),
        "source": source,
        "categories": categories,
        "discipline": discipline,
        "modality": modality,
        "modality_method": "release" if modality != "other" else None,
        "license": _text(rec.get("license")) or RELEASE_LICENSE,
        "image_path": _text(rec.get("image_path")),
        "recaption_model": RECAPTION_MODEL if recaption else None,
    }


def _iter_members(unit: ReleaseUnit, on_bytes) -> Iterator[tuple[TarMembers, tarfile.TarInfo]]:
    """Members of the unit's archive in stream order. A stream cut short (truncated or missing
    last part) raises one of ``STREAM_END_ERRORS``, also when the cut falls between members:
    the gzip stream is drained to its end-of-stream marker after the tar's end."""
    archive = unit.archive
    stream = PartsStream(unit.fs, archive.parts, local=unit.local)
    gz = io.BufferedReader(GzipStream(stream), 1 << 20)
    last = 0
    try:
        tar = TarMembers(gz)
        for member in tar:
            if on_bytes is not None and stream.bytes_read != last:
                on_bytes(stream.bytes_read - last)
                last = stream.bytes_read
            yield tar, member
        while gz.read(1 << 20):  # the rest: end-of-archive padding, then the gzip trailer
            pass
    finally:
        if on_bytes is not None and stream.bytes_read != last:
            on_bytes(stream.bytes_read - last)
        gz.close()
        stream.close()


def read_unit(unit: ReleaseUnit, rejects: Rejects, *, disciplines=None, on_bytes=None, stats=None) -> Iterator[dict]:
    wanted = set(disciplines) if disciplines else None
    max_bytes = limits().member_bytes  # one member's bytes are read into memory: bounded
    stats = stats if stats is not None else {}
    stats.setdefault("filtered", 0)
    stats.setdefault("joined", 0)
    tmpdir = tempfile.mkdtemp(prefix="s1mmalign-release-")
    try:
        index, lines = _build_index(unit, rejects, tmpdir)
        try:
            truncated = False
            if unit.archive is not None:
                try:
                    for tar, member in _iter_members(unit, on_bytes):
                        rec = _join_member(unit, rejects, index, lines, tar, member, wanted, stats, max_bytes)
                        if rec is not None:
                            stats["joined"] += 1
                            yield rec
                except STREAM_END_ERRORS as e:
                    truncated = True
                    rejects.add(None, "archive", "truncated_archive",
                                f"{unit.archive.name} ({len(unit.archive.parts)} part(s)): the gzip/tar stream breaks "
                                f"({type(e).__name__}: {e}); records before the break are kept, the rest are "
                                "reported as record_no_image", stage=STAGE, source=unit.source)
            for pos in np.flatnonzero(~index.used):
                rec = _parse_line(lines.line(int(index.locs[pos])))
                if unit.archive is None:
                    where = f"no archive for {unit.rel(unit.jsonl[0])}"
                else:
                    where = f"{'lost in the truncated' if truncated else 'not in'} {unit.archive.name}"
                rejects.add(_key(unit.source, rec), "image", "record_no_image",
                            f"{rec.get('image_path')!r:.200}: {where}", stage=STAGE, source=unit.source)
        finally:
            lines.close()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _join_member(unit, rejects, index, lines, tar, member, wanted, stats, max_bytes) -> Optional[dict]:
    name = member.name
    if member.isdir():
        return None
    norm = normalize_image_path(name)
    if norm is None:
        rejects.add(None, "image", "unsafe_member_name", f"{unit.archive.name}: {name!r:.200} (absolute or with '..')",
                    stage=STAGE, source=unit.source)
        return None
    if not member.isreg():
        rejects.add(None, "image", "link_member", f"{unit.archive.name}: {name!r:.200} is not a regular file",
                    stage=STAGE, source=unit.source)
        return None
    lo, hi = index.find(_digest(norm))
    hit = None
    seen_before = False
    for pos in range(lo, hi):
        rec = _parse_line(lines.line(int(index.locs[pos])))
        if normalize_image_path(rec.get("image_path")) != norm:
            continue  # digest collision
        if index.used[pos]:
            seen_before = True
            continue
        hit = pos, rec
        break
    if hit is None:
        if seen_before:
            rejects.add(None, "image", "duplicate_image", f"{unit.archive.name}: {name!r:.200} appears again",
                        stage=STAGE, source=unit.source)
        else:
            rejects.add(release_key(unit.source, norm), "image", "image_no_record",
                        f"{unit.archive.name}: {name!r:.200} has no record in the jsonl", stage=STAGE, source=unit.source)
        return None
    pos, rec = hit
    index.used[pos] = True  # joined: whatever happens next is counted once, here or by the writer
    odd = ("sparse_member", "a sparse file") if member.issparse() else \
        ("member_too_large", f"{member.size} bytes > limit {max_bytes} (Limits.member_bytes)") if member.size > max_bytes else None
    if odd:
        rejects.add(_key(unit.source, rec), "image", odd[0], f"{unit.archive.name}: {name!r:.200}: {odd[1]}",
                    stage=STAGE, source=unit.source)
        return None
    try:
        categories = contract.parse_categories(rec.get("categories"))
    except TypeError as e:
        rejects.add(_key(unit.source, rec), "categories", "bad_field", str(e), stage=STAGE, source=unit.source)
        return None
    if wanted is not None:
        d = _discipline(unit.source, categories, rec)
        if d not in wanted:
            stats["filtered"] += 1
            return None
    try:
        data = tar.data(member)
    except STREAM_END_ERRORS:
        index.used[pos] = False  # the stream broke inside this image: its record is reported as lost
        raise
    return to_record(unit.source, rec, data, name, categories)
