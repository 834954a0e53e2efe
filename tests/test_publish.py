"""publish: preflight checks against the Hub's limits, dry run, login errors, the token never printed.

The Hub is unreachable here. The real huggingface_hub code path runs against an HTTP server on
loopback (via HF_ENDPOINT) that answers 401, which shows the token from the environment is
sent and never printed. A full upload is not exercised (see docs/build.md).
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from s1mmalign.builder.commands.publish import PublishError, plan_upload

SAMPLE = Path(__file__).resolve().parents[1] / "builder" / "sample" / "manifest.jsonl"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from s1mmalign.builder.commands.build import run_build

    tmp = tmp_path_factory.mktemp("pub")
    cfg = tmp / "b.yaml"
    cfg.write_text(f"sources: [{SAMPLE}]\nout: out\nunit_size: 2\nstages: [ingest, write, card]\n")
    assert run_build(str(cfg), progress=False)["complete"]
    return tmp / "out"


def publish_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "s1mmalign.builder.commands.cli", "publish", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def clean_env(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HOME=str(tmp / "hf_home"), HF_HUB_OFFLINE="0", **extra)
    return env


def test_dry_run_lists_the_dataset_not_the_resume_state(built, tmp_path):
    (built / ".convert" / "convert").mkdir(parents=True, exist_ok=True)  # convert's resume state
    (built / ".convert" / "convert" / "u.done.json").write_text("{}")
    p = publish_cli(str(built), "someone/s1mmalign-test", "--dry-run", env=clean_env(tmp_path))
    assert p.returncode == 0, p.stderr
    listed = [line.split()[-1] for line in p.stdout.splitlines() if line.startswith(" ")]
    on_disk = sorted(q.relative_to(built).as_posix() for q in built.rglob("*") if q.is_file()
                     and not q.relative_to(built).as_posix().startswith((".build/", ".convert/")))
    assert listed == on_disk and "README.md" in listed and "index/shards.json" in listed
    assert (built / ".build").is_dir() and not any(x.startswith((".build", ".convert")) for x in listed)
    assert f"would upload {len(on_disk)} files" in p.stdout


def test_a_malformed_repo_id_is_refused_by_the_dry_run(built, tmp_path):
    """Before: `publish OUT hf://datasets/org/name --dry-run` (or 'org/na me') printed 'would upload ...', exit 0;
    only the real upload failed. The repo id is checked first, as the Hub checks it."""
    for bad in ("hf://datasets/org/name", "org/na me", "datasets/org/name"):
        p = publish_cli(str(built), bad, "--dry-run", env=clean_env(tmp_path))
        assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
        assert f"repository {bad!r} is not a Hub repo id" in p.stderr and "write ORG/NAME" in p.stderr


def test_limits_are_checked_before_uploading(built, tmp_path):
    plan = plan_upload(built)
    n_data = len([f for f, _ in plan.files if f.startswith("data/")])
    with pytest.raises(PublishError, match="entries; the Hub allows fewer than 2 per folder"):
        plan_upload(built, max_entries_per_folder=2)
    with pytest.raises(PublishError, match=f"{len(plan.files)} files; the Hub handles at most 5 per repository"):
        plan_upload(built, max_files=5)
    biggest = max(plan.files, key=lambda f: f[1])
    with pytest.raises(PublishError, match=f"{biggest[0]} is .* GB; the Hub's limit"):
        plan_upload(built, max_file_bytes=biggest[1] - 1)
    assert n_data > 0


def test_unfinished_or_crashed_folder_is_refused(built, tmp_path):
    with pytest.raises(PublishError, match="not a finished dataset"):
        plan_upload(built / "data")
    stray = built / "data" / "physics" / ".train-x-00000.parquet.123-abc.tmp"
    stray.write_bytes(b"half")
    try:
        with pytest.raises(PublishError, match="temporary file"):
            plan_upload(built)
    finally:
        stray.unlink()


def test_no_token_is_a_clear_error_naming_the_ways_to_log_in(built, tmp_path):
    p = publish_cli(str(built), "someone/s1mmalign-test", env=clean_env(tmp_path))
    assert p.returncode == 1
    assert "hf auth login" in p.stderr and "HF_TOKEN" in p.stderr and "Traceback" not in p.stderr


class _Hub(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def _answer(self):
        _Hub.seen.append((self.command, self.path, self.headers.get("Authorization")))
        body = json.dumps({"error": "Invalid credentials in Authorization header"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *a):
        pass


def test_token_from_environment_is_sent_and_never_printed(built, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "hf_" + "s3cr3tT0kenForTestingOnly0123456789"
    try:
        env = clean_env(tmp_path, HF_TOKEN=secret, HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}")
        p = publish_cli(str(built), "someone/s1mmalign-test", "--private", env=env)
    finally:
        server.shutdown()
    assert p.returncode == 1
    assert "upload to dataset someone/s1mmalign-test failed" in p.stderr and "rerun to resume" in p.stderr
    assert secret not in p.stdout + p.stderr
    assert any(auth == f"Bearer {secret}" for _, _, auth in _Hub.seen)  # the real client sent the env token
    assert any(path.startswith("/api/repos/create") for _, path, _ in _Hub.seen)
