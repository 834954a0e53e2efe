"""Resume: SIGKILL the build at random points in every stage, rerun, compare with a clean build.

Real subprocesses, real SIGKILL. The stages are every stage that needs no model download
(ingest, filter, dedup, classify by rules, recaption from context) plus write; the kill test adds
score with a tiny CLIP built from a config.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from conftest import draw_figure, make_records

from s1mmalign.builder.records.manifest import write_manifest


def available_stages() -> list[str]:
    return ["ingest", "filter", "dedup", "classify", "recaption", "write"]


def make_source(tmp: Path, n: int = 42) -> Path:
    recs = make_records(n)
    for r in recs:
        r["recaption"] = None
    recs[-1]["image"]["bytes"] = draw_figure(n, size=(20, 20))  # filtered (too_small) where filters exist
    recs[-2]["image"]["bytes"] = recs[0]["image"]["bytes"]  # an exact duplicate, first and last unit
    path = tmp / "src" / "manifest.jsonl"
    path.parent.mkdir(parents=True)
    write_manifest(recs, path)
    return path


def make_config(tmp: Path, src: Path, out: str, stages: list[str], **extra) -> Path:
    cfg = {"sources": [str(src)], "out": str(tmp / out), "unit_size": 2, "batch_size": 4,
           "stages": [*stages, "card"], "shards": {"parquet_shard_mb": 0.05, "tar_shard_mb": 0.05}}
    if "recaption" in stages:
        cfg["recaption"] = {"backend": "context"}
    if "filter" in stages:
        cfg["filter"] = {"min_side": 32, "min_pixels": 1024}  # the test figures are small PNGs
    cfg.update(extra)
    path = tmp / f"{out}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def build_cmd(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "s1mmalign.builder.commands.cli", "build", str(cfg), "--no-progress", "--report-json", *args]


def run_build(cfg: Path, *args: str, env: dict | None = None) -> dict:
    p = subprocess.run(build_cmd(cfg, *args), capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def tree_digest(out: Path) -> dict[str, str]:
    """sha256 of every file of the dataset (not the resume state, not the timing report)."""
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()
            and not p.relative_to(out).as_posix().startswith((".build/", "reports/build.json"))}


def events(work: Path) -> list[dict]:
    p = work / "executions.jsonl"
    if not p.exists():
        return []
    # Only lines already ended by their newline: the build may be appending the next one while
    # this reads (each line is one write, so every complete line must parse).
    return [json.loads(line) for line in p.read_text().split("\n")[:-1]]


def kill_during(cfg: Path, work: Path, stage: str, rng: random.Random, n_units: int) -> bool:
    """Start the build and SIGKILL it once ``stage`` has started k more units (random k).

    Returns True only when the kill really landed inside ``stage``: it had started and not
    finished every unit (for ``card``: README.md not yet written). False: the build finished
    first, or ``stage`` had already finished all its units when the kill came.
    """
    before = sum(1 for e in events(work) if e["stage"] == stage and e["event"] == "start")
    remaining = 1 if stage == "card" else n_units - len(list((work / stage).glob("*.done.json")))
    if remaining < 1:
        return False
    k = rng.randint(1, remaining)
    proc = subprocess.Popen(build_cmd(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        started = sum(1 for e in events(work) if e["stage"] == stage and e["event"] == "start")
        if started >= before + k:
            break
        time.sleep(0.002)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if stage == "card":
        return not (work.parent / "README.md").exists()
    return len(list((work / stage).glob("*.done.json"))) < n_units


def test_sigkill_in_every_stage_then_rerun_equals_clean_build(tmp_path):
    from s1mmalign.builder.stages.recaption.tiny import build_tiny_clip

    stages = available_stages()
    stages.insert(stages.index("write"), "score")  # a model stage too: CLIP score, tiny CLIP (random weights)
    extra = {"score": {"clip_model": str(build_tiny_clip(tmp_path / "clip"))}}
    src = make_source(tmp_path)
    clean = run_build(make_config(tmp_path, src, "clean", stages, **extra))
    assert clean["complete"] and clean["stages"]["write"]["records_out"] > 0
    n_units = clean["stages"]["ingest"]["units"]
    rng = random.Random(7)
    attempts = collections.Counter()
    # One build per stage, killed inside that stage (a fast stage may be over before the kill
    # lands: then that build starts again from nothing), then rerun to the end.
    for stage in [*stages, "card"]:
        name = f"killed-{stage}"
        cfg = make_config(tmp_path, src, name, stages, **extra)
        out, work = tmp_path / name, tmp_path / name / ".build"
        while True:
            attempts[stage] += 1
            if kill_during(cfg, work, stage, rng, n_units):
                break
            assert attempts[stage] < 6, f"could not kill the build inside {stage}"
            shutil.rmtree(out)
        if stage != "card" and rng.random() < 0.5:  # sometimes a second kill in the same stage
            kill_during(cfg, work, stage, rng, n_units)

        done_before = {s: len(list((work / s).glob("*.done.json"))) for s in stages}
        final = run_build(cfg)
        assert final["complete"]
        # Same records, same bytes as the uninterrupted build.
        assert tree_digest(out) == tree_digest(tmp_path / "clean"), stage
        # The final run skipped every unit that had finished before it, and ran only the rest.
        for s in stages:
            assert final["stages"][s]["units_skipped"] == done_before[s], (stage, s)
            assert final["stages"][s]["units_run"] == n_units - done_before[s], (stage, s)
        # No (stage, unit) was ever started again after its marker was committed.
        for s in stages:
            for marker in (work / s).glob("*.done.json"):
                m = json.loads(marker.read_text())
                late = [e for e in events(work) if e["stage"] == s and e["unit"] == m["unit"]
                        and e["event"] == "start" and e["time"] > m["committed_at"]]
                assert not late, (stage, s, m["unit"], late)
        # Each (stage, unit) finished exactly once across all the runs.
        finished = collections.Counter((e["stage"], e["unit"]) for e in events(work)
                                       if e["event"] == "done" and e["stage"] != "card")
        assert set(finished.values()) == {1}, (stage, finished)
    print(f"units: {n_units}; builds started per killed stage: {dict(attempts)}")


def test_rerun_skips_everything_and_option_change_invalidates_only_later_stages(tmp_path):
    stages = available_stages()
    src = make_source(tmp_path, 12)
    cfg = make_config(tmp_path, src, "o", stages)
    first = run_build(cfg)
    n = first["stages"]["ingest"]["units"]
    again = run_build(cfg)
    assert all(again["stages"][s]["units_run"] == 0 and again["stages"][s]["units_skipped"] == n for s in stages)
    digest = tree_digest(tmp_path / "o")

    # Changing the shard options (the write stage's options) reruns write only.
    cfg.write_text(cfg.read_text().replace("tar_shard_mb: 0.05", "tar_shard_mb: 0.06"))
    changed = run_build(cfg)
    for s in stages:
        assert changed["stages"][s]["units_run"] == (n if s == "write" else 0), (s, changed["stages"][s])
    assert tree_digest(tmp_path / "o").keys() == digest.keys()

    if "recaption" in stages:  # a model stage's options: that stage and the ones after it rerun
        data = yaml.safe_load(cfg.read_text())
        data["recaption"] = {"backend": "context", "max_contexts": 1}
        cfg.write_text(yaml.safe_dump(data))
        changed = run_build(cfg)
        after = stages[stages.index("recaption"):]
        for s in stages:
            assert changed["stages"][s]["units_run"] == (n if s in after else 0), (s, changed["stages"][s])


def test_sample_manifest_units_group_whole_papers(tmp_path):
    from s1mmalign.builder.pipeline.config import make_config as mk
    from s1mmalign.builder.pipeline.units import discover

    sample = Path(__file__).resolve().parents[1] / "builder" / "sample" / "manifest.jsonl"
    cfg = mk({"sources": [str(sample)], "out": str(tmp_path / "o"), "unit_size": 2, "stages": ["ingest", "write"]})
    units = discover(cfg)
    papers = [{json.loads(l)["paper_id"] for l in sample.read_text().splitlines() if json.loads(l)["key"] in u.keys}
              for u in units]
    assert all(1 <= len(p) <= 2 for p in papers)
    assert sum(len(p) for p in papers) == len(set().union(*papers))  # no paper split across units
    assert sum(len(u.keys) for u in units) == 10


def test_dedup_state_survives_a_crash_between_units(tmp_path):
    """The last unit's duplicate of a first-unit figure is still caught when dedup resumes
    after a crash (a crash before a unit's marker = the marker absent): finished units are
    replayed into the Deduplicator's state, not redone."""
    stages = available_stages()
    src = make_source(tmp_path, 12)
    cfg = make_config(tmp_path, src, "d", stages)
    first = run_build(cfg)
    assert first["stages"]["dedup"]["rejects_by_reason"] == {"exact_duplicate": 1}
    work = tmp_path / "d" / ".build"
    last = sorted((work / "dedup").glob("*.done.json"))[-1]
    last.unlink()  # exactly what SIGKILL during the last unit's dedup leaves
    again = run_build(cfg)
    assert again["stages"]["dedup"]["units_run"] == 1
    assert again["stages"]["dedup"]["rejects_by_reason"] == {"exact_duplicate": 1}
    assert again["stages"]["write"]["records_out"] == first["stages"]["write"]["records_out"]
