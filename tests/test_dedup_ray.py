"""Dedup on the Ray runner (local Ray, 2 CPUs): the same kept records and rejects as the local runner,
also when a build resumes with some units already deduplicated."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("ray.data", reason="the Ray runner needs the `ray` extra (ray[data])")

from conftest import make_record  # noqa: E402
from test_build_resume import make_config, run_build, tree_digest  # noqa: E402
from test_dedup_partitioned import corpus  # noqa: E402,F401 - the fixture
from test_ray_runner import records_by_key  # noqa: E402

from s1mmalign.builder.records.manifest import write_manifest  # noqa: E402
from s1mmalign.core import contract  # noqa: E402


def _source(tmp_path, units) -> str:
    recs = []
    for i, r in enumerate(r for u in units for r in u):
        img = r.get("image") or {}
        if not img.get("bytes") or r["key"] == "broken":
            continue  # a manifest holds images; bad ones are covered in test_dedup_partitioned
        recs.append(make_record(i, image=img["bytes"], paper_id=r["paper_id"], caption=r["caption"],
                                key=contract.make_key("arxiv", r["paper_id"], r["key"])))
    path = tmp_path / "src" / "manifest.jsonl"
    path.parent.mkdir(parents=True)
    write_manifest(recs, path)
    return path


def _rejects(out) -> list[tuple]:
    rows = [json.loads(line) for line in (out / "reports" / "rejects.jsonl").read_text().splitlines()]
    return sorted((r["key"], r["reason"], r["detail"]) for r in rows if r["stage"] == "dedup")


def test_ray_dedup_decides_as_the_local_runner(tmp_path, corpus):  # noqa: F811
    src = _source(tmp_path, corpus)
    stages = ["ingest", "dedup", "write"]
    local = run_build(make_config(tmp_path, src, "local", stages, unit_size=3))
    cfg = make_config(tmp_path, src, "ray", stages, unit_size=3, runner="ray", dedup={"partitions": 5},
                      ray={"num_cpus": 2, "object_store_mb": 100})
    import ray as ray_mod

    info = ray_mod.init(num_cpus=2, include_dashboard=False, object_store_memory=100 << 20, log_to_driver=False)
    try:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["RAY_ADDRESS"] = info.address_info["gcs_address"]
        ray = run_build(cfg, env=env)
        # resume: the later half of the units lose their dedup marker; the rerun signs the first
        # half from their output (their state) and decides the rest again
        markers = sorted((tmp_path / "ray" / ".build" / "dedup").glob("*.done.json"))
        for m in markers[len(markers) // 2:]:
            m.unlink()
        again = run_build(cfg, env=env)
    finally:
        ray_mod.shutdown()
    lr, rr = _rejects(tmp_path / "local"), _rejects(tmp_path / "ray")
    print(f"\n[dedup on Ray] {local['stages']['dedup']['records_in']} records in {local['stages']['dedup']['units']} units: "
          f"local kept {local['stages']['dedup']['records_out']}, Ray kept {ray['stages']['dedup']['records_out']}; "
          f"rejects {local['stages']['dedup']['rejects_by_reason']}; resumed units {again['stages']['dedup']['units_run']}")
    assert ray["complete"] and not ray["failed_units"] and ray["stages"]["dedup"]["pairs"] > 0
    assert lr == _rejects(tmp_path / "ray") and len(lr) >= 12
    assert {r[1] for r in lr} == {"exact_duplicate", "near_duplicate"}
    assert records_by_key(tmp_path / "local") == records_by_key(tmp_path / "ray")
    assert again["stages"]["dedup"]["units_run"] == len(markers) - len(markers) // 2 > 0
    assert _rejects(tmp_path / "ray") == lr and rr == lr
    assert tree_digest(tmp_path / "local") == tree_digest(tmp_path / "ray")
