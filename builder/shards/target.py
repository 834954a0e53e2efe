"""What an output folder holds and whether this run may write there (and where).

A dataset folder carries a marker, ``.s1mmalign.json``: the command that wrote it and a
fingerprint of that command's inputs and options. :func:`open_target` decides, before any work:

- an empty or new folder, or one whose files are none of ours: a new dataset;
- the same command (same fingerprint) again: resume (a resumable command continues where it
  stopped; the others start over and give the same bytes);
- anything else of ours (another command, other options): refused with a one-line error naming
  ``--overwrite``;
- a dataset's names (``data``, ``README.md``, ...) without a marker: refused even with
  ``--overwrite``, since nothing shows this program wrote them (the user's own ``data/`` folder).

Every run writes into ``OUT/.s1mmalign-staging/`` and :meth:`Target.commit` moves the result
into place when it is complete, so a replaced dataset stays readable until then and a killed
run never leaves a half dataset under OUT's final names. A completed dataset rerun by the same
resumable command (build, convert) is worked on in place. Only the names a dataset is made of
(:data:`ENTRIES`) are ever moved or removed; other files in OUT (``.git``, notes) stay.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from s1mmalign.core.atomic import TMP_SUFFIX, write_text_atomic

MARKER = ".s1mmalign.json"
STAGING = ".s1mmalign-staging"
OLD = ".s1mmalign-old"
#: Top-level names a dataset folder is made of (what a replacement moves away).
ENTRIES = ("data", "wds", "index", "reports", "README.md", "sizes.json", ".build", ".convert", MARKER)
#: Options that change how a run looks or how fast it goes, never what it writes.
NOT_FINGERPRINTED = frozenset({"func", "command", "verbose", "quiet", "debug", "no_progress", "overwrite", "workers",
                               "report_json", "max_reject_rate", "force"})


class TargetError(ValueError):
    """OUT cannot be written by this run (a one-line reason naming what to do)."""


def fingerprint(command: str, options: dict[str, Any], files: Iterable[str | os.PathLike] = ()) -> str:
    """A digest of a command, its options and its input files (path, size, mtime)."""
    stats = []
    for f in files:
        p = Path(f)
        st = p.stat() if p.exists() else None
        stats.append([str(p.resolve()), st.st_size if st else None, st.st_mtime_ns if st else None])
    blob = json.dumps({"command": command, "options": options, "files": stats}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def args_fingerprint(args, files: Iterable[str | os.PathLike] = (), paths: Iterable[str] = ()) -> str:
    """The fingerprint of a parsed command line: every option but :data:`NOT_FINGERPRINTED`;
    ``paths`` names the arguments that are local paths (compared resolved)."""
    opts = {k: v for k, v in sorted(vars(args).items()) if k not in NOT_FINGERPRINTED and not callable(v)}
    for k in paths:
        v = opts.get(k)
        if isinstance(v, str) and "://" not in v:
            opts[k] = str(Path(v).resolve())
        elif isinstance(v, list):
            opts[k] = [str(Path(x).resolve()) if "://" not in x else x for x in v]
    opts.pop("out", None)
    return fingerprint(args.command, opts, files)


def _read_marker(folder: Path) -> Optional[dict]:
    try:
        m = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def _write_marker(folder: Path, command: str, fp: str, state: str) -> None:
    write_text_atomic(folder / MARKER, json.dumps({"command": command, "fingerprint": fp, "state": state}))


@dataclass
class Target:
    out: Path  # the dataset folder the user named
    path: Path  # where this run writes: OUT/.s1mmalign-staging, or OUT itself when resuming a finished dataset in place
    command: str
    fingerprint: str
    fresh: bool = False  # this open made ``path``'s dataset: a new staging folder, or the entries of a folder that had none

    def commit(self) -> None:
        """Put the finished dataset in place: the old one's entries move aside, the new ones in,
        then the old ones are removed. A kill at any point is finished by the next :func:`open_target`."""
        if self.path == self.out:
            _write_marker(self.out, self.command, self.fingerprint, "complete")
            return
        _write_marker(self.path, self.command, self.fingerprint, "complete")
        _finish_swap(self.out)

    def fail(self) -> None:
        """This run wrote nothing worth keeping: its staging may be removed by any later run."""
        if self.path != self.out:
            _write_marker(self.path, self.command, self.fingerprint, "failed")

    def abandon(self) -> bool:
        """Undo a run that stopped before doing any work (a source path mistyped, no paper found):
        remove what its open made, so that the corrected command is not refused as another run's
        unfinished dataset. Nothing is removed once any unit has finished a stage or any shard or
        index exists (a rerun resumes from there), nor in a folder an earlier run made. True: undone."""
        if not self.fresh or any((self.path / n).exists() for n in ("data", "wds", "index")) or \
                next((self.path / ".build").rglob("*.done.json"), None) is not None:
            return False
        if self.path != self.out:
            shutil.rmtree(self.path)  # a staging folder this open made: wholly ours
        else:
            _remove_entries(self.out)  # the dataset's names only: none existed before this open
        return True


def _finish_swap(out: Path) -> None:
    staging, old = out / STAGING, out / OLD
    marker = _read_marker(staging) or {}
    if marker.get("state") == "complete":  # phase 1: every entry of the old dataset moves aside
        old.mkdir(exist_ok=True)
        for name in ENTRIES:
            if (out / name).exists() or (out / name).is_symlink():
                if (old / name).exists():
                    _remove(old / name)
                os.replace(out / name, old / name)
        _write_marker(staging, marker["command"], marker["fingerprint"], "moving")
        marker["state"] = "moving"
    if marker.get("state") == "moving":  # phase 2: the new entries move in, the marker last
        for p in sorted(staging.iterdir(), key=lambda p: p.name == MARKER):
            if p.name in ENTRIES:
                if (out / p.name).exists():
                    _remove(out / p.name)
                os.replace(p, out / p.name)
        _write_marker(out, marker["command"], marker["fingerprint"], "complete")
        shutil.rmtree(staging, ignore_errors=True)  # ours: its marker says so
    _remove_old(old)


def _remove_entries(folder: Path) -> None:
    """Remove the dataset's own names (:data:`ENTRIES`) in ``folder``, and nothing else."""
    for name in ENTRIES:
        if (folder / name).exists() or (folder / name).is_symlink():
            _remove(folder / name)


def _remove_old(old: Path) -> None:
    """Remove what phase 1 moved into ``old`` (dataset entries only), then ``old`` if that emptied it:
    a folder of that name that holds anything else was not made by a swap and stays."""
    _remove_entries(old)
    try:
        old.rmdir()
    except OSError:
        pass


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink()


def _describe(marker: Optional[dict]) -> str:
    return f"written by `s1mmalign {marker['command']}` with other inputs or options" if marker else "not written by this command"


def build_target(cfg, *, overwrite: bool = False) -> Target:
    """A build's OUT: the same sources resume (the build itself redoes what its options changed)."""
    sources = sorted(str(Path(s["path"]).resolve()) if "://" not in str(s["path"]) else str(s["path"]) for s in cfg.sources)
    return open_target(cfg.out, "build", fingerprint("build", {"sources": sources}), overwrite=overwrite,
                       resumable=True, in_place=True)


def _file_marker(path: Path) -> Path:
    return path.with_name(f".{path.name}.s1mmalign.json")


def open_file_target(path: str | os.PathLike, command: str, fp: str, *, overwrite: bool = False) -> Path:
    """The same rule for a single output file (a manifest): an existing file is replaced only when
    this command wrote it with the same fingerprint, or with ``overwrite``. The file itself must be
    written atomically by the caller, who calls :func:`commit_file_target` after."""
    path = Path(path)
    if path.is_dir():
        raise TargetError(f"{path} is a folder; name the output file, or end OUT with / to write OUT/manifest.jsonl")
    if path.exists() and not overwrite:
        marker = _file_marker(path)
        m = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
        if not (m and m.get("command") == command and m.get("fingerprint") == fp):
            raise TargetError(f"{path} already exists ({_describe(m)}); choose another name, or pass --overwrite to replace it")
    return path


def commit_file_target(path: str | os.PathLike, command: str, fp: str) -> None:
    write_text_atomic(_file_marker(Path(path)), json.dumps({"command": command, "fingerprint": fp, "state": "complete"}))


def open_target(out: str | os.PathLike, command: str, fp: str, *, overwrite: bool = False,
                resumable: bool = False, in_place: bool = False) -> Target:
    """Check ``out`` for a run of ``command`` with fingerprint ``fp``; returns where to write.

    ``in_place``: a command whose own resume state makes every step atomic (build) works in OUT
    itself, except when it replaces another dataset (then in the staging folder, as the others).

    Raises :class:`TargetError` when ``out`` is a file, or holds another dataset and not ``overwrite``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TargetError(f"{out} is a file, not a folder; name a new or empty folder for the dataset")
    staging = out / STAGING
    if (out / OLD).exists() or (_read_marker(staging) or {}).get("state") in ("complete", "moving"):
        _finish_swap(out)  # a run was killed while putting its finished dataset in place
    same = lambda m: bool(m) and m.get("command") == command and m.get("fingerprint") == fp  # noqa: E731
    current, pending = _read_marker(out), _read_marker(staging)
    # (a staging folder without a marker was killed before its marker was written: it holds nothing yet)
    if pending and not same(pending) and pending.get("state") != "failed" and not overwrite:
        raise TargetError(f"{out} holds an unfinished run {_describe(pending)}; rerun that command to finish it, "
                          "or pass --overwrite to replace it")
    if same(current) and resumable and not staging.exists():  # finished before: resumes in place (skips what is done)
        _write_marker(out, command, fp, "writing")
        return Target(out, out, command, fp)
    ours = [n for n in ENTRIES if (out / n).exists()]
    if ours and current is None:  # named like a dataset's, but no marker says this program wrote them
        raise TargetError(f"{out} holds {', '.join(ours)} but no {MARKER}, so s1mmalign cannot tell they are its own "
                          "and will not resume or replace them (not even with --overwrite); choose another folder, "
                          "or move them out of the way and rerun")
    if ours and not same(current) and not overwrite:
        what = _describe(current)
        raise TargetError(f"{out} already holds a dataset ({what}); choose another folder, rerun the command that "
                          "wrote it to resume, or pass --overwrite to replace it (the old one stays readable until "
                          "the new one is complete)")
    if staging.exists() and not (same(pending) and resumable and pending.get("state") == "writing"):
        if pending is None and any(not (p.name.startswith(f".{MARKER}.") and p.name.endswith(TMP_SUFFIX))
                                   for p in staging.iterdir()):  # no marker: only a killed marker write is ours
            raise TargetError(f"{staging} holds files this program did not write (it has no {MARKER}); "
                              "move them out of the way and rerun")
        shutil.rmtree(staging)  # ours: an unfinished run this one replaces, or a start-over command's earlier try
    if in_place and (same(current) or not ours) and not staging.exists():
        out.mkdir(parents=True, exist_ok=True)
        _write_marker(out, command, fp, "writing")
        return Target(out, out, command, fp, fresh=not ours)
    fresh = not staging.exists()
    staging.mkdir(parents=True, exist_ok=True)
    _write_marker(staging, command, fp, "writing")
    return Target(out, staging, command, fp, fresh=fresh)
