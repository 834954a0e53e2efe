"""The peers of ``bench_loaders.py``: MosaicML ``streaming`` (MDS) and ``litdata`` on the same samples.

Run by ``bench_loaders.py`` with the peers' own interpreter (``--peers-python``; ``import
streaming`` needs torchvision, which does not load beside the CPU torch of .venv), e.g.

    python3.11 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 mosaicml-streaming==0.13.0 litdata==0.2.76
    /work/peers-venv/bin/pip install --no-deps -e .    # decode_image: the same decoding for every contender

``--write`` converts the benchmark dataset's tar shards (the same samples, bytes for bytes) to MDS
and litdata chunks, once as one dataset and once per discipline folder (each peer's best
option for a discipline slice). ``--run NAME`` runs one contender and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tarfile
import time
from pathlib import Path

BATCH = 256
CHUNK = 32 << 20  # bytes per MDS shard / litdata chunk, as the tar and Parquet shards of the benchmark
COLUMNS = {"key": "str", "image": "bytes", "text": "str", "discipline": "str", "modality": "str", "license": "str"}


def samples(ds: Path):
    """Every sample of the dataset's tars: the fields a CLIP job and the slices use."""
    for tar in sorted((ds / "wds").rglob("*.tar")):
        with tarfile.open(tar) as t:
            members: dict = {}
            for m in t:
                key, _, ext = m.name.partition(".")
                members.setdefault(key, {})[ext] = t.extractfile(m).read()
            for key, parts in members.items():
                meta = json.loads(parts["json"])
                image = next(parts[e] for e in ("png", "jpg", "jpeg", "webp") if e in parts)
                yield {"key": key, "image": image, "text": meta.get("recaption") or meta.get("caption") or "",
                       "discipline": meta["discipline"], "modality": meta["modality"], "license": meta["license"]}


def write(ds: Path, out: Path) -> None:
    from litdata.streaming.writer import BinaryWriter
    from streaming import MDSWriter

    if (out / "done").is_file():
        return
    shutil.rmtree(out, ignore_errors=True)
    writers: dict = {}

    def writer(kind: str, name: str):
        if (kind, name) not in writers:
            folder = out / kind / name
            folder.mkdir(parents=True)
            writers[kind, name] = (MDSWriter(out=str(folder), columns=COLUMNS, size_limit=CHUNK) if kind == "mds"
                                   else BinaryWriter(str(folder), chunk_bytes=CHUNK))
        return writers[kind, name]

    count: dict = {}
    for s in samples(ds):
        for name in ("all", f"by/{s['discipline']}"):
            writer("mds", name).write(s)
            i = count[name] = count.get(name, -1) + 1
            writer("litdata", name).add_item(i, s)
    for (kind, _), w in writers.items():
        if kind == "mds":
            w.finish()
        else:
            w.done()
            w.merge(1)
    (out / "done").write_text("ok")


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(name: str, root: Path, tok_dir: Path, slice_discipline: str, slice_license: str) -> dict:
    import numpy as np
    from PIL import Image
    from transformers import CLIPTokenizer

    from s1mmalign.builder.images import decode_image

    tok = CLIPTokenizer.from_pretrained(str(tok_dir))
    texts: list[str] = []
    n = 0

    def work(image: bytes, text: str) -> None:
        nonlocal n
        np.asarray(decode_image(image).resize((224, 224), Image.BILINEAR))
        texts.append(text)
        if len(texts) == BATCH:
            tok(texts, padding="max_length", truncation=True, max_length=77, return_tensors="np")
            texts.clear()
        n += 1

    peer, _, how = name.partition("-")
    folder = root / ("mds" if peer == "mosaicml" else "litdata") / (f"by/{slice_discipline}" if how == "slice" else "all")
    keep = {"select": lambda s: s["discipline"] == slice_discipline,
            "license": lambda s: s["license"] == slice_license}.get(how, lambda s: True)
    import litdata  # imports outside the timed part, as for every contender
    from streaming import StreamingDataset

    r0, t0, c0 = _rchar(), time.perf_counter(), _cpu()
    if peer == "mosaicml":
        data = StreamingDataset(local=str(folder), shuffle=True, shuffle_seed=0, batch_size=BATCH)
    else:
        data = litdata.StreamingDataset(str(folder), shuffle=True, seed=0)
    for s in data:
        if keep(s):
            work(s["image"], s["text"])
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"name": name, "samples": n, "seconds": seconds, "samples_per_s": n / seconds, "cpu_seconds": cpu,
            "samples_per_cpu_s": n / cpu, "bytes_read": _rchar() - r0,
            "peak_rss": next(int(x.split()[1]) * 1024 for x in open("/proc/self/status") if x.startswith("VmHWM"))}


def main() -> None:
    os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--run")
    ap.add_argument("--dataset", type=Path)
    ap.add_argument("--root", type=Path)
    ap.add_argument("--tok", type=Path)
    ap.add_argument("--slice", default="chemistry")
    ap.add_argument("--license", default="cc-by-nc-4.0")
    args = ap.parse_args()
    if args.write:
        write(args.dataset, args.root)
    else:
        print(json.dumps(run(args.run, args.root, args.tok, args.slice, args.license)))


if __name__ == "__main__":
    main()
