"""s1mmalign.loaders: dataset folders and Hub repositories in, training batches out.

    from s1mmalign.loaders import S1MMAlignStream, make_dataloader, CLIPCollate
    stream = S1MMAlignStream("hf://datasets/org/s1-mmalign", disciplines=["physics"], modalities="plot")
    loader = make_dataloader(stream, batch_size=256, num_workers=8, collate_fn=CLIPCollate(processor))

See docs/loaders.md.
"""

from s1mmalign.loaders.collate import CLIPCollate, collate_samples
from s1mmalign.loaders.dataloader import S1MMAlignLoader, make_dataloader
from s1mmalign.loaders.source import IndexMismatchError, Source
from s1mmalign.loaders.stream import S1MMAlignStream

__all__ = ["S1MMAlignStream", "make_dataloader", "S1MMAlignLoader", "CLIPCollate", "collate_samples",
           "Source", "IndexMismatchError"]
