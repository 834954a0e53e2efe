"""The release's units: source folders, jsonl partitions paired with their (split) archives."""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any, Iterator, Optional, Sequence

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.release.unit import Archive, Release, ReleaseUnit
from s1mmalign.core import contract
from s1mmalign.core.urls import fs_and_root, is_local

STAGE = "release"

#: Release folder name -> the contract's source id (the release misspells some folders).
SOURCE_FOLDERS: dict[str, str] = {
    "arxiv": "arxiv",
    "biorxiv": "biorxiv",
    "medrxiv": "medrxiv",
    "chemrxiv": "chemrxiv",
    "psyarxiv": "psyarxiv",
    "psyrxiv": "psyarxiv",
    "nature_comunication": "nature_communications",
    "nature_communication": "nature_communications",
    "nature_communications": "nature_communications",
    "pmc": "pmc",
}


_ARCHIVE_RE = re.compile(r"^(?P<base>.+\.(?:tar\.gz|tgz))(?:\.part(?P<part>[a-z]{2,}))?$")
_JSONL_RE = re.compile(r"\.jsonl$")
_ARCHIVE_YEAR_RE = re.compile(r"(?:^|[_-])(\d{4})(?=\.t)")
_JSONL_YEAR_RE = re.compile(r"^(\d{2})(?:_|$)")



# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


def _sanitize(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"


def _archive_year(name: str) -> Optional[int]:
    m = _ARCHIVE_YEAR_RE.search(name)
    return int(m.group(1)) if m else None


def _jsonl_year(name: str) -> Optional[int]:
    m = _JSONL_YEAR_RE.match(name)
    if not m:
        return None
    yy = int(m.group(1))
    return 1900 + yy if yy >= 90 else 2000 + yy


def _group_archives(files: dict[str, int], folder_path: str, problems: Rejects, source: str) -> list[Archive]:
    groups: dict[str, dict[str, tuple[str, int]]] = {}
    for path, size in files.items():
        m = _ARCHIVE_RE.match(posixpath.basename(path))
        if not m:
            continue
        groups.setdefault(m.group("base"), {})[m.group("part") or ""] = (path, size)
    archives = []
    for base in sorted(groups):
        parts = groups[base]
        if "" in parts and len(parts) > 1:
            problems.add(None, "archive", "duplicate_archive",
                         f"{base} exists both whole and split; reading the split parts", stage=STAGE, source=source)
            parts.pop("")
        names = sorted(parts)
        if names != [""]:
            # split(1) names parts aa, ab, ...: a gap means a missing part; stop before it.
            expected = [_part_suffix(i, len(names[0])) for i in range(len(names))]
            for i, (got, want) in enumerate(zip(names, expected)):
                if got != want:
                    problems.add(None, "archive", "missing_part",
                                 f"{base}.part{want} is missing; reading {base} up to it", stage=STAGE, source=source)
                    names = names[:i]
                    break
        if names:
            archives.append(Archive(base, [parts[n][0] for n in names], [parts[n][1] for n in names]))
    return archives


def _part_suffix(i: int, width: int) -> str:
    letters = []
    for _ in range(width):
        i, r = divmod(i, 26)
        letters.append(chr(ord("a") + r))
    return "".join(reversed(letters))


def _pair_units(source: str, folder: str, jsonls: list[str], archives: list[Archive]) -> list[tuple[list[str], Optional[Archive]]]:
    """Pair jsonl partitions with archives: by year (arXiv), else the rest together."""
    pairs: list[tuple[list[str], Optional[Archive]]] = []
    by_year: dict[int, list[str]] = {}
    rest_jsonl = []
    for j in jsonls:
        y = _jsonl_year(posixpath.basename(j))
        (by_year.setdefault(y, []) if y is not None else rest_jsonl).append(j)
    rest_archives = []
    for a in archives:
        y = _archive_year(a.name)
        if y is not None and y in by_year:
            pairs.append((by_year.pop(y), a))
        else:
            rest_archives.append(a)
    for y in sorted(by_year):
        rest_jsonl += by_year[y]
    if len(rest_archives) == 1:
        pairs.append((sorted(rest_jsonl), rest_archives[0]))
        rest_jsonl = []
    else:
        # several archives without a year each: every one is joined against all the rest's jsonl
        # (the index holds those partitions together; sources in the release have one of each).
        for a in rest_archives:
            pairs.append((sorted(rest_jsonl), a))
        if rest_archives:
            rest_jsonl = []
    for j in sorted(rest_jsonl):
        pairs.append(([j], None))
    return pairs


def discover_units(root: str | os.PathLike, sources: Optional[Sequence[str]] = None) -> Release:
    """Find the sources, jsonl files and archives of a release at ``root`` (path or URL).

    ``sources`` keeps only those (contract ids such as ``nature_communications`` or release
    folder names such as ``nature_comunication``). Unknown folders are reported
    (``unknown_source``) and skipped.
    """
    fs, base = fs_and_root(root)
    local = is_local(fs)
    if not fs.isdir(base):
        raise FileNotFoundError(f"release root {str(root)!r} is not a folder (expected <source>/jsonl/*.jsonl + archives)")
    wanted = None
    if sources:
        wanted = {SOURCE_FOLDERS.get(s, s) for s in sources}
        known = set(SOURCE_FOLDERS.values())
        bad = sorted(wanted - known)
        if bad:
            raise ValueError(f"unknown source(s) {bad}; known: {', '.join(sorted(known))}")
    problems = Rejects()
    units: list[ReleaseUnit] = []
    entries = sorted(fs.ls(base, detail=True), key=lambda e: e["name"])
    found_any = False
    for entry in entries:
        folder = posixpath.basename(entry["name"].rstrip("/"))
        if entry["type"] != "directory" or folder.startswith("."):
            continue
        listing = fs.find(entry["name"], maxdepth=2, detail=True)
        files = {p: int(info.get("size") or 0) for p, info in listing.items() if info.get("type") != "directory"}
        folder_path = entry["name"].rstrip("/")
        jsonls = sorted(
            p for p in files
            if _JSONL_RE.search(p) and posixpath.dirname(p).rstrip("/") in (folder_path, folder_path + "/jsonl")
        )
        if folder not in SOURCE_FOLDERS:
            if jsonls or any(_ARCHIVE_RE.match(posixpath.basename(p)) for p in files):
                problems.add(None, "folder", "unknown_source",
                             f"{folder}/: not a known source folder ({', '.join(sorted(SOURCE_FOLDERS))}); skipped",
                             stage=STAGE, source=_sanitize(folder).lower())
            continue
        source = SOURCE_FOLDERS[folder]
        found_any = True
        if wanted is not None and source not in wanted:
            continue
        top_files = {p: s for p, s in files.items() if posixpath.dirname(p).rstrip("/") == folder_path}
        archives = _group_archives(top_files, folder_path, problems, source)
        for jsonl, archive in _pair_units(source, folder, jsonls, archives):
            label = archive.name.split(".")[0] if archive else posixpath.basename(jsonl[0]).split(".")[0]
            units.append(ReleaseUnit(f"{source}-{_sanitize(label)}", source, folder, jsonl, archive, fs, local, base,
                                     jsonl_sizes=[files[j] for j in jsonl]))
    if not found_any:
        raise FileNotFoundError(
            f"no source folders under {str(root)!r}: expected folders such as {', '.join(sorted(SOURCE_FOLDERS))} "
            "(each with jsonl files and images*.tar.gz[.partaa...])"
        )
    ids = [u.id for u in units]
    for uid in {i for i in ids if ids.count(i) > 1}:  # e.g. images.tar.gz beside images.tgz
        for n, u in enumerate(x for x in units if x.id == uid):
            u.id = f"{uid}-{n}"
    return Release(str(root), units, problems)




def is_release_root(root: str) -> bool:
    """True when ``root`` looks like the published release rather than a dataset folder."""
    fs, base = fs_and_root(root)
    if fs.exists(posixpath.join(base, contract.PARQUET_DIR)) or fs.exists(posixpath.join(base, contract.SHARD_INDEX_FILE)):
        return False
    return any(posixpath.basename(e.rstrip("/")) in SOURCE_FOLDERS for e in fs.ls(base, detail=False))


def iter_release(
    root: str | os.PathLike,
    rejects: Optional[Rejects] = None,
    *,
    sources: Optional[Sequence[str]] = None,
    disciplines: Optional[Sequence[str]] = None,
) -> Iterator[dict[str, Any]]:
    """Every joined record of a release, unit after unit (problems go to ``rejects``)."""
    rejects = rejects if rejects is not None else Rejects()
    release = discover_units(root, sources)
    rejects.extend(release.problems)
    for unit in release.units:
        yield from unit.read(rejects, disciplines=disciplines)
