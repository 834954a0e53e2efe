"""``s1mmalign ingest``: source detection, units, the whole run over good and bad input, the CLI."""

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import s1mmalign_dataset as contract
from s1mmalign.builder.commands.ingest import ingest
from s1mmalign.builder.records.manifest import read_manifest
from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.sources.discover import detect_kind, discover_units

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "builder" / "sample"
PAPERS = SAMPLE / "papers"
META = PAPERS / "arxiv-metadata.jsonl"
REAL = Path(__file__).parent / "data" / "latex_real"
SCATTER = (PAPERS / "2401.00002" / "scatter.png").read_bytes()  # a real 30 KB PNG
BAD_EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nnewpath 0 0 moveto notanoperator\n" + b"%pad\n" * 1200


def noise_png(seed: int, size=(120, 90)) -> bytes:
    import random

    from PIL import Image

    rnd = random.Random(seed)
    buf = io.BytesIO()
    Image.frombytes("RGB", size, bytes(rnd.randrange(256) for _ in range(size[0] * size[1] * 3))).save(buf, format="PNG")
    return buf.getvalue()


def tgz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def doc(body: str) -> bytes:
    return f"\\documentclass{{article}}\\begin{{document}}{body}\\end{{document}}".encode()


def fig(name: str, caption: str) -> str:
    return f"\\begin{{figure}}\\includegraphics{{{name}}}\\caption{{{caption}}}\\end{{figure}}"


def test_detect_kind(tmp_path):
    bulk = tmp_path / "arXiv_src_2401_001.tar"
    with tarfile.open(bulk, "w") as tf:
        info = tarfile.TarInfo("2401/2401.00001.gz")
        data = gzip.compress(doc("x"))
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    renamed = tmp_path / "mirror.tar"
    shutil.copy(bulk, renamed)
    (tmp_path / "2401.00002.gz").write_bytes(gzip.compress(doc("x")))
    (tmp_path / "notes.bin").write_bytes(b"x")
    assert detect_kind(bulk) == "arxiv-bulk"
    assert detect_kind(renamed) == "arxiv-bulk"  # recognised by its members
    assert detect_kind(PAPERS / "2401.00001.tar.gz") == "arxiv-paper"
    assert detect_kind(tmp_path / "2401.00002.gz") == "arxiv-paper"
    assert detect_kind(PAPERS / "2401.00002") == "arxiv-paper"
    assert detect_kind(PAPERS) == "folder"
    assert detect_kind(SAMPLE / "jats" / "PMC9000001") == "jats-article"
    assert detect_kind(SAMPLE / "jats" / "PMC9000003.tar.gz") == "jats-package"
    assert detect_kind(tmp_path / "notes.bin") == "unknown"


def test_discover_units_ids_are_stable_and_sorted(tmp_path):
    a = discover_units([PAPERS, SAMPLE / "jats"], META)
    b = discover_units([SAMPLE / "jats", PAPERS, PAPERS / "2401.00002"])
    assert [u.id for u in a][:3] == ["arxiv:2401.00001", "arxiv:2401.00002", "arxiv:2401.00003"]
    assert {"jats-article:PMC9000001", "jats-package:PMC9000003.tar.gz"} <= {u.id for u in a[3:]}
    assert all(u.kind.startswith("jats-") for u in a[3:])
    assert sorted(u.id for u in a) == sorted(u.id for u in b)  # a paper named twice is one unit
    with pytest.raises(FileNotFoundError):
        discover_units([tmp_path / "nope"])
    (tmp_path / "x.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="not an arXiv bulk tar"):
        discover_units([tmp_path / "x.bin"])


def test_units_yield_contract_records():
    units = discover_units([PAPERS], META)
    rejects = Rejects()
    recs = [r for u in units for r in u.read(rejects)]
    assert len(recs) == 5 and [r.reason for r in rejects] == ["no_graphics"]
    for r in recs:
        contract.validate_record(r)
    assert {r["discipline"] for r in recs} == {"physics", "astronomy", "computer_science"}


def test_ingest_bad_input_each_a_reason_and_the_run_goes_on(tmp_path):
    src = tmp_path / "papers"
    src.mkdir()
    tgz(src / "2401.00001.tar.gz", {"main.tex": doc(fig("a", "Good figure.") + " See Fig.~1."), "a.png": SCATTER})
    whole = tgz(tmp_path / "t.tgz", {"main.tex": doc("x"), "a.png": noise_png(3)}).read_bytes()
    (src / "2401.00002.tar.gz").write_bytes(whole[: len(whole) // 2])  # truncated
    (src / "2401.00003.gz").write_bytes(gzip.compress(bytes(range(256)) * 40))
    tgz(src / "2401.00004.tar.gz", {"main.tex": doc(fig("gone", "Missing file."))})
    tgz(src / "2401.00005.tar.gz", {"main.tex": doc(fig("a", "Unbalanced {caption")), "a.png": noise_png(1)})
    tgz(src / "2401.00006.tar.gz", {"main.tex": doc("\\input{sec}"), "sec.tex": b"\\input{main}" + fig("a", "A figure inside a looped input.").encode(),
                                    "a.png": noise_png(2)})
    tgz(src / "2401.00007.tar.gz", {"main.tex": doc("\\begin{figure}\\includegraphics{a}\\end{figure}"), "a.png": SCATTER})
    tgz(src / "2401.00008.tar.gz", {"main.tex": doc(fig("bad", "Refused EPS.")), "bad.eps": BAD_EPS})
    tgz(src / "2401.00009.tar.gz", {"main.tex": doc(fig("tiny", "An icon.")), "tiny.png": noise_png(9, size=(12, 12))})
    jats = src / "PMC1"
    jats.mkdir()
    (jats / "article.nxml").write_text("<article xmlns:xlink='http://www.w3.org/1999/xlink'><front><unclosed></article>")
    out = tmp_path / "out"
    report = ingest([src], out, progress=False)
    recs = list(read_manifest(out / "manifest.jsonl"))
    assert sorted(r["caption"] for r in recs) == ["A figure inside a looped input.", "Good figure."]
    reasons = set(report["rejects_by_reason"])
    expected = {"corrupt_archive", "not_tar_or_tex", "missing_figure_file", "unbalanced_braces", "recursive_input",
                "no_caption", "ghostscript_failed", "too_small", "malformed_xml"}
    assert expected <= reasons, expected - reasons
    rows = [json.loads(l) for l in (out / "reports" / "rejects.jsonl").read_text().splitlines()]
    assert {r["reason"] for r in rows} == reasons and all(r["detail"] for r in rows)
    assert json.loads((out / "reports" / "ingest.json").read_text())["records_written"] == 2


def test_ingest_real_papers_judges_figures_by_pixels_not_bytes(tmp_path):
    report = ingest([REAL], tmp_path / "out", classifier=None, progress=False)
    recs = list(read_manifest(tmp_path / "out" / "manifest.jsonl"))
    by_paper = {}
    for r in recs:
        by_paper.setdefault(r["paper_id"], []).append(r["figure_label"])
    # AASTeX (5 PDFs), acmart (PDF + PNG), JACoW (PDF + JPG), ... ; files under 5 KB are figures too:
    # AIAA's sample plot (a 4.4 KB EPS, shown in 12 figures: one kept, the copies exact duplicates),
    # estcpmm's 4.5 KB PDF drawing and the MNRAS example plot (4.9 KB PNG, 640x480). REVTeX's
    # 190-byte placeholder EPS files draw nothing Ghostscript can render.
    assert by_paper["aastex"] == ["fig:general", "fig:pyramid", "fig:fig4", "fig:video", "fig:interactive"]
    assert sorted(by_paper) == ["aastex", "acmart-sigconf", "afparticle", "aiaa-subfigs", "asmejour", "estcpmm", "jacow",
                                "jpsj", "mnras", "quantum", "sageep"]
    assert "file_too_small" not in report["rejects_by_reason"] and report["rejects_by_reason"]["ghostscript_failed"] == 4
    pyramid = next(r for r in recs if r["figure_label"] == "fig:pyramid")
    assert pyramid["multi_panel"] and pyramid["width"] > 2 * pyramid["height"] / 2


def test_cli_ingest_then_write(tmp_path):
    out, ds = tmp_path / "ingested", tmp_path / "dataset"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "s1mmalign.builder.commands.cli", "ingest", str(PAPERS), str(SAMPLE / "jats"), str(out),
           "--arxiv-metadata", str(META), "--no-progress"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "figure records" in run.stdout and "no_graphics: 1" in run.stdout
    lines = [json.loads(l) for l in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) >= 5 and all((out / r["image"]).is_file() and not os.path.isabs(r["image"]) for r in lines)
    arxiv = [r for r in lines if r["source"] == "arxiv"]
    assert {r["license"] for r in arxiv} == {"http://creativecommons.org/licenses/by/4.0/", "http://creativecommons.org/licenses/by-sa/4.0/"}
    run = subprocess.run([sys.executable, "-m", "s1mmalign.builder.commands.cli", "write", str(out / "manifest.jsonl"), str(ds),
                          "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert f"wrote {len(lines)} records" in run.stdout
    missing = subprocess.run([sys.executable, "-m", "s1mmalign.builder.commands.cli", "ingest", str(tmp_path / "nope"), str(out)],
                             capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode == 1 and "no such source" in missing.stderr
