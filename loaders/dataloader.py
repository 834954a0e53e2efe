"""``make_dataloader``: torchdata's ``StatefulDataLoader`` over a stream, with an exact length."""

from __future__ import annotations

import warnings
from typing import Callable, Optional

from torchdata.stateful_dataloader import StatefulDataLoader

from s1mmalign.loaders import elastic
from s1mmalign.loaders.collate import collate_samples


class S1MMAlignLoader(StatefulDataLoader):
    """A ``StatefulDataLoader`` whose ``len()`` is the exact number of batches of this rank.

    :meth:`load_state_dict` resumes exactly, batch for batch, on the saved world size and
    ``num_workers``; on others (every rank loading rank 0's state) it resumes elastically: the
    rest of the epoch — every sample the saved run had not consumed, once — is cut anew."""

    def __len__(self) -> int:
        return self.dataset.batches_per_rank(self.batch_size, self.num_workers, self.drop_last)

    def load_state_dict(self, state_dict: dict) -> None:
        stream = self.dataset
        epoch, layer, saved = elastic.layer_from_loader_state(state_dict)
        same = int(saved.get("world_size", -1)) == stream.world_size and (
            ("_snapshot" in state_dict) == (self.num_workers > 0)
            and (layer is None or layer[1] == max(self.num_workers, 1)))
        if same:
            super().load_state_dict(state_dict)
            return
        stream.load_state_dict(saved, elastic=True)
        stream.resume_elastic(epoch, stream.layers + ([layer] if layer else []))


def make_dataloader(
    stream,
    *,
    batch_size: int,
    num_workers: int = 0,
    collate_fn: Optional[Callable] = None,
    drop_last: bool = False,
    prefetch_factor: Optional[int] = None,
    pin_memory: bool = False,
    **kwargs,
) -> S1MMAlignLoader:
    """The loader for ``stream``; ``state_dict()``/``load_state_dict()`` resume mid-epoch exactly.

    ``collate_fn`` defaults to :func:`collate_samples` (lists per field; PIL images stay PIL);
    use :class:`~s1mmalign.loaders.collate.CLIPCollate` for model-ready tensors. Workers are
    not persistent, so :meth:`S1MMAlignStream.set_epoch` reaches them every epoch. Resume
    with the same ``batch_size``, ``num_workers`` and world size as the saved run.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if kwargs.get("persistent_workers"):
        raise ValueError("persistent_workers=True would keep workers on the old epoch; leave it off")
    if num_workers > 0 and prefetch_factor is not None:
        kwargs["prefetch_factor"] = prefetch_factor
    with warnings.catch_warnings():  # torchdata 0.11 calls torch.set_vital, deprecated in torch 2.13: noise only
        warnings.filterwarnings("ignore", message="'set_vital' is deprecated", category=UserWarning)
        return S1MMAlignLoader(stream, batch_size=batch_size, num_workers=num_workers,
                               collate_fn=collate_fn or collate_samples, drop_last=drop_last,
                               pin_memory=pin_memory, **kwargs)
