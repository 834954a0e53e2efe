"""The peers of ``bench_loaders.py``: MosaicML ``streaming`` (MDS) and ``litdata`` on the same samples.

Run by ``bench_loaders.py`` with the peers' own interpreter (``--peers-python``; ``import
streaming`` needs torchvision, which does not load beside the CPU torch of .venv), e.g.

    python3.11 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 mosaicml-streaming==0.13.0 litdata==0.2.76
    /work/peers-venv/bin/pip install transformers==5.24.0 tokenizers==0.23.3 numpy==2.4.6  # the tokenizer of .venv
    /work/peers-venv/bin/pip install "moto[server]==5.2.6"  # the S3 server litdata reads over the capped link
    /work/peers-venv/bin/pip install --no-deps -e .    # decode_image: the same decoding for every contender

(torch 2.14.1 from PyPI is the CUDA build: with its nvidia-* wheels the venv is ~6.4 GB, installed
in about a minute from the registry here. The CPU torch 2.13.0 of .venv with torchvision 0.28.0
does not work: ``import streaming`` fails with "operator torchvision::nms does not exist".)

``--serve-s3`` serves the litdata folders from an S3 server on loopback (moto: ``pip install
"moto[server]"`` in that venv; litdata's remote option, reading ``s3://`` with ``endpoint_url``); it
prints its port and serves until its stdin closes. ``--write`` converts the benchmark dataset's tar shards (the same samples, bytes for bytes) to MDS
and litdata chunks, once as one dataset and once per discipline folder (each peer's best
option for a discipline slice). ``--run NAME`` runs one contender and prints one JSON line.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import resource
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BATCH = 256
CHUNK = 32 << 20  # bytes per MDS shard / litdata chunk, as the tar and Parquet shards of the benchmark
S3_BUCKET = "bench"
S3_OPTIONS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}
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


def serve_s3(root: Path) -> None:
    """The litdata folders in a bucket of a loopback S3 server (moto); prints the port, serves until stdin closes."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", **S3_OPTIONS)
    s3.create_bucket(Bucket=S3_BUCKET)
    for f in sorted((root / "litdata").rglob("*")):
        if f.is_file():
            s3.upload_file(str(f), S3_BUCKET, f"litdata/{f.relative_to(root / 'litdata').as_posix()}")
    print(port, flush=True)
    sys.stdin.read()
    server.stop()


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


class Work:
    """The per-sample work of every contender: decode (``decode_image``: PIL, bomb guard), resize to
    224x224, tokenize in batches of 256 with one CLIP tokenizer. ``add`` takes one sample (one
    process); calling it with a list of ``(image, text)`` is a DataLoader ``collate_fn`` (the work
    then runs in the workers) and returns the batch size. ``images=False`` (the ``-raw`` runs): nothing
    is decoded, resized nor tokenized (the bytes and texts are only touched): what is left is the
    loader's own reading."""

    def __init__(self, tok_dir: Path, images: bool = True):
        self.tok_dir, self.tok, self.texts, self.n, self.images = str(tok_dir), None, [], 0, images
        if images:  # loaded before every contender's timer, as the imports are: its ~50,000 new objects
            # would otherwise land in the timed pass, and whether they set off a full garbage collection
            # there (~0.14 s) depends on how big each loader's heap happens to be
            from transformers import CLIPTokenizer

            self.tok = CLIPTokenizer.from_pretrained(self.tok_dir)

    def _tokenize(self, texts: list) -> None:
        if not self.images:
            return
        self.tok(texts, padding="max_length", truncation=True, max_length=77, return_tensors="np")

    @staticmethod
    def _image(image) -> None:
        import numpy as np
        from PIL import Image

        from s1mmalign.core.images import decode_image

        img = decode_image(bytes(image)) if isinstance(image, (bytes, memoryview)) else image
        np.asarray(img.resize((224, 224), Image.BILINEAR))

    def add(self, image, text: str) -> None:
        self._image(image) if self.images else len(image)
        self.texts.append(text)
        if len(self.texts) == BATCH:
            self._tokenize(self.texts)
            self.texts = []
        self.n += 1

    def __call__(self, batch: list) -> int:
        for image, text in batch:
            self._image(image) if self.images else len(image)
        self._tokenize([text for _, text in batch])
        return len(batch)


def _fetched(cache: str) -> int:
    """Bytes litdata downloaded into ``cache`` (obstore's socket reads are not in rchar); 0 without a cache."""
    return sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file()) if cache else 0


def cpu_seconds() -> float:
    """CPU seconds of this process and of its reaped children (DataLoader workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def pairs(data, keep):
    """``(image, text)`` of the kept samples of a peer's dataset."""
    for s in data:
        if keep(s):
            yield s["image"], s["text"]


def run(name: str, root: Path, tok_dir: Path, slice_discipline: str, slice_license: str, hub: str = "",
        s3: str = "") -> dict:
    """One contender's pass; ``hub``: MosaicML reads ``hf://datasets/<hub>/mds/...`` (``HF_ENDPOINT`` names the
    server) into a fresh local folder instead of the local MDS folder; ``s3`` (an endpoint URL): litdata
    reads ``s3://`` there into a fresh cache folder."""
    import litdata  # imports outside the timed part, as for every contender
    import torch
    from streaming import StreamingDataset

    raw = name.endswith("-raw")
    peer, _, how = name.removesuffix("-raw").partition("-")
    workers = 2 if how.endswith("w2") else 0
    how = how.removesuffix("w2").rstrip("-")
    folder = root / ("mds" if peer == "mosaicml" else "litdata") / (f"by/{slice_discipline}" if how == "slice" else "all")
    keep = {"select": lambda s: s["discipline"] == slice_discipline,
            "license": lambda s: s["license"] == slice_license}.get(how, lambda s: True)
    work = Work(tok_dir, images=not raw)
    gc.collect()  # as every contender of bench_loaders.py: timing starts on a collected heap
    r0, t0, c0 = _rchar(), time.perf_counter(), cpu_seconds()
    cache = ""
    if peer == "mosaicml" and hub:
        local = tempfile.mkdtemp(prefix="mds-local-")
        atexit.register(shutil.rmtree, local, True)
        data = StreamingDataset(remote=f"hf://datasets/{hub}/{folder.relative_to(root).as_posix()}", local=local,
                                shuffle=True, shuffle_seed=0, batch_size=BATCH)
    elif peer == "mosaicml":
        data = StreamingDataset(local=str(folder), shuffle=True, shuffle_seed=0, batch_size=BATCH)
    elif s3:
        from litdata.streaming import downloader

        # litdata fetches chunks with obstore, which refuses a plain-http endpoint (real S3 is https) unless told
        downloader._OBSTORE_CLIENT_OPTIONS = {**downloader._OBSTORE_CLIENT_OPTIONS, "allow_http": "true"}
        cache = tempfile.mkdtemp(prefix="litdata-cache-")
        atexit.register(shutil.rmtree, cache, True)
        data = litdata.StreamingDataset(f"s3://{S3_BUCKET}/{folder.relative_to(root).as_posix()}", shuffle=True, seed=0,
                                        cache_dir=cache, storage_options={"endpoint_url": s3, **S3_OPTIONS})
    else:
        data = litdata.StreamingDataset(str(folder), shuffle=True, seed=0)
    if workers:
        loader = torch.utils.data.DataLoader(data, batch_size=BATCH, num_workers=workers,
                                             collate_fn=lambda b: work([(s["image"], s["text"]) for s in b if keep(s)]))
        n = sum(loader)
        del loader
    else:
        for image, text in pairs(data, keep):
            work.add(image, text)
        n = work.n
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"name": name, "samples": n, "seconds": seconds, "samples_per_s": n / seconds, "cpu_seconds": cpu,
            "samples_per_cpu_s": n / cpu, "bytes_read": max(_rchar() - r0, _fetched(cache)),
            "peak_rss": next(int(x.split()[1]) * 1024 for x in open("/proc/self/status") if x.startswith("VmHWM"))}


def main() -> None:
    os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--serve-s3", action="store_true")
    ap.add_argument("--run")
    ap.add_argument("--dataset", type=Path)
    ap.add_argument("--root", type=Path)
    ap.add_argument("--tok", type=Path)
    ap.add_argument("--slice", default="chemistry")
    ap.add_argument("--license", default="cc-by-nc-4.0")
    ap.add_argument("--hub", default="", help="MosaicML reads hf://datasets/<this repo id> (HF_ENDPOINT: the server)")
    ap.add_argument("--s3", default="", help="litdata reads s3:// from this endpoint URL")
    args = ap.parse_args()
    if args.write:
        write(args.dataset, args.root)
    elif args.serve_s3:
        serve_s3(args.root)
    else:
        print(json.dumps(run(args.run, args.root, args.tok, args.slice, args.license, args.hub, args.s3)))


if __name__ == "__main__":
    main()
