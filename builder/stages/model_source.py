"""Where a model argument points: a local folder, or a Hub id (resolved from the cache or the Hub)."""

from __future__ import annotations

from pathlib import Path

#: How to fetch a model where there is network (huggingface_hub 1.x+ installs `hf`, not `huggingface-cli`).
DOWNLOAD_HINT = "`hf download <id> --local-dir DIR`"


def model_path(model: str) -> str:
    """A local folder as a path string, a Hub id as it is; ``ValueError`` for a path that does not exist
    (``/no/such/dir`` is not a Hub id: saying so beats the Hub client's repo-id error)."""
    local = Path(model).expanduser()
    if local.is_dir():
        return str(local)
    if model.startswith(("/", "./", "../", "~", ".\\")) or model.count("/") > 1 or "\\" in model:
        raise ValueError(f"model {model}: no such folder; give a folder holding the model (config.json and its "
                         "weights) or a Hub id such as org/name")
    return model
