"""The Ray runner on a local Ray (2 CPUs, small object store): same records as the local runner.

Model stages run as actor pools: recaption (context backend, no weights) and, where the
scoring module exists, CLIP scoring with a tiny CLIP built from a config (random weights).
"""

from __future__ import annotations

import importlib.util
import json
import os

import pyarrow.parquet as pq
import pytest

pytest.importorskip("ray.data", reason="the Ray runner needs the `ray` extra (ray[data])")

from test_build_resume import available_stages, make_config, make_source, run_build, tree_digest  # noqa: E402


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def records_by_key(out):
    rows = {}
    for p in sorted(out.glob("data/*/*.parquet")):
        for r in pq.read_table(p).to_pylist():
            img = r.pop("image")
            rows[r["key"]] = (json.dumps(r, sort_keys=True, default=str), img["bytes"])
    return rows


def test_ray_runner_gives_the_same_records_as_the_local_runner(tmp_path):
    stages = available_stages()
    extra = {}
    if _has("s1mmalign.builder.stages.scoring"):
        from s1mmalign.builder.stages.recaption.tiny import build_tiny_clip

        stages.insert(stages.index("write"), "score")
        extra["score"] = {"clip_model": str(build_tiny_clip(tmp_path / "clip"))}
    src = make_source(tmp_path, 18)
    local = run_build(make_config(tmp_path, src, "local", stages, **extra))
    ray_cfg = make_config(tmp_path, src, "ray", stages, runner="ray",
                          ray={"num_cpus": 2, "object_store_mb": 100, "pool_size": {"recaption": 2}, "watchdog_s": 120},
                          **extra)
    # The build connects to an existing cluster (RAY_ADDRESS), started here and stopped after.
    import ray as ray_mod

    info = ray_mod.init(num_cpus=2, include_dashboard=False, object_store_memory=100 << 20, log_to_driver=False)
    try:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["RAY_ADDRESS"] = info.address_info["gcs_address"]
        ray = run_build(ray_cfg, env=env)
        nodes = len(ray_mod.nodes())
    finally:
        ray_mod.shutdown()
    assert nodes == 1
    assert ray["complete"] and not ray["failed_units"]
    n = local["stages"]["ingest"]["units"]
    for s in stages:
        assert ray["stages"][s]["units_run"] == n and ray["stages"][s]["records_out"] == local["stages"][s]["records_out"]
    a, b = records_by_key(tmp_path / "local"), records_by_key(tmp_path / "ray")
    assert a and a.keys() == b.keys()
    assert a == b  # same metadata and image bytes for every key
    assert tree_digest(tmp_path / "local") == tree_digest(tmp_path / "ray")  # and the very same files

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    again = run_build(ray_cfg, env=env)  # starts its own local Ray; resume: nothing left to do
    assert all(again["stages"][s]["units_run"] == 0 and again["stages"][s]["units_skipped"] == n for s in stages)
