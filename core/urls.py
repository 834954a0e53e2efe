"""Where data lives: a local path or any fsspec URL (``hf://``, ``s3://``, ``http(s)://``), resolved one way.

Every reader of a dataset folder or a release resolves its location here: a local path is made
absolute (``~`` expanded), a URL goes to fsspec; :func:`protocols` names what the file system
speaks, :func:`is_local` says whether it is this machine's disk, and :func:`url_of` turns a
path inside the file system back into a URL another process can open.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional


def fs_and_root(url: str | os.PathLike, storage_options: Optional[dict] = None) -> tuple[Any, str]:
    """(fsspec file system, the root's path in it without a trailing slash)."""
    import fsspec

    url = os.fspath(url)
    if "://" not in url:
        url = str(Path(url).expanduser().resolve())
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return fs, root.rstrip("/") or root


def protocols(fs: Any) -> tuple[str, ...]:
    """The protocol names of a file system (``("file", "local")``, ``("hf",)``, ...)."""
    p = fs.protocol
    return tuple(p) if isinstance(p, (tuple, list)) else (p,)


def is_local(fs: Any) -> bool:
    return bool({"file", "local"} & set(protocols(fs)))


def url_of(fs: Any, path: str) -> str:
    """``path`` of ``fs`` as a URL (a plain path on local disk)."""
    return path if is_local(fs) else f"{protocols(fs)[0]}://{path}"
