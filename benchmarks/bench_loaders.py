"""s1mmalign.loaders vs webdataset, HF datasets streaming, MosaicML streaming and litdata, on one generated dataset.

    .venv/bin/python benchmarks/bench_loaders.py [--samples 20000] [--dir /tmp/s1mmalign-bench] [--dpi 80]
        [--import-only | --full-only | --slice-only | --remote-only] [--local-only] [--repeat 3]
        [--peers-python /work/peers-venv/bin/python]    # MosaicML + litdata (see bench_loaders_peers.py)

Every contender does the same work per sample: decode the image with PIL
(``core.images.decode_image``), resize to 224x224, and tokenize the caption with the same
CLIP tokenizer in batches of 256. Each run is a fresh subprocess (peak RSS is its own);
files are read once beforehand so every run sees the page cache; each run imports torch and its
own loader only, and starts its timer on a collected heap (``gc.collect()``: otherwise a full
collection that the imports left due, ~0.1 s over a big heap, lands in whichever pass comes first
to it). Printed per run: samples/s,
bytes read (``rchar`` of /proc/self/io: everything passed through read calls) and peak RSS.

Runs: this loader on tar and on Parquet, webdataset (tar), HF datasets streaming (Parquet),
all unfiltered with a 1000-sample shuffle buffer; then a ~5 % discipline slice (chemistry):
this loader vs webdataset reading everything and selecting by the ``.json`` discipline; and
the same slice over HTTP from a loopback server capped at ``--remote-mb-per-s`` (a network
link: there the bytes not read are time not spent); and this loader with a shuffle buffer of
5000 (memory follows the buffer, not the data). One process, this loader decodes in a second thread
(``decode_ahead``, its default outside DataLoader workers; PIL decodes beside the consumer's resize
and tokenizer); runs named ``...-da0`` decode in the consumer's thread, as the peers' bytes are.
Runs named ``...-ra0`` are this loader with
``read_ahead=0`` (reading in the consumer's thread), side by side with the default (a
background thread reads the next samples while the current ones are decoded).
On a shared machine wall-clock rates vary with the load; the CPU seconds of each run are
the fair comparison, and both are printed.

Peers (``--peers-python``, skipped with a note where that interpreter is absent): MosaicML
``streaming`` (MDS) and ``litdata`` read the same samples converted once to their formats, both as
one dataset and as one folder per discipline (their best option for a discipline slice). A slice
that follows no folder — one license, ~5 % of the samples — is this loader's ``where=`` against
each peer reading everything and filtering. ``s1mmalign-parquet-cols`` reads
``columns=["image", "recaption"]`` only. Runs named ``...-raw`` do none of the per-sample work
(images handed over as bytes, this loader with ``decode=False``; no resize, no tokenizer): the
loaders' own reading, where decoding no longer hides it. Over the capped link, MosaicML reads
``hf://`` from the fake Hub of the tests (``tests/hub_server.py``, capped alike) and litdata
``s3://`` from a loopback S3 server (moto) behind a link capped alike (``capped_link.py``). Import cost:
``import s1mmalign.loaders`` bare, and the stream class over ``import torch`` beside ``import litdata`` / ``import streaming``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench_loaders_peers import Work, cpu_seconds  # noqa: E402  (the per-sample work shared with the peers)

SHARES = {"physics": 33, "computer_science": 25, "astronomy": 13, "biology": 10, "mathematics": 9,
          "chemistry": 5, "medicine": 3, "earth_science": 2}
MODALITIES = ["plot", "heatmap", "diagram", "microscopy", "photograph"]
SLICE = "chemistry"
LICENSE = "cc-by-nc-4.0"  # ~5 % of the samples, spread over every shard: a slice that follows no folder
BATCH = 256
BUFFER = 1000


# -- the dataset -------------------------------------------------------------------------------


def _figure_pool(n: int, dpi: int = 80) -> list[tuple[bytes, str]]:
    """``n`` realistic figures: matplotlib plots/heatmaps/bars as PNG, image-like panels as JPEG (4x3 in at ``dpi``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rng = np.random.default_rng(0)
    pool = []
    for i in range(n):
        fig, ax = plt.subplots(figsize=(4.0, 3.0), dpi=dpi)
        kind = i % 4
        if kind == 0:
            x = np.linspace(0, 10, 200)
            for j in range(3):
                ax.plot(x, np.sin(x * (j + 1) / 3 + i) + 0.1 * rng.standard_normal(200), label=f"c{j}")
            ax.legend(); ax.set_xlabel("time (s)"); ax.set_ylabel("signal")
        elif kind == 1:
            ax.imshow(rng.standard_normal((60, 60)).cumsum(0), cmap="viridis"); ax.set_title("map")
        elif kind == 2:
            ax.bar(range(8), rng.uniform(1, 10, 8), yerr=rng.uniform(0, 1, 8)); ax.set_ylabel("counts")
        else:  # a micrograph-like panel, stored as JPEG
            img = rng.standard_normal((240, 320)).cumsum(0).cumsum(1)
            ax.imshow(img, cmap="gray"); ax.axis("off")
        buf = io.BytesIO()
        fmt = "jpeg" if kind == 3 else "png"
        fig.savefig(buf, format=fmt, **({"pil_kwargs": {"quality": 90}} if fmt == "jpeg" else {}))
        plt.close(fig)
        pool.append((buf.getvalue(), fmt))
    return pool


def _records(n: int, dpi: int = 80):
    pool = _figure_pool(160, dpi)
    discs = [d for d, share in SHARES.items() for _ in range(share)]
    rnd = random.Random(0)
    words = ("signal spectrum sample phase density field measured model fit error temperature cell galaxy "
             "network layer energy pressure reaction protein").split()
    for i in range(n):
        data, _ = pool[i % len(pool)]
        sentences = [" ".join(rnd.choice(words) for _ in range(rnd.randint(6, 14))).capitalize() + "." for _ in range(20)]
        yield {
            "key": f"bench_{i:07d}", "image": {"bytes": data, "path": None},
            "caption": sentences[0], "recaption": " ".join(sentences[:8]), "title": "A paper",
            "abstract": " ".join(sentences[8:]) * 2, "citation_contexts": sentences[5:11],  # ~1.7 KB, ~0.5 KB
            "paper_id": f"p{i // 4}", "figure_label": f"fig{i % 4}", "source": "arxiv",
            "categories": [], "discipline": discs[rnd.randrange(100)], "modality": MODALITIES[i % len(MODALITIES)],
            "license": LICENSE if rnd.random() < 0.05 else "cc-by-4.0",
        }


def make_dataset(root: Path, n: int, dpi: int = 80) -> Path:
    ds = root / (f"ds{n}-v2" if dpi == 80 else f"ds{n}-v2-dpi{dpi}")
    if (ds / "index" / "shards.json").is_file():
        return ds
    from s1mmalign.builder.shards.write import write_dataset
    from s1mmalign.builder.shards.writers import ShardOptions

    mib = 1 << 20
    t = time.perf_counter()
    report = write_dataset(_records(n, dpi), ds, options=ShardOptions(parquet_shard_bytes=32 * mib, tar_shard_bytes=32 * mib,
                                                                 row_group_bytes=4 * mib), progress=True)
    print(f"wrote {report['written']} samples, {report['shards']} shards in {time.perf_counter() - t:.0f} s", flush=True)
    return ds


# -- one run (in a subprocess) ---------------------------------------------------------------------


def _peak_rss() -> int:
    """Bytes: VmHWM of this process (``ru_maxrss`` would include the parent's, as it survives exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


def _run(name: str, ds: Path, tok_dir: Path, buffer: int, base_url: str = "") -> dict:
    import gc

    import torch  # imports outside the timed part: torch for every contender, each its own loader only

    if name.startswith("hf-"):
        import datasets
    if name.startswith("webdataset"):
        import webdataset as wds
    from s1mmalign.loaders import S1MMAlignStream, make_dataloader

    if base_url and name.startswith("s1mmalign"):
        # this loader's HTTP client (fsspec + aiohttp, ~0.18 s CPU) loads on first use: here before the
        # timer, as `import streaming` loads huggingface_hub's for MosaicML's hf:// runs
        import fsspec.implementations.http  # noqa: F401
    from s1mmalign.loaders.tiny import char_clip_tokenizer

    char_clip_tokenizer(tok_dir)
    raw = name.endswith("-raw")  # no decode + resize: the loaders' own reading (this loader: decode=False)
    name = name.removesuffix("-raw")
    work = Work(tok_dir, images=not raw)
    workers = 2 if name.endswith("-w2") else 0

    def text_of(meta):
        return meta.get("recaption") or meta.get("caption") or ""

    tars = sorted(str(p) for p in (ds / "wds").rglob("*.tar"))
    where: "str | Path" = ds
    if base_url:  # the same files over HTTP (webdataset fetches with curl, this loader with fsspec)
        tars = [f"{base_url}/{ds.name}/{Path(t).relative_to(ds).as_posix()}" for t in tars]
        where = f"{base_url}/{ds.name}"
    parquets = sorted(str(p) for p in (ds / "data").rglob("*.parquet"))
    gc.collect()  # every contender starts timing on a collected heap
    r0, t0, c0 = _rchar(), time.perf_counter(), cpu_seconds()
    counted = n = 0
    if name.startswith("s1mmalign"):
        fmt = "parquet" if "parquet" in name else "wds"
        disc = [SLICE] if "slice" in name else None
        opts = {"read_ahead": 0} if name.endswith("-ra0") else {}
        if "-da0" in name:  # decoding in the consumer's thread, where each peer's bytes are decoded
            opts["decode_ahead"] = 0
        if raw:
            opts["decode"] = False
        if "-license" in name:
            opts["where"] = [("license", "==", LICENSE)]
        if "-cols" in name:
            opts["columns"] = ["image", "recaption"]
        stream = S1MMAlignStream(where, format=fmt, disciplines=disc, shuffle_buffer=buffer, seed=0, **opts)
        if workers:  # the stream decodes in the workers; resize + tokenize in the workers' collate
            n = sum(make_dataloader(stream, batch_size=BATCH, num_workers=workers,
                                    collate_fn=lambda b: work([(s["image"], s["text"]) for s in b])))
        else:
            for s in stream:  # the stream decodes (PIL, bomb guard) itself
                work.add(s["image"], s["text"])
        counted = stream.source.bytes_read[0] + stream.source.index_bytes_read[0]  # sockets are not in rchar
    elif name.startswith("webdataset"):
        pipe = wds.WebDataset(tars, shardshuffle=False, empty_check=False,
                              workersplitter=wds.split_by_worker if workers else None)
        if "select" in name:  # read everything, keep the slice by its metadata, decode only what is kept
            pipe = pipe.select(lambda s: json.loads(s["json"])["discipline"] == SLICE)
        if "license" in name:
            pipe = pipe.select(lambda s: json.loads(s["json"])["license"] == LICENSE)
        pipe = pipe.shuffle(buffer).map(  # no webdataset decoders (they unpickle .pyd): raw bytes -> PIL ourselves
            lambda s: (next(s[e] for e in ("png", "jpg", "jpeg", "webp") if e in s), text_of(json.loads(s["json"]))))
        if workers:
            n = sum(torch.utils.data.DataLoader(pipe, batch_size=BATCH, num_workers=workers, collate_fn=work))
        else:
            for image, text in pipe:
                work.add(image, text)
    elif name == "hf-datasets-streaming":
        hf = datasets.load_dataset("parquet", data_files={"train": parquets}, split="train", streaming=True)
        hf = hf.cast_column("image", datasets.Image(decode=False)).shuffle(seed=0, buffer_size=buffer)
        for row in hf:
            work.add(row["image"]["bytes"], text_of(row))
    else:
        raise ValueError(name)
    n = n or work.n
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    peak = _peak_rss()
    return {"name": name + ("-raw" if raw else ""), "buffer": buffer, "samples": n, "seconds": seconds, "samples_per_s": n / seconds,
            "cpu_seconds": cpu, "samples_per_cpu_s": n / cpu, "bytes_read": max(_rchar() - r0, counted), "peak_rss": peak}


PEERS = Path(__file__).with_name("bench_loaders_peers.py")
PEERS_PYTHON: "str | None" = None  # set by --peers-python when that interpreter exists


HUB_REPO = "bench/peers"  # the peers' folder as a dataset repo of the fake Hub (MosaicML reads hf://)


def _once(name: str, ds: Path, tok_dir: Path, buffer: int, base_url: str, hub_url: str = "", s3_url: str = "") -> dict:
    env = {**os.environ, "LITDATA_DISABLE_VERSION_CHECK": "1"}
    if name.startswith(("mosaicml", "litdata")):
        cmd = [PEERS_PYTHON, str(PEERS), "--run", name, "--root", str(ds.parent / f"{ds.name}-peers"),
               "--tok", str(tok_dir), "--slice", SLICE, "--license", LICENSE]
        if hub_url and name.startswith("mosaicml"):
            cmd += ["--hub", HUB_REPO]
            env.update(HF_ENDPOINT=hub_url, HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1")
        if s3_url and name.startswith("litdata"):
            cmd += ["--s3", s3_url]
    else:
        cmd = [sys.executable, __file__, "--run", name, "--dataset", str(ds), "--tok", str(tok_dir),
               "--buffer", str(buffer), "--base-url", base_url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _where(name: str, hub_url: str, s3_url: str) -> str:
    """Where a remote run reads from: this loader and webdataset HTTP, MosaicML ``hf://``, litdata S3 (or its local copy)."""
    if name.startswith("mosaicml"):
        return "@hf" if hub_url else "@local"
    if name.startswith("litdata"):
        return "@s3" if s3_url else "@local"
    return "@http"


def _spawn_all(names, ds: Path, tok_dir: Path, buffer: int = BUFFER, base_url: str = "", repeat: int = 1,
               hub_url: str = "", s3_url: str = "") -> dict:
    """Each run in a fresh process, ``repeat`` rounds over all ``names`` (round-robin, so a change of
    the machine's load touches every contender alike); per name the run of median wall time."""
    runs: dict = {n: [] for n in names}
    for _ in range(repeat):
        for n in names:
            runs[n].append(_once(n, ds, tok_dir, buffer, base_url, hub_url, s3_url))
    out = {}
    for n in names:
        res = out[n] = dict(sorted(runs[n], key=lambda r: r["seconds"])[len(runs[n]) // 2], rounds=runs[n])
        where = "" if not base_url else _where(n, hub_url, s3_url)
        print(f"  {n + where:<32} buf {buffer:>5}: {res['samples']:>6} samples "
              f"{res['samples_per_cpu_s']:>7.1f}/CPU-s ({res['samples_per_s']:>6.1f}/s wall) "
              f"read {res['bytes_read'] / 2**20:>8.1f} MiB  peak RSS {res['peak_rss'] / 2**20:>7.1f} MiB", flush=True)
    return out


def main() -> None:
    global PEERS_PYTHON
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--dpi", type=int, default=80,
                    help="figure resolution: 4x3 in at this dpi (80: 320x240, ~18 KiB a sample; 240: 960x720)")
    ap.add_argument("--dir", default="/tmp/s1mmalign-bench")
    ap.add_argument("--remote-mb-per-s", type=float, nargs="+", default=[50.0, 20.0],
                    help="rate caps of the loopback HTTP server for the remote slice runs (default: 50 and 20 MB/s)")
    ap.add_argument("--remote-only", action="store_true", help="run only the slice over HTTP")
    ap.add_argument("--slice-only", action="store_true", help="run only the 5 %% slices (local and over HTTP)")
    ap.add_argument("--local-only", action="store_true", help="skip the runs over HTTP")
    ap.add_argument("--import-only", action="store_true", help="only the import cost")
    ap.add_argument("--full-only", action="store_true", help="only the unfiltered runs (with decode, and read only)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each contender; the median by wall time is shown (default 3)")
    ap.add_argument("--peers-python", default="/work/peers-venv/bin/python",
                    help="interpreter with mosaicml-streaming and litdata (skipped, with a note, when absent)")
    ap.add_argument("--run"), ap.add_argument("--dataset"), ap.add_argument("--tok"), ap.add_argument("--buffer", type=int)
    ap.add_argument("--base-url", default="")
    args = ap.parse_args()
    if args.run:
        print(json.dumps(_run(args.run, Path(args.dataset), Path(args.tok), args.buffer, args.base_url)))
        return
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    ds = make_dataset(root, args.samples, args.dpi)
    tar_bytes = sum(p.stat().st_size for p in (ds / "wds").rglob("*.tar"))
    pq_bytes = sum(p.stat().st_size for p in (ds / "data").rglob("*.parquet"))
    index = json.loads((ds / "index" / "shards.json").read_text())
    slice_n = sum(index["counts"].get(SLICE, {}).values())
    print(f"dataset: {index['num_samples']} samples, tar {tar_bytes / 2**20:.0f} MiB "
          f"({tar_bytes / index['num_samples'] / 1024:.0f} KiB a sample), parquet {pq_bytes / 2**20:.0f} MiB; "
          f"slice {SLICE}: {slice_n} samples ({slice_n / index['num_samples']:.1%}); {os.cpu_count()} CPUs")
    if args.peers_python and Path(args.peers_python).is_file():
        PEERS_PYTHON = args.peers_python
        t = time.perf_counter()
        subprocess.run([PEERS_PYTHON, str(PEERS), "--write", "--dataset", str(ds), "--root", str(ds.parent / f"{ds.name}-peers")],
                       check=True, env={**os.environ, "LITDATA_DISABLE_VERSION_CHECK": "1"})
        print(f"peers: MDS and litdata chunks of the same samples ready ({time.perf_counter() - t:.0f} s)")
    else:
        print(f"peers skipped: no interpreter at {args.peers_python} (see benchmarks/bench_loaders_peers.py)")
    for p in [*ds.parent.glob(f"{ds.name}*/**/*.*")]:  # warm the page cache
        if p.is_file():
            p.read_bytes()
    import_cost()
    if args.import_only:
        return
    tok = root / "tok"
    if args.slice_only:
        local_slice(ds, tok, args.repeat)
    elif not args.remote_only:
        local(ds, tok, tar_bytes, args.repeat, args.full_only)
    if not (args.local_only or args.full_only):
        remote(root, ds, tok, args.remote_mb_per_s, args.repeat)


def import_cost(repeat: int = 5) -> None:
    """``import s1mmalign.loaders`` bare, and the stream class over ``import torch`` (the part that is ours:
    every peer imports torch), against ``import litdata`` / ``import streaming`` over torch where the
    peers' interpreter is there. Each a fresh process, median of ``repeat``; byte-compiled first (into a
    temporary ``PYTHONPYCACHEPREFIX``: an installed package has its ``.pyc``, an editable checkout under
    ``PYTHONDONTWRITEBYTECODE`` would otherwise compile on every import)."""
    import tempfile

    probe = ("import sys, time; {pre}; "
             "rss = lambda: next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmRSS')); "
             "r = rss(); t = time.perf_counter(); {imp}; "
             "print(time.perf_counter() - t, rss() - r, 'datasets' in sys.modules, "
             "any(m.startswith('s1mmalign.builder') for m in sys.modules))")
    cases = {"import s1mmalign.loaders": (sys.executable, "pass", "import s1mmalign.loaders"),
             "S1MMAlignStream over torch": (sys.executable, "import torch", "from s1mmalign.loaders import S1MMAlignStream")}
    if PEERS_PYTHON:
        cases["litdata over torch"] = (PEERS_PYTHON, "import torch", "import litdata")
        cases["streaming over torch"] = (PEERS_PYTHON, "import torch", "import streaming")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = {}
    with tempfile.TemporaryDirectory() as pyc:
        env.update(PYTHONPYCACHEPREFIX=pyc, LITDATA_DISABLE_VERSION_CHECK="1")
        for label, (python, pre, imp) in cases.items():
            cmd = [python, "-c", probe.format(pre=pre, imp=imp)]
            subprocess.run(cmd, capture_output=True, env=env, check=True)  # writes the .pyc
            runs = [subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout.split()
                    for _ in range(repeat)]
            out[label] = (sorted(float(r[0]) for r in runs)[repeat // 2], sorted(int(r[1]) for r in runs)[repeat // 2] / 1024,
                          runs[0][2], runs[0][3])
    print(f"import cost (median of {repeat} fresh processes; RSS growth over the process before the import):")
    for label, (secs, mib, ds_, builder) in out.items():
        print(f"  {label:<28} {secs:6.3f} s  +{mib:6.1f} MiB" + (f"  datasets imported: {ds_}  builder: {builder}"
                                                                if label.startswith(("import s1", "S1")) else ""))
    bare, ours = out["import s1mmalign.loaders"], out["S1MMAlignStream over torch"]
    print(f"  target: import s1mmalign.loaders < 0.2 s and < 30 MiB -> {bare[0]:.3f} s, +{bare[1]:.1f} MiB")
    for peer in ("litdata over torch", "streaming over torch"):
        if peer in out:
            print(f"  S1MMAlignStream / {peer}: {ours[0] / out[peer][0]:.2f}x the time, {ours[1] / max(out[peer][1], 0.1):.2f}x the memory")


def _peers(names) -> list[str]:
    return [n for n in names if PEERS_PYTHON or not n.startswith(("mosaicml", "litdata"))]


def compare(r: dict, ours: list[str], rivals: dict[str, list[str]], label: str) -> None:
    """Each of ``ours`` against each rival's best option (by wall time), in samples/s and samples/CPU-s."""
    print(f"ratios, {label} (wall samples/s; per CPU-second in brackets; >= 1.0 is ahead):")
    for n in ours:
        for rival, options in rivals.items():
            have = [r[o] for o in options if o in r]
            if not have:
                continue
            best = max(have, key=lambda x: x["samples_per_s"])
            print(f"  {n} / {rival} ({best['name']}): {r[n]['samples_per_s'] / best['samples_per_s']:.2f}x "
                  f"({r[n]['samples_per_cpu_s'] / best['samples_per_cpu_s']:.2f}x){_spread(r[n], best)}")


def _spread(a: dict, b: dict) -> str:
    """The range of the per-CPU-second ratio over the rounds run side by side: on a shared machine one
    round's ratio moves by 10-20 %, so a difference inside this range is not one."""
    pairs = list(zip(a.get("rounds", []), b.get("rounds", [])))
    if len(pairs) < 2:
        return ""
    ratios = [x["samples_per_cpu_s"] / y["samples_per_cpu_s"] for x, y in pairs]
    return f", per round {min(ratios):.2f}-{max(ratios):.2f}x"


RAW_RUNS = ("webdataset-raw", "s1mmalign-tar-raw", "s1mmalign-parquet-raw", "s1mmalign-parquet-cols-raw",
            "hf-datasets-streaming-raw", "mosaicml-raw", "litdata-raw")


def local(ds: Path, tok: Path, tar_bytes: int, repeat: int, full_only: bool = False) -> None:
    print(f"unfiltered (decode + resize 224 + tokenize, one process, shuffle buffer 1000; median of {repeat}):")
    names = _peers(("webdataset", "s1mmalign-tar", "s1mmalign-tar-da0", "s1mmalign-tar-cols", "s1mmalign-parquet",
                    "s1mmalign-parquet-da0", "s1mmalign-parquet-cols", "hf-datasets-streaming", "mosaicml", "litdata"))
    r = _spawn_all(names, ds, tok, repeat=repeat)
    compare(r, ["s1mmalign-tar", "s1mmalign-parquet"], {"webdataset": ["webdataset"], "MosaicML": ["mosaicml"],
                                                        "litdata": ["litdata"], "HF datasets": ["hf-datasets-streaming"]},
            "full pass, one process")
    compare(r, ["s1mmalign-tar-da0", "s1mmalign-parquet-da0"], {"MosaicML": ["mosaicml"], "litdata": ["litdata"]},
            "full pass, one process, decode_ahead=0 (decoding in the consumer's thread, as the peers' bytes are)")
    # a CLIP job asks for the image and one caption; the peers' copies hold 6 fields, this dataset's 27
    compare(r, ["s1mmalign-tar-cols", "s1mmalign-parquet-cols"], {"litdata": ["litdata"], "MosaicML": ["mosaicml"]},
            "full pass, one process, columns=['image', 'recaption']")
    print(f"unfiltered, 2 DataLoader workers (the work in the workers; CPU-s include the workers'; median of {repeat}):")
    r.update(_spawn_all(_peers(("webdataset-w2", "s1mmalign-tar-w2", "s1mmalign-tar-cols-w2", "s1mmalign-parquet-w2",
                                 "s1mmalign-parquet-cols-w2", "mosaicml-w2", "litdata-w2")), ds, tok, repeat=repeat))
    compare(r, ["s1mmalign-tar-w2", "s1mmalign-parquet-w2"], {"webdataset": ["webdataset-w2"], "MosaicML": ["mosaicml-w2"],
                                                              "litdata": ["litdata-w2"]}, "full pass, 2 workers")
    compare(r, ["s1mmalign-tar-cols-w2", "s1mmalign-parquet-cols-w2"], {"litdata": ["litdata-w2"], "MosaicML": ["mosaicml-w2"]},
            "full pass, 2 workers, columns=['image', 'recaption']")
    print(f"read only (images passed on as bytes, this loader with decode=False; no resize, no tokenizer; "
          f"one process; median of {repeat}):")
    r.update(_spawn_all(_peers(RAW_RUNS), ds, tok, repeat=repeat))
    compare(r, ["s1mmalign-tar-raw", "s1mmalign-parquet-raw"],
            {p: [f"{n}-raw"] for p, n in (("webdataset", "webdataset"), ("MosaicML", "mosaicml"), ("litdata", "litdata"),
                                           ("HF datasets", "hf-datasets-streaming"))}, "read only, one process")
    for suffix, what in (("", "with decode + resize"), ("-raw", "read only")):
        cols, full = r[f"s1mmalign-parquet-cols{suffix}"], r[f"s1mmalign-parquet{suffix}"]
        print(f"  columns=['image', 'recaption'] / all columns (parquet, {what}): {cols['samples_per_s'] / full['samples_per_s']:.2f}x "
              f"({cols['samples_per_cpu_s'] / full['samples_per_cpu_s']:.2f}x per CPU-s), "
              f"{cols['bytes_read'] / max(full['bytes_read'], 1):.0%} of the bytes (target >= 1.3x)")
    if full_only:
        return
    r.update(local_slice(ds, tok, repeat))
    print("memory vs shuffle buffer (s1mmalign-tar):")
    large = _spawn_all(["s1mmalign-tar"], ds, tok, 5000)["s1mmalign-tar"]
    print(f"  peak RSS, s1mmalign-tar buffer 1000 -> 5000: {r['s1mmalign-tar']['peak_rss'] / 2**20:.0f} -> "
          f"{large['peak_rss'] / 2**20:.0f} MiB (dataset: {tar_bytes / 2**20:.0f} MiB of tar; "
          f"webdataset, buffer 1000: {r['webdataset']['peak_rss'] / 2**20:.0f} MiB)")


SLICE_RUNS = ("webdataset-select", "s1mmalign-tar-slice-ra0", "s1mmalign-tar-slice", "s1mmalign-parquet-slice-ra0",
              "s1mmalign-parquet-slice")
PEER_SLICE_RUNS = ("mosaicml-slice", "mosaicml-select", "litdata-slice", "litdata-select")
LICENSE_RUNS = ("webdataset-license", "s1mmalign-tar-license", "s1mmalign-parquet-license", "mosaicml-license",
                "litdata-license")


def local_slice(ds: Path, tok: Path, repeat: int) -> dict:
    print(f"5 % slices on local disk ({SLICE} by discipline; license {LICENSE}, in no folder; median of {repeat} runs):")
    r = _spawn_all(_peers((*SLICE_RUNS, *PEER_SLICE_RUNS, *LICENSE_RUNS)), ds, tok, repeat=repeat)
    slice_ratios(r)
    compare(r, ["s1mmalign-tar-slice", "s1mmalign-parquet-slice"],
            {"MosaicML": ["mosaicml-slice", "mosaicml-select"], "litdata": ["litdata-slice", "litdata-select"]},
            "discipline slice vs each peer's best option")
    compare(r, ["s1mmalign-tar-license", "s1mmalign-parquet-license"],
            {"webdataset": ["webdataset-license"], "MosaicML": ["mosaicml-license"], "litdata": ["litdata-license"]},
            "license slice (no folder to read) vs each peer reading all and filtering")
    return r


def slice_ratios(r: dict, where: str = "") -> None:
    ws = r["webdataset-select"]
    for n in SLICE_RUNS[1:]:
        print(f"  {n}{where}: {ws['seconds'] / r[n]['seconds']:.1f}x faster wall than webdataset-select{where} "
              f"(target >= 5x; {ws['cpu_seconds'] / r[n]['cpu_seconds']:.1f}x less CPU), "
              f"{r[n]['bytes_read'] / max(ws['bytes_read'], 1):.1%} of its bytes")


REMOTE_LICENSE_RUNS = ("webdataset-license", "s1mmalign-tar-license", "s1mmalign-parquet-license")
PEER_REMOTE_RUNS = ("mosaicml-slice", "mosaicml-select", "mosaicml-license", "litdata-slice", "litdata-license")


def remote(root: Path, ds: Path, tok: Path, rates: list[float], repeat: int) -> None:
    """The slices over a capped link: there the bytes not read are time not spent. This loader and
    webdataset read HTTP from a loopback server; MosaicML reads ``hf://`` from the fake Hub of the tests
    (``tests/hub_server.py``) capped alike, into a fresh local folder per run; litdata reads ``s3://``
    from a loopback S3 server (moto, in the peers' venv) behind a link capped alike
    (``capped_link.py``), into a fresh cache per run. Without moto, litdata's local runs stand beside."""
    hub_cls, s3 = None, None
    if PEERS_PYTHON:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from hub_server import FakeHub as hub_cls

        s3 = _serve_s3(ds.parent / f"{ds.name}-peers")
    try:
        for mb in rates:
            _remote_at(mb, root, ds, tok, repeat, hub_cls, s3)
    finally:
        if s3 is not None:
            s3[0].stdin.close()
            s3[0].wait()


def _serve_s3(peers_root: Path):
    """(process, port) of the peers' loopback S3 server holding litdata's folders; None (with a note) without moto."""
    proc = subprocess.Popen([PEERS_PYTHON, str(PEERS), "--serve-s3", "--root", str(peers_root)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.wait()
        print("note: no S3 server (moto not installed beside the peers: pip install 'moto[server]'); "
              "litdata's local runs stand beside the remote ones")
        return None
    return proc, int(line)


def _remote_at(mb: float, root: Path, ds: Path, tok: Path, repeat: int, hub_cls, s3) -> None:
    from capped_link import CappedLink

    from s1mmalign.loaders.tiny import serve_http

    server, _ = serve_http(root, bytes_per_s=mb * 1e6)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"5 % slices over a {mb:.0f} MB/s link per connection (loopback; median of {repeat} runs):")
    hub = hub_cls(ds.parent / f"{ds.name}-peers", HUB_REPO, bytes_per_s=mb * 1e6) if hub_cls else None
    link = CappedLink(s3[1], mb * 1e6) if s3 else None
    try:
        if hub is not None:
            hub.__enter__()
        if link is not None:
            link.__enter__()
        res = _spawn_all(_peers((*SLICE_RUNS, *REMOTE_LICENSE_RUNS, *PEER_REMOTE_RUNS)), ds, tok, base_url=base,
                         repeat=repeat, hub_url=hub.url if hub is not None else "",
                         s3_url=f"http://127.0.0.1:{link.port}" if link is not None else "")
    finally:
        server.shutdown()
        server.server_close()
        if hub is not None:
            hub.__exit__(None, None, None)
        if link is not None:
            link.__exit__(None, None, None)
    lit = "litdata@s3" if link is not None else "litdata@local"
    slice_ratios(res, "@http")
    compare(res, ["s1mmalign-tar-slice", "s1mmalign-parquet-slice"],
            {"webdataset": ["webdataset-select"], "MosaicML@hf": ["mosaicml-slice", "mosaicml-select"],
             lit: ["litdata-slice"]}, f"discipline slice at {mb:.0f} MB/s vs each peer's best option")
    compare(res, ["s1mmalign-tar-license", "s1mmalign-parquet-license"],
            {"webdataset": ["webdataset-license"], "MosaicML@hf": ["mosaicml-license"],
             lit: ["litdata-license"]}, f"license slice at {mb:.0f} MB/s (no folder to read)")


if __name__ == "__main__":
    main()
