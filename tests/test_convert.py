"""``s1mmalign convert``: the CLI, slices, the report, loading the result, and resume after a real kill."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from conftest import draw_figure, make_release

from s1mmalign.builder.commands.convert import WORK_DIR, convert_release, format_summary
from s1mmalign.builder.shards.names import shard_facts
from s1mmalign.builder.sources.sample_release import sample_release, write_archive, write_jsonl

CLI = [sys.executable, "-m", "s1mmalign.builder.commands.cli"]


def _files(out: Path) -> dict[str, str]:
    """sha256 of every shard and sidecar (what a resumed run must reproduce byte for byte)."""
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for d in ("data", "wds", "index")
        for p in sorted((out / d).rglob("*"))
        if p.is_file() and p.name.endswith((".tar", ".parquet"))
    }


def _unit_shards(out: Path, unit: str) -> list[Path]:
    """The shards a unit wrote, whatever their name now (their sidecars say)."""
    return [out / f["path"] for _, f in shard_facts(out) if f.get("unit") == unit]


def _keys(out: Path) -> set[str]:
    return {k for f in (out / "data").rglob("*.parquet") for k in pq.read_table(f, columns=["key"]).column("key").to_pylist()}


def test_cli_convert_slice_and_report(tmp_path):
    rel = sample_release(tmp_path / "rel", part_size=8192)
    write_jsonl(rel / "zenodo" / "jsonl" / "zenodo_recaption.jsonl", [{"image_path": "a.png", "caption": "c"}])
    out = tmp_path / "out"
    p = subprocess.run(CLI + ["convert", str(rel), str(out), "--sources", "arxiv,biorxiv", "--disciplines",
                              "physics,biology", "--no-progress"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "converted 3 records" in p.stdout and "arxiv" in p.stdout and "biorxiv" in p.stdout, p.stdout
    report = json.loads((out / "reports" / "convert.json").read_text())
    assert report["written"] == 3 and report["filtered"] == 4
    assert report["sources"]["arxiv"]["written"] == 2 and report["sources"]["biorxiv"]["written"] == 1
    assert report["rejects_by_reason"] == {"unknown_source": 1} and "unknown_source: 1" in p.stdout
    assert set(report["sources"]) == {"arxiv", "biorxiv", "zenodo"}
    assert report["sources"]["zenodo"]["written"] == 0
    index = json.loads((out / "index" / "shards.json").read_text())
    assert index["num_samples"] == 3 and set(index["counts"]) == {"physics", "biology"}
    assert index["formats"] == ["parquet", "wds"]
    # the result is a dataset folder: load_dataset reads it, captions joined
    ds = datasets.load_dataset(str(out), split="train")
    assert ds.num_rows == 3 and all(r["caption"] and r["image_path"] for r in ds)
    # bad arguments: clear errors, exit code 1
    bad = subprocess.run(CLI + ["convert", str(rel), str(tmp_path / "o2"), "--disciplines", "alchemy"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown discipline alchemy; valid: mathematics" in bad.stderr  # a usage error
    bad = subprocess.run(CLI + ["convert", str(tmp_path / "nope"), str(tmp_path / "o3")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "not a folder" in bad.stderr


def test_limit_and_rerun_is_a_noop(tmp_path):
    rel = sample_release(tmp_path / "rel", part_size=8192)
    out = tmp_path / "out"
    report = convert_release(rel, out, limit=4, progress=False)
    assert report["written"] == 4 and report["limited"]
    assert "stopped at --limit" in format_summary(report)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name.endswith((".tar", ".parquet"))}
    assert before
    again = convert_release(rel, out, limit=4, progress=False)
    assert again["written"] == 4 and {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name.endswith((".tar", ".parquet"))} == before
    # other options: the units are redone, not mixed with the old slice
    full = convert_release(rel, out, progress=False)
    assert full["written"] == 10 and len(_keys(out)) == 10


def _convert_cmd(rel: Path, out: Path) -> list[str]:
    return CLI + ["convert", str(rel), str(out), "--no-progress", "--tar-shard-mb", "0.3", "--parquet-shard-mb", "0.3",
                  "--row-group-mb", "0.1"]


def _run_and_kill(cmd: list[str], out: Path, when) -> bool:
    """Start the conversion, SIGKILL it as soon as ``when(out)`` holds; True when it was killed."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            if when(out):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.005)
        proc.wait(timeout=240)
        return False
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _root(out: Path) -> Path:
    """Where an unfinished run works: OUT's staging folder until its dataset is complete."""
    from s1mmalign.builder.shards.target import STAGING

    return out / STAGING if (out / STAGING).is_dir() else out


def _markers(out: Path) -> list[Path]:
    while True:  # the running conversion may remove a staging folder while this walks it
        try:
            return sorted((_root(out) / WORK_DIR).rglob("*.done.json"))
        except FileNotFoundError:
            continue


def _started(out: Path) -> list[str]:
    lines = (_root(out) / WORK_DIR / "executions.jsonl").read_text().splitlines()
    return [e["unit"] for e in map(json.loads, lines) if e["event"] == "start" and e["stage"] == "write"]


def _temporaries(out: Path) -> bool:
    while True:  # see _markers
        try:
            return any(p.name.endswith(".tmp") for p in out.rglob(".*"))
        except FileNotFoundError:
            continue


def test_resume_after_real_kills_gives_the_same_bytes(tmp_path):
    rel = make_release(tmp_path / "rel", {10: 40, 11: 40, 12: 40})
    ref = tmp_path / "ref"
    p = subprocess.run(_convert_cmd(rel, ref), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    expected = _files(ref)
    assert len(expected) > 12  # several shards per unit, both formats, with sidecars

    out = tmp_path / "out"
    cmd = _convert_cmd(rel, out)
    # 1) killed in the middle of the first unit (a shard half written under a temporary name)
    assert _run_and_kill(cmd, out, lambda o: _temporaries(o) and not _markers(o))
    assert not _markers(out) and not any(p.name.endswith(".parquet") for p in (out / "data").rglob("*"))
    # 2) killed after the first unit finished, inside another (one process per unit: the
    #    workers die with the driver, so nothing is written after the kill)
    assert _run_and_kill(cmd, out, lambda o: len(_markers(o)) >= 1 and _temporaries(o))
    time.sleep(0.5)  # a worker notices its driver is gone within 0.2 s
    done_units = {json.loads(m.read_text())["unit"] for m in _markers(out)}
    snapshot = _files(out)
    time.sleep(1.0)
    assert _files(out) == snapshot and {json.loads(m.read_text())["unit"] for m in _markers(out)} == done_units
    done_unit = sorted(done_units)[0]
    root = _root(out)
    finished = {(p.stat().st_ino, p.stat().st_mtime_ns) for p in _unit_shards(root, done_unit)}
    assert finished
    # 3) the rerun completes; finished shards are not rewritten
    n_before = len(_started(out))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    # settled under their final names, the same files (inode and mtime: renamed, not rewritten)
    assert {(p.stat().st_ino, p.stat().st_mtime_ns) for p in _unit_shards(out, done_unit)} == finished
    assert _files(out) == expected
    assert _keys(out) == _keys(ref) and len(_keys(out)) == 120
    assert not _temporaries(out)
    assert json.loads((out / "index" / "shards.json").read_text())["num_samples"] == 120
    assert not done_units & set(_started(out)[n_before:])  # the final run did not redo finished units
    assert sorted(_started(out)[n_before:]) == sorted({"arxiv-images_2010", "arxiv-images_2011", "arxiv-images_2012"} - done_units)


def test_sigterm_to_the_whole_job_ends_it_at_once_with_one_line_and_the_rerun_finishes(tmp_path):
    """A scheduler's preemption (SIGTERM to every process of the job): the driver and its worker
    processes end within seconds (workers do not finish their units), exit 143 with one line that says
    how to go on, leave no process behind, and the rerun gives the uninterrupted bytes."""
    rel = make_release(tmp_path / "rel", {10: 60, 11: 60, 12: 60})
    ref, out = tmp_path / "ref", tmp_path / "out"
    p = subprocess.run(_convert_cmd(rel, ref) + ["--workers", "2"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    cmd = _convert_cmd(rel, out) + ["--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (_temporaries(out) and len(_markers(out)) == 0) and time.monotonic() < deadline:
            assert proc.poll() is None, "finished before it could be stopped; make the release larger"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGTERM)
        t0 = time.monotonic()
        err = proc.communicate(timeout=60)[1]
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143 and took < 15, (proc.returncode, took, err)
    assert err.strip() == "s1mmalign convert: terminated (SIGTERM); rerun the same command to resume or start again"
    deadline = time.monotonic() + 10  # the fork server and resource tracker end when their pipes close
    while (left := subprocess.run(["pgrep", "-a", "-g", str(proc.pid)], capture_output=True, text=True).stdout.strip()):
        assert time.monotonic() < deadline, left
        time.sleep(0.1)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert _files(out) == _files(ref)


def test_parallel_units_give_the_same_shards(tmp_path):
    rel = make_release(tmp_path / "rel", {10: 8, 11: 8, 12: 8})
    opts = dict(progress=False)
    from s1mmalign.builder.shards.writers import ShardOptions

    small = ShardOptions(tar_shard_bytes=300_000, parquet_shard_bytes=300_000, row_group_bytes=100_000)
    serial = convert_release(rel, tmp_path / "serial", options=small, workers=1, **opts)
    parallel = convert_release(rel, tmp_path / "parallel", options=small, workers=2, **opts)
    assert serial["written"] == parallel["written"] == 24
    assert _files(tmp_path / "serial") == _files(tmp_path / "parallel")
    assert not (tmp_path / "parallel" / WORK_DIR / "staging").exists() or not any((tmp_path / "parallel" / WORK_DIR / "staging").iterdir())


def test_a_key_written_by_two_archives_is_counted(tmp_path):
    """Two year archives holding the same image path: both units write it (they run apart);
    the report and index/shards.json say so, and nothing is lost."""
    root = tmp_path / "rel"
    dup = "0801/0801.0001.tar.gz/f.png"
    for year, names in ((2008, [dup, "0801/0801.0002.tar.gz/f.png"]), (2009, [dup, "0901/0901.0003.tar.gz/f.png"])):
        members = [(n, draw_figure(i + year, size=(120, 90))) for i, n in enumerate(names)]
        recs = [{"arxiv_id": n.split("/")[1][:9], "title": "t", "image_path": f"images/{n}", "caption": f"c {n}",
                 "categories": "hep-th"} for n, _ in members]
        write_jsonl(root / "arxiv" / "jsonl" / f"{year % 100:02d}_recaption.jsonl", recs)
        write_archive(root / "arxiv" / f"images_{year}.tar.gz", members)
    report = convert_release(root, tmp_path / "out", progress=False, workers=2)
    assert report["written"] == 4 and report["duplicate_keys"]["count"] == 1
    index = json.loads((tmp_path / "out" / "index" / "shards.json").read_text())
    assert index["duplicate_keys"]["count"] == 1 and index["duplicate_keys"]["examples"][0].startswith("arxiv_")
    assert "1 keys were written by more than one archive" in format_summary(report)
    clean = convert_release(root, tmp_path / "one", progress=False, workers=1, sources=["arxiv"])
    assert clean["duplicate_keys"]["count"] == 1  # the same in one process: units are written apart either way


def test_convert_and_build_with_the_same_stages_give_the_same_dataset(tmp_path):
    """convert is a preset of the one pipeline: `build --source RELEASE --stages ingest,classify,write,card`
    (stage by stage, with intermediate state) writes the very same records and shard bytes as
    `convert` (streamed on two processes); both label modality, and convert reports it per modality."""
    rel = sample_release(tmp_path / "rel", part_size=8192)  # the bundled sample's records: captions name what they show
    conv = subprocess.run(CLI + ["convert", str(rel), str(tmp_path / "conv"), "--no-progress", "--workers", "2"],
                          capture_output=True, text=True, timeout=300)
    assert conv.returncode == 0, conv.stderr
    cfg = tmp_path / "build.yaml"  # convert's stages and classifier options, run stage by stage
    cfg.write_text(json.dumps({"classify": {"name": "rules", "layout": False}}))
    built = subprocess.run(CLI + ["build", str(cfg), "--source", str(rel), "--out", str(tmp_path / "built"), "--no-progress",
                                  "--stages", "ingest,classify,write,card"], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert _files(tmp_path / "conv") == _files(tmp_path / "built") and len(_keys(tmp_path / "conv")) == 10

    def rows(out: Path) -> dict:
        return {r["key"]: r for f in sorted((out / "data").rglob("*.parquet")) for r in pq.read_table(f).to_pylist()}

    a, b = rows(tmp_path / "conv"), rows(tmp_path / "built")
    assert a == b
    labels = {r["modality"] for r in a.values()}
    assert labels - {"other"}, labels  # classified, not all "other"
    assert all(r["modality_method"] for r in a.values())
    report = json.loads((tmp_path / "conv" / "reports" / "convert.json").read_text())
    assert sum(report["modalities"].values()) == 10 and set(report["modalities"]) == labels
    assert "modality: " in conv.stdout
