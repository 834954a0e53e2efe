"""Two real processes on torch.distributed (gloo, loopback): equal batches, no repeats, exact resume.

The test launches this file twice as a script (rank 0 and 1). Each rank streams a filtered
selection whose shards are uneven, steps an ``all_reduce`` per batch (unequal batch counts
would fail here on the collective's timeout instead of passing), and checks a mid-epoch
resume with 0 and 2 DataLoader workers (the latter with ``mix_chunk``). Ranks write what they saw; the test compares.
"""

from __future__ import annotations

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

STOP_AT = 5  # batches before the checkpoint


def _rank_main(rank: int, world: int, port: int, dataset: str, out: str) -> None:
    import torch
    import torch.distributed as dist

    from s1mmalign.loaders import S1MMAlignStream, make_dataloader

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))

    def loader(workers):
        # physics + biology, plots and diagrams: shards of different sizes, an odd total
        s = S1MMAlignStream(dataset, disciplines=["physics", "biology", "astronomy"], modalities=["plot", "diagram"],
                            seed=11, shuffle_buffer=24, mix_chunk=7 if workers else None)
        s.set_epoch(3)
        return make_dataloader(s, batch_size=6, num_workers=workers)

    result = {}
    for workers in (0, 2):
        dl = loader(workers)
        full = []
        for batch in dl:
            full.append(batch["key"])
            t = torch.ones(1)
            dist.all_reduce(t)  # every rank must reach every step
        counts = [None] * world
        dist.all_gather_object(counts, len(full))
        head_loader = loader(workers)
        it = iter(head_loader)
        head = [next(it)["key"] for _ in range(STOP_AT)]
        buf = io.BytesIO()
        torch.save(head_loader.state_dict(), buf)
        del it, head_loader
        resumed = loader(workers)
        resumed.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
        tail = [b["key"] for b in resumed]
        result[str(workers)] = {"full": full, "len": len(dl), "counts": counts, "head": head, "tail": tail}
    dist.barrier()
    dist.destroy_process_group()
    Path(out).write_text(json.dumps(result))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks_output(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    ds = tmp / "ds"
    write_dataset(synthetic_records(301), ds, options=ShardOptions(parquet_shard_bytes=50_000, tar_shard_bytes=37_000))
    port = _free_port()
    procs = [
        subprocess.Popen([sys.executable, __file__, str(r), "2", str(port), str(ds), str(tmp / f"rank{r}.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    return [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(2)], ds


def _expected(n=301):
    return {r["key"] for r in synthetic_records(n)
            if r["discipline"] in ("physics", "biology", "astronomy") and r["modality"] in ("plot", "diagram")}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_equal_batch_counts_on_uneven_shards(ranks_output, workers):
    (r0, r1), ds = ranks_output
    a, b = r0[workers], r1[workers]
    assert a["counts"] == b["counts"] == [len(a["full"]), len(b["full"])]
    assert len(a["full"]) == len(b["full"]) == a["len"] == b["len"]
    sizes = json.loads((ds / "sizes.json").read_text())
    tars = [n for p, n in sizes.items() if p.endswith(".tar")]
    assert len(set(tars)) > 1  # the shards really are uneven


@pytest.mark.parametrize("workers", ["0", "2"])
def test_no_sample_twice_within_an_epoch(ranks_output, workers):
    (r0, r1), _ = ranks_output
    keys = [k for r in (r0, r1) for batch in r[workers]["full"] for k in batch]
    assert len(keys) == len(set(keys))
    expected = _expected()
    assert set(keys) <= expected and len(expected) - len(keys) < 2  # at most world_size-1 left over


@pytest.mark.parametrize("workers", ["0", "2"])
def test_exact_resume_batch_by_batch(ranks_output, workers):
    (r0, r1), _ = ranks_output
    for r in (r0, r1):
        run = r[workers]
        assert run["head"] == run["full"][:STOP_AT]
        assert len(run["tail"]) == len(run["full"]) - STOP_AT
        for i, (got, want) in enumerate(zip(run["tail"], run["full"][STOP_AT:])):
            assert got == want, f"batch {STOP_AT + i} differs after resume"


if __name__ == "__main__":
    _rank_main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
