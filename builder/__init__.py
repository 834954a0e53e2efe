"""s1mmalign.builder: papers and releases in, validated figure records and shards out.

Stages are plain functions over records (dicts in the contract's schema, see
``s1mmalign_dataset``); the writers turn a stream of records into a dataset folder.
Names below are imported on first use, so ``import s1mmalign.builder.<module>`` (and the
CLI's ``--help``) does not pay for ``datasets`` and ``pyarrow`` up front.
"""

import importlib

_EXPORTS = {
    "Rejects": "s1mmalign.builder.records.rejects",
    "write_dataset": "s1mmalign.builder.shards.write",
    "finalize_dataset": "s1mmalign.builder.shards.write",
    "ShardOptions": "s1mmalign.builder.shards.writers",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 's1mmalign.builder' has no attribute {name!r}")
