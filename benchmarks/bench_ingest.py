"""Ingest throughput and memory on a generated arXiv corpus, next to merely decompressing it.

    .venv/bin/python benchmarks/bench_ingest.py [--papers 500] [--per-tar 100] [--workdir DIR]

Generates ``--papers`` papers (LaTeX with three figures each: PNG always, every fourth paper an
EPS, every fourth a PDF; \\input, sub-figures, references) packed as arXiv bulk source tars
(``arXiv_src_2401_NNN.tar`` of gzipped per-paper tars), plus OAI metadata. Then, each in a
fresh subprocess (so peak RSS is its own):

* ``list``:   stream every bulk tar, gunzip each member and list its files (the floor);
* ``read``:   ``discover_units`` + ``Unit.read`` (LaTeX parsing, rasterising, contexts);
* ``ingest``: the full command (reader + filters + dedup + modality rules + manifest on disk).

The read step runs on half the corpus too: its peak RSS must not grow with the corpus size.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "builder" / "sample" / "papers"


def _figure_png(seed: int) -> bytes:
    """A plot-like 640x480 PNG (axes, curves, labels), distinct per seed."""
    from PIL import Image, ImageDraw

    rnd = random.Random(seed)
    img = Image.new("RGB", (640, 480), "white")
    d = ImageDraw.Draw(img)
    d.line([(60, 430), (620, 430)], fill="black", width=2)
    d.line([(60, 430), (60, 20)], fill="black", width=2)
    for c in range(3):
        colour = tuple(rnd.randrange(40, 220) for _ in range(3))
        a, b, ph = rnd.uniform(0.5, 3), rnd.uniform(40, 160), rnd.uniform(0, 6)
        pts = [(60 + x, 230 - b * math.sin(a * x / 90 + ph) - rnd.uniform(-6, 6)) for x in range(0, 560, 3)]
        d.line(pts, fill=colour, width=2)
    for k in range(8):
        d.text((60 + k * 70, 440), f"{k * 0.5:.1f}", fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _sample_vectors() -> tuple[bytes, bytes]:
    eps = (SAMPLE / "2401.00002" / "hist.eps").read_bytes()
    with tarfile.open(SAMPLE / "2401.00001.tar.gz") as tf:
        pdf = tf.extractfile("figures/sq_exact.pdf").read()
    return eps, pdf


def _paper(i: int, eps: bytes, pdf: bytes) -> dict[str, bytes]:
    kinds = ["png", "eps" if i % 4 == 1 else "png", "pdf" if i % 4 == 2 else "png"]
    figs, files = [], {}
    for k, kind in enumerate(kinds, 1):
        name = f"figs/f{k}.{kind}"
        files[name] = {"png": lambda: _figure_png(i * 10 + k), "eps": lambda: eps, "pdf": lambda: pdf}[kind]()
        figs.append(f"\\begin{{figure}}\\centering\\includegraphics[width=\\linewidth]{{figs/f{k}}}\n"
                    f"\\caption{{Measured response of sample {i} in configuration {k}, with $\\alpha={k}.{i % 10}$ "
                    f"and a fit (solid line).}}\\label{{fig:{k}}}\\end{{figure}}")
    files["main.tex"] = (
        "\\documentclass{revtex4-2}\n\\usepackage{graphicx}\n\\begin{document}\n"
        f"\\title{{Generated paper {i}}}\n\\begin{{abstract}}We study sample {i}.\\end{{abstract}}\n\\maketitle\n"
        "\\input{sections/intro}\n" + "\n".join(figs) + "\n\\end{document}\n"
    ).encode()
    files["sections/intro.tex"] = (
        "\\section{Introduction}\nThe response in Fig.~\\ref{fig:1} saturates. "
        "Figs.~\\ref{fig:2}--\\ref{fig:3} compare the configurations, and \\cref{fig:3} shows the fit.\n"
        + "Filler text about the experimental setup and the methods. " * 40 + "\n"
    ).encode()
    return files


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def generate(root: Path, n: int, per_tar: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    eps, pdf = _sample_vectors()
    tars, meta = [], []
    cats = ["cond-mat.str-el", "astro-ph.GA", "cs.LG", "q-bio.NC", "math.PR"]
    for t in range(math.ceil(n / per_tar)):
        path = root / f"arXiv_src_2401_{t + 1:03d}.tar"
        with tarfile.open(path, "w") as tf:
            for i in range(t * per_tar, min(n, (t + 1) * per_tar)):
                pid = f"2401.{i:05d}"
                data = _tar_gz(_paper(i, eps, pdf))
                info = tarfile.TarInfo(f"2401/{pid}.gz")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
                meta.append({"id": pid, "title": f"Generated paper {i}", "abstract": f"We study sample {i}.",
                             "categories": f"{cats[i % 5]} physics.data-an", "license": "http://creativecommons.org/licenses/by/4.0/"})
        tars.append(path)
    (root / "meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
    return tars


# -- the measured steps (each runs in its own process) ----------------------------------------

def step_list(tars: list[str]) -> dict:
    import gzip

    papers = files = 0
    for t in tars:
        with tarfile.open(t, mode="r|") as tf:
            for m in tf:
                data = gzip.decompress(tf.extractfile(m).read())
                with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                    files += sum(1 for x in inner if x.isfile() and inner.extractfile(x).read() is not None)
                papers += 1
    return {"papers": papers, "files": files}


def step_read(tars: list[str], meta: str) -> dict:
    from s1mmalign.builder.records.rejects import Rejects
    from s1mmalign.builder.sources.discover import discover_units

    rejects, records = Rejects(), 0
    for unit in discover_units(tars, meta):
        for _ in unit.read(rejects):
            records += 1
    return {"records": records, "rejects": rejects.by_reason()}


def step_ingest(tars: list[str], meta: str, out: str) -> dict:
    from s1mmalign.builder.commands.ingest import ingest

    report = ingest(tars, out, arxiv_metadata=meta, progress=False)
    return {"records": report["records_written"], "rejects": report["rejects_by_reason"], "stages": report["stages"]}


def _child(args) -> None:
    import resource

    tars = args.tars.split(",")
    if args.step != "list":  # imports (datasets, pyarrow, PIL) are not the step's work
        import s1mmalign.builder.commands.ingest  # noqa: F401
        import s1mmalign.builder.stages.modality  # noqa: F401
    start = time.perf_counter()
    if args.step == "list":
        res = step_list(tars)
    elif args.step == "read":
        res = step_read(tars, args.meta)
    else:
        res = step_ingest(tars, args.meta, args.out)
    res["seconds"] = time.perf_counter() - start
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def _run(step: str, tars: list[Path], meta: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--tars", ",".join(map(str, tars)), "--meta", str(meta), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=500)
    ap.add_argument("--per-tar", type=int, default=100)
    ap.add_argument("--workdir", help="where the corpus goes (default: a temporary folder, removed)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--tars", help=argparse.SUPPRESS)
    ap.add_argument("--meta", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.step = args.child
        return _child(args)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="s1mm-bench-ingest-"))
    try:
        t0 = time.perf_counter()
        tars = generate(work / "corpus", args.papers, args.per_tar)
        size = sum(t.stat().st_size for t in tars)
        print(f"corpus: {args.papers} papers in {len(tars)} bulk tars, {size / 2**20:.1f} MiB "
              f"(generated in {time.perf_counter() - t0:.1f} s)")
        meta = work / "corpus" / "meta.jsonl"
        half = tars[: max(1, len(tars) // 2)]
        n_half = min(args.papers, len(half) * args.per_tar)
        rows = [
            ("decompress + list", args.papers, _run("list", tars, meta, work / "o1")),
            (f"read ({n_half} papers)", n_half, _run("read", half, meta, work / "o2")),
            ("read", args.papers, _run("read", tars, meta, work / "o3")),
            ("ingest (full)", args.papers, _run("ingest", tars, meta, work / "o4")),
        ]
        base = rows[0][2]["seconds"]
        print(f"{'step':<24}{'papers':>8}{'seconds':>10}{'papers/s':>10}{'x list':>8}{'peak RSS MB':>13}  records")
        for name, n, r in rows:
            print(f"{name:<24}{n:>8}{r['seconds']:>10.2f}{n / r['seconds']:>10.1f}{r['seconds'] / base:>8.1f}"
                  f"{r['peak_rss_mb']:>13.0f}  {r.get('records', '-')}")
        full = rows[3][2]
        print(f"ingest rejects: {full['rejects']}; stages: {', '.join(full['stages'])}")
        grow = rows[2][2]["peak_rss_mb"] / rows[1][2]["peak_rss_mb"]
        print(f"peak RSS of read, {args.papers} vs {n_half} papers: x{grow:.2f} (bounded: one paper in memory at a time)")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
