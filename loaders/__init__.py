"""s1mmalign.loaders: dataset folders and Hub repositories in, training batches out.

    from s1mmalign.loaders import S1MMAlignStream, make_dataloader, CLIPCollate
    stream = S1MMAlignStream("hf://datasets/org/s1-mmalign", disciplines=["physics"], modalities="plot")
    loader = make_dataloader(stream, batch_size=256, num_workers=8, collate_fn=CLIPCollate(processor))

See docs/loaders.md.
"""

import importlib

_EXPORTS = {
    "S1MMAlignStream": "s1mmalign.loaders.stream",
    "make_dataloader": "s1mmalign.loaders.dataloader",
    "S1MMAlignLoader": "s1mmalign.loaders.dataloader",
    "CLIPCollate": "s1mmalign.loaders.collate",
    "collate_samples": "s1mmalign.loaders.collate",
    "Source": "s1mmalign.loaders.source",
    "IndexMismatchError": "s1mmalign.loaders.source",
}

__all__ = list(_EXPORTS)


def __getattr__(name):  # imported on first use: `s1mmalign --help` need not load torch
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 's1mmalign.loaders' has no attribute {name!r}")
