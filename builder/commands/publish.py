"""``s1mmalign publish OUT REPO_ID``: a built dataset folder -> a Hub dataset repository.

Checks first (nothing is sent when one fails), against the Hub's documented limits
(https://huggingface.co/docs/hub/repositories-recommendations, https://huggingface.co/docs/hub/storage-limits):
fewer than 10k entries per folder, 100k files per repository, no file over 50 GB (20 GB
recommended: warned), plus a finished build (README.md card, ``index/shards.json``) and no
temporary files a crashed writer left. ``--dry-run`` lists what would be uploaded.

The upload is resumable: ``upload_large_folder`` where the installed huggingface_hub has it
(< 1.x); on huggingface_hub 2.x, whose ``upload_folder`` itself streams through Xet, commits in
several batches and skips what is already committed when rerun, ``upload_folder``. The token
comes from ``HF_TOKEN`` or the cached login and is never printed.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional

from s1mmalign.core import contract
from s1mmalign.core.atomic import TMP_SUFFIX

log = logging.getLogger(__name__)

GB = 1000**3
MAX_ENTRIES_PER_FOLDER = 10_000
MAX_FILES_PER_REPO = 100_000
MAX_FILE_BYTES = 50 * GB  # hard limit per file
RECOMMENDED_FILE_BYTES = 20 * GB
#: Local state that is not part of the dataset: hidden top-level folders (the build's and
#: convert's resume state ``.build``/``.convert``, the Hub upload cache ``.cache``), git folders.
IGNORE_PATTERNS = [".*/**", "**/.git/**"]

LOGIN_HELP = ("no Hugging Face token found. Log in with `hf auth login` (or `huggingface-cli login` on older "
              "installs, or `huggingface_hub.login()` in Python), or set the HF_TOKEN environment variable to a "
              "token with write access (https://huggingface.co/settings/tokens)")


class PublishError(ValueError):
    """The folder cannot be published as it is; the message says why and what to do."""


@dataclass
class Plan:
    files: list[tuple[str, int]]  # (path in repo, bytes), sorted
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(n for _, n in self.files)


def _ignored(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in IGNORE_PATTERNS) or "/.git/" in f"/{rel}"


def plan_upload(out: str | os.PathLike, *, max_entries_per_folder: int = MAX_ENTRIES_PER_FOLDER,
                max_files: int = MAX_FILES_PER_REPO, max_file_bytes: int = MAX_FILE_BYTES) -> Plan:
    """What ``publish`` would upload; :class:`PublishError` when the folder breaks a limit."""
    out = Path(out)
    if not out.is_dir():
        raise PublishError(f"{out} is not a folder; build one with `s1mmalign build --source ... --out {out}`")
    missing = [n for n in ("README.md", contract.SHARD_INDEX_FILE) if not (out / n).is_file()]
    if missing:
        raise PublishError(f"{out} is not a finished dataset (missing {', '.join(missing)}); "
                           f"finish it with `s1mmalign build` (a rerun resumes) before publishing")
    files: list[tuple[str, int]] = []
    temporaries: list[str] = []
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if not p.is_file() or _ignored(rel):
            continue
        if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX):
            temporaries.append(rel)
            continue
        files.append((rel, p.stat().st_size))
    if temporaries:
        raise PublishError(f"{len(temporaries)} temporary file(s) from an interrupted writer (e.g. {temporaries[0]}); "
                           f"rerun `s1mmalign build` to finish the dataset, then publish")
    problems: list[str] = []
    if len(files) > max_files:
        problems.append(f"{len(files)} files; the Hub handles at most {max_files} per repository: "
                        f"use bigger shards (shards.parquet_shard_mb / tar_shard_mb) or fewer formats")
    entries: dict[str, set[str]] = {}
    for rel, _ in files:
        parts = PurePosixPath(rel).parts
        for i in range(len(parts)):
            entries.setdefault("/".join(parts[:i]) or ".", set()).add(parts[i])
    for folder, names in sorted(entries.items()):
        if len(names) > max_entries_per_folder:
            problems.append(f"folder {folder!r} has {len(names)} entries; the Hub allows fewer than "
                            f"{max_entries_per_folder} per folder: use bigger shards")
    warnings: list[str] = []
    for rel, n in files:
        if n > max_file_bytes:
            problems.append(f"{rel} is {n / GB:.1f} GB; the Hub's limit is {max_file_bytes / GB:.0f} GB per file: "
                            f"use smaller shards")
        elif n > RECOMMENDED_FILE_BYTES:
            warnings.append(f"{rel} is {n / GB:.1f} GB (the Hub recommends under {RECOMMENDED_FILE_BYTES / GB:.0f} GB)")
    if problems:
        raise PublishError("cannot publish: " + "; ".join(problems[:10]) + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""))
    return Plan(files, warnings)


def require_token() -> str:
    """The token from HF_TOKEN or the cached login; :class:`PublishError` naming the ways to log in."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PublishError(LOGIN_HELP)
    return token


def publish(out: str | os.PathLike, repo_id: str, *, private: bool = False, dry_run: bool = False,
            revision: Optional[str] = None, num_workers: Optional[int] = None) -> Plan:
    """Check, then upload ``out`` to the dataset repo ``repo_id`` (created if needed)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:  # a dry run that approves 'hf://datasets/org/name' or 'org/na me' would fail only when it uploads
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise ValueError(f"repository {repo_id!r} is not a Hub repo id ({' '.join(str(e).split())}); "
                         "write ORG/NAME, e.g. your-org/S1-MMAlign") from None
    plan = plan_upload(out)
    for w in plan.warnings:
        log.warning(w)
    if dry_run:
        return plan
    token = require_token()
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if hasattr(api, "upload_large_folder"):  # huggingface_hub < 1.x
            kwargs = {"num_workers": num_workers} if num_workers else {}
            api.upload_large_folder(repo_id=repo_id, folder_path=str(out), repo_type="dataset", private=private,
                                    revision=revision, ignore_patterns=IGNORE_PATTERNS, **kwargs)
        else:  # 2.x: upload_folder is the resumable, multi-commit uploader
            api.upload_folder(repo_id=repo_id, folder_path=str(out), repo_type="dataset", revision=revision,
                              ignore_patterns=IGNORE_PATTERNS, commit_message="Upload S1-MMAlign build")
    except Exception as e:  # noqa: BLE001 - HTTP and network errors: say what to do; the token is not in them
        msg = str(e).replace(token, "***")
        raise RuntimeError(f"upload to dataset {repo_id} failed: {type(e).__name__}: {msg.splitlines()[0] if msg else ''}"
                           f" -- check the token's write access and the network, then rerun to resume") from None
    return plan


def _human(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def add_cli(sub) -> None:
    p = sub.add_parser("publish", help="upload a built dataset folder to a Hub dataset repository (resumable)",
                       description="Check OUT against the Hub's limits, then upload it to the dataset repository "
                                   "REPO_ID (created if needed). Rerun the same command to resume an interrupted upload. "
                                   "Token: HF_TOKEN or `hf auth login`.")
    p.add_argument("out", help="dataset folder written by `s1mmalign build`")
    p.add_argument("repo_id", help="e.g. your-org/S1-MMAlign")
    p.add_argument("--private", action="store_true", help="create the repository private (default public)")
    p.add_argument("--dry-run", action="store_true", help="check and list what would be uploaded; send nothing")
    p.add_argument("--revision", help="branch to upload to (default main)")
    p.add_argument("--num-workers", type=int, help="parallel upload workers (upload_large_folder only)")
    p.set_defaults(func=_cli_publish)


def _cli_publish(args) -> int:
    plan = publish(args.out, args.repo_id, private=args.private, dry_run=args.dry_run, revision=args.revision,
                   num_workers=args.num_workers)
    if args.dry_run:
        for rel, n in plan.files:
            print(f"{n:>14,d}  {rel}")
        print(f"dry run: would upload {len(plan.files)} files, {_human(plan.total_bytes)}, to dataset "
              f"{args.repo_id} ({'private' if args.private else 'public'})")
    else:
        print(f"uploaded {len(plan.files)} files, {_human(plan.total_bytes)}, to "
              f"https://huggingface.co/datasets/{args.repo_id}", file=sys.stderr)
    return 0
