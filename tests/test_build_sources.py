"""Every source kind through the build: paper folders/archives (ingest), a release, a manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from s1mmalign.builder.commands.build import run_build

SAMPLE = Path(__file__).resolve().parents[1] / "builder" / "sample"


def keys_of(out: Path) -> set[str]:
    return {k for p in out.glob("data/*/*.parquet") for k in pq.read_table(p, columns=["key"]).column("key").to_pylist()}


def test_papers_and_release_sources(tmp_path):
    from test_build_resume import available_stages

    from s1mmalign.builder.sources.sample_release import sample_release

    release = sample_release(tmp_path / "release")
    cfg = tmp_path / "build.yaml"
    cfg.write_text(yaml.safe_dump({"sources": [str(SAMPLE / "papers"), str(SAMPLE / "jats"), str(release)],
                                   "out": "out", "stages": [*available_stages(), "card"],
                                   "recaption": {"backend": "context"}}))
    report = run_build(str(cfg), progress=False)
    assert report["complete"], report
    written = keys_of(tmp_path / "out")
    n_manifest = len((SAMPLE / "manifest.jsonl").read_text().splitlines())
    assert len(written) > n_manifest  # the release holds the sample's figures, the papers add theirs
    assert report["stages"]["ingest"]["units"] >= 6
    index = json.loads((tmp_path / "out" / "index" / "shards.json").read_text())
    assert index["num_samples"] == len(written) == report["stages"]["write"]["records_out"]
    assert "configs:" in (tmp_path / "out" / "README.md").read_text()
    assert json.loads((tmp_path / "out" / "reports" / "build.json").read_text())["complete"]

    # A source dropped from the config: its units' shards are still in OUT, and the report says so.
    data = yaml.safe_load(cfg.read_text())
    data["sources"] = data["sources"][:1]
    cfg.write_text(yaml.safe_dump(data))
    fewer = run_build(str(cfg), progress=False)
    assert len(fewer["stale_units"]) == report["stages"]["ingest"]["units"] - fewer["stages"]["ingest"]["units"] > 0


def test_a_changed_source_reruns_ingest_for_its_unit_only(tmp_path):
    import os
    import shutil

    from test_build_resume import available_stages

    papers = tmp_path / "papers"
    shutil.copytree(SAMPLE / "papers", papers)
    cfg = tmp_path / "build.yaml"
    cfg.write_text(yaml.safe_dump({"sources": [str(papers)], "out": "out", "stages": [*available_stages(), "card"],
                                   "recaption": {"backend": "context"}}))
    first = run_build(str(cfg), progress=False)
    n = first["stages"]["ingest"]["units"]
    one = sorted(papers.iterdir())[0]
    target = one if one.is_file() else sorted(p for p in one.rglob("*") if p.is_file())[0]
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    again = run_build(str(cfg), progress=False)
    assert again["stages"]["ingest"]["units_run"] == 1 and again["stages"]["ingest"]["units_skipped"] == n - 1
    # the same bytes came out, so nothing after ingest had to run again
    assert all(again["stages"][s]["units_run"] == 0 for s in available_stages()[1:])
