"""Train a small CLIP on the S1-MMAlign stream, on CPU, with checkpoint and exact resume.

    # a dataset folder (or hf://datasets/<org>/<name>); without --data a small one is generated
    python examples/train_clip.py --data DATASET --discipline physics --steps 60 --ckpt /tmp/clip-ckpt
    # from the Hub, downloading each shard once (later epochs read the local copies):
    python examples/train_clip.py --data hf://datasets/ORG/NAME --cache-dir /local/ssd/cache
    # stop half-way, then resume from the checkpoint (model, optimizer and loader state):
    python examples/train_clip.py --steps 60 --stop-after 30 --ckpt /tmp/clip-ckpt
    python examples/train_clip.py --steps 60 --resume --ckpt /tmp/clip-ckpt

The model is a transformers ``CLIPModel`` built from a small config with random weights
(nothing is downloaded). Checkpoints are ``torch.save`` of state dicts only and are loaded
with ``weights_only=True``: no arbitrary object is ever unpickled. For DDP, start one process
per GPU with torchrun and wrap the model; the stream splits by rank by itself and every rank
gets the same number of batches.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from s1mmalign.loaders import CLIPCollate, S1MMAlignStream, make_dataloader
from s1mmalign.loaders.tiny import synthetic_records, tiny_clip


def generated_dataset(folder: Path) -> Path:
    from s1mmalign.builder.shards.write import write_dataset
    from s1mmalign.builder.shards.writers import ShardOptions

    if not (folder / "index" / "shards.json").is_file():
        write_dataset(synthetic_records(600, disciplines=("physics", "biology", "astronomy")), folder,
                      options=ShardOptions(parquet_shard_bytes=200_000, tar_shard_bytes=200_000))
    return folder


def save(path: Path, model, optimizer, loader, step: int, epoch: int, losses: list[float]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "loader": loader.state_dict(),
                "step": step, "epoch": epoch, "losses": losses}, tmp)
    tmp.replace(path)  # never a half-written checkpoint under the final name


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="dataset folder or URL (default: generate a small one in --ckpt)")
    ap.add_argument("--discipline", default="physics")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--num-workers", type=int, default=0)
    ap.add_argument("--cache-dir", help="keep remote shards here, so later epochs read them locally")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ckpt", default=str(Path(tempfile.gettempdir()) / "s1mmalign-clip"))
    ap.add_argument("--save-every", type=int, default=10)
    ap.add_argument("--stop-after", type=int, help="stop (as if killed) after this many steps")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint in --ckpt")
    args = ap.parse_args(argv)

    ckpt_dir = Path(args.ckpt)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    data = args.data or generated_dataset(ckpt_dir / "dataset")
    model, processor = tiny_clip(ckpt_dir / "tokenizer", seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    stream = S1MMAlignStream(data, disciplines=[args.discipline], shuffle_buffer=200, seed=0, cache_dir=args.cache_dir)
    collate = CLIPCollate(processor)
    print(f"training on {stream.describe()}")

    step, epoch, losses = 0, 0, []
    loader_state = None
    ckpt = ckpt_dir / "checkpoint.pt"
    if args.resume:
        if not ckpt.is_file():  # (a run stopped before its first save, every --save-every steps, leaves none)
            raise SystemExit(f"--resume: no checkpoint in {ckpt_dir} yet (one is saved every --save-every "
                             f"{args.save_every} steps); run without --resume to start")
        state = torch.load(ckpt, weights_only=True)  # tensors, numbers, strings only
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, epoch, losses, loader_state = state["step"], state["epoch"], state["losses"], state["loader"]
        print(f"resumed at step {step} (epoch {epoch})")

    cut = 0
    started = time.perf_counter()
    while step < args.steps:
        stream.set_epoch(epoch)
        loader = make_dataloader(stream, batch_size=args.batch_size, num_workers=args.num_workers, collate_fn=collate)
        if loader_state is not None:
            loader.load_state_dict(loader_state)
            loader_state = None
        for batch in loader:
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        pixel_values=batch["pixel_values"], return_loss=True)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            losses.append(out.loss.item())
            cut += int(batch["captions_cut"])
            step += 1
            if step % 10 == 0:
                print(f"step {step:4d}  epoch {epoch}  loss {sum(losses[-10:]) / len(losses[-10:]):.3f}  "
                      f"captions cut to fit: {cut}")
            if step % args.save_every == 0 or step == args.steps:
                save(ckpt, model, optimizer, loader, step, epoch, losses)
            if step == args.steps or step == args.stop_after:
                break
        else:
            epoch += 1
            continue
        break
    first, last = losses[: min(10, len(losses))], losses[-min(10, len(losses)):]
    summary = {"steps": step, "first_loss": sum(first) / len(first), "last_loss": sum(last) / len(last),
               "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
