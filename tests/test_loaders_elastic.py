"""Elastic resume on real gloo ranks and DataLoader workers: a checkpoint taken on N ranks x W workers
resumes on M ranks x V workers, and over the two runs every sample of the epoch is seen exactly once.

The test launches this file as a script once per rank of each run: ``save`` ranks stream part
of an epoch and write rank 0's ``loader.state_dict()``; ``resume`` ranks load that same state
and stream the rest, stepping an ``all_reduce`` per batch (unequal batch counts would hang).
"""

from __future__ import annotations

import collections
import datetime
import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from s1mmalign.builder.shards.write import write_dataset
from s1mmalign.builder.shards.writers import ShardOptions
from s1mmalign.loaders.tiny import synthetic_records

N = 240  # samples; every layout below divides what is left evenly
BATCH = 4


def _rank_main(mode: str, rank: int, world: int, workers: int, steps: int, port: int, dataset: str, out: str) -> None:
    import torch
    import torch.distributed as dist

    from s1mmalign.loaders import S1MMAlignStream, make_dataloader

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    if "," in dataset:  # two datasets mixed 2:1 (every rank must still step the same number of batches)
        stream = S1MMAlignStream(dataset.split(","), weights=[2, 1], samples_per_epoch=270, seed=5, shuffle_buffer=20,
                                 shuffle_initial=5, mix_chunk=11)
    else:
        stream = S1MMAlignStream(dataset, seed=5, shuffle_buffer=20, shuffle_initial=5, mix_chunk=11)
    stream.set_epoch(2)
    loader = make_dataloader(stream, batch_size=BATCH, num_workers=workers)
    seen = []
    if mode == "save":
        it = iter(loader)
        for _ in range(steps):
            seen += next(it)["key"]
            t = torch.ones(1)
            dist.all_reduce(t)
        if rank == 0:
            buf = io.BytesIO()
            torch.save(loader.state_dict(), buf)
            Path(out).with_suffix(".state").write_bytes(buf.getvalue())
        del it
    else:
        state = torch.load(Path(out).with_name("save.state"), weights_only=True)
        loader.load_state_dict(state)
        batches = 0
        for batch in loader:
            seen += batch["key"]
            batches += 1
            t = torch.ones(1)
            dist.all_reduce(t)
        counts = [None] * world
        dist.all_gather_object(counts, batches)
        assert len(set(counts)) == 1, counts
        assert batches == len(loader), (batches, len(loader))
    dist.barrier()
    dist.destroy_process_group()
    Path(out).write_text(json.dumps(seen))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(mode: str, world: int, workers: int, steps: int, ds: Path, tmp: Path) -> list[str]:
    port = _free_port()
    outs = [tmp / (f"save.r{r}" if mode == "save" else f"resume.r{r}") for r in range(world)]
    procs = [subprocess.Popen([sys.executable, __file__, mode, str(r), str(world), str(workers), str(steps), str(port),
                               str(ds), str(tmp / "save") if mode == "save" and r == 0 else str(outs[r])],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(world)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    files = [tmp / "save"] + outs[1:] if mode == "save" else outs
    return [k for f in files for k in json.loads(f.read_text())]


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("elastic") / "ds"
    write_dataset(synthetic_records(N), out, options=ShardOptions(parquet_shard_bytes=50_000, tar_shard_bytes=37_000))
    return out


@pytest.mark.parametrize("before,after", [((2, 2), (1, 1)), ((1, 0), (2, 2)), ((2, 0), (2, 3))],
                         ids=["2x2->1x1", "1x0->2x2", "2x0->2x3"])
def test_elastic_resume_loses_and_repeats_nothing(ds, tmp_path, before, after):
    first = _run("save", *before, 6, ds, tmp_path)
    assert len(first) == before[0] * 6 * BATCH
    rest = _run("resume", *after, 0, ds, tmp_path)
    seen = collections.Counter(first + rest)
    assert max(seen.values()) == 1, [k for k, n in seen.items() if n > 1][:5]
    assert set(seen) == {r["key"] for r in synthetic_records(N)}


def test_mixed_streams_keep_equal_batches_and_resume_elastically(ds, tmp_path):
    """Two datasets mixed 2:1 on gloo ranks: every rank steps every batch (an all_reduce each), and a
    checkpoint from 2 ranks x 2 workers resumes on 1 x 2 with the epoch's quota of each seen once."""
    other = tmp_path / "other"
    write_dataset(synthetic_records(90, seed=1), other, options=ShardOptions(tar_shard_bytes=37_000))
    both = f"{ds},{other}"
    first = _run("save", 2, 2, 4, both, tmp_path)
    rest = _run("resume", 1, 2, 0, both, tmp_path)
    seen = collections.Counter(first + rest)
    assert max(seen.values()) == 1 and len(seen) == 270  # the epoch: 180 of the first, all 90 of the second
    assert collections.Counter(k.split("_")[0] for k in seen) == {"s0": 180, "s1": 90}



if __name__ == "__main__":
    _rank_main(sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7], sys.argv[8])
