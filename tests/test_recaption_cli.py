"""``s1mmalign recaption`` end to end (real subprocesses): manifest in/out, dataset folder in/out,
rerun from the cache, and the error for a model that cannot be loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
from conftest import make_records

from s1mmalign.builder.records.manifest import read_manifest, write_manifest
from s1mmalign.builder.shards.write import write_dataset

CLI = [sys.executable, "-m", "s1mmalign.builder.commands.cli"]


def run(*args, env=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def test_manifest_in_manifest_out_then_dataset_in_dataset_out(tmp_path):
    records = make_records(6)
    for r in records:
        r["recaption"] = None
    write_manifest(records, tmp_path / "in" / "manifest.jsonl")
    out = tmp_path / "out" / "manifest.jsonl"
    p = run("recaption", tmp_path / "in" / "manifest.jsonl", out, "--backend", "context", "--cache", tmp_path / "c", "--no-progress")
    assert p.returncode == 0, p.stderr
    got = list(read_manifest(out))
    assert len(got) == 6 and all(r["recaption"].startswith(r["caption"]) for r in got)
    assert all(r["recaption_model"] == "context:extractive-fusion@2/prompt-none" for r in got)
    assert json.loads(p.stdout.strip().splitlines()[-1])["recaptioned"] == 6

    write_dataset(records, tmp_path / "ds")
    p = run("recaption", tmp_path / "ds", tmp_path / "ds2", "--backend", "context", "--cache", tmp_path / "c", "--no-progress")
    assert p.returncode == 0, p.stderr
    stats = json.loads(p.stdout.strip().splitlines()[-1])
    assert stats["cached"] == 6 and stats["recaptioned"] == 0  # the same inputs: nothing recomputed
    rows = [r for f in sorted((tmp_path / "ds2").glob("data/*/*.parquet"))
            for r in pq.read_table(f, columns=["key", "recaption", "recaption_model"]).to_pylist()]
    assert len(rows) == 6 and all(r["recaption"] and r["recaption_model"].startswith("context:") for r in rows)
    assert (tmp_path / "ds2" / "README.md").exists() and (tmp_path / "ds2" / "index" / "shards.json").exists()


def test_unloadable_model_is_a_clear_error_not_a_fallback(tmp_path):
    records = make_records(1)
    write_manifest(records, tmp_path / "m.jsonl")
    p = run("recaption", tmp_path / "m.jsonl", tmp_path / "o.jsonl", "--backend", "transformers",
            "--model", "Qwen/No-Such-Model-For-Tests", "--no-cache", "--device", "cpu")
    assert p.returncode == 1
    assert "could not load recaption model 'Qwen/No-Such-Model-For-Tests'" in p.stderr
    assert "--model DIR" in p.stderr and "--backend context" in p.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_input_paths_are_clear_errors(tmp_path, capsys):
    from s1mmalign.builder.commands.cli import main

    assert main(["recaption", str(tmp_path / "missing.jsonl"), str(tmp_path / "o.jsonl"), "--backend", "context"]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "folder").mkdir()
    assert main(["recaption", str(tmp_path / "folder"), str(tmp_path / "o"), "--backend", "context"]) == 1
    assert "not a dataset folder" in capsys.readouterr().err
    assert main(["recaption", str(tmp_path / "folder"), str(tmp_path / "folder"), "--backend", "context"]) == 1
    assert "must differ" in capsys.readouterr().err


def test_transformers_backend_from_a_local_folder_keeps_every_record(tmp_path, capsys):
    from s1mmalign.builder.commands.cli import main
    from s1mmalign.builder.stages.recaption.tiny import build_tiny_qwen2_5_vl

    model = build_tiny_qwen2_5_vl(tmp_path / "qwen")
    records = make_records(3)
    for r in records:
        r["recaption"] = None
    write_manifest(records, tmp_path / "in" / "manifest.jsonl")
    out = tmp_path / "out" / "manifest.jsonl"
    assert main(["recaption", str(tmp_path / "in" / "manifest.jsonl"), str(out), "--backend", "transformers",
                 "--model", str(model), "--device", "cpu", "--max-new-tokens", "8", "--retries", "0",
                 "--cache", str(tmp_path / "c"), "--no-progress"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["failed"] == 3  # random weights write byte soup: refused, recorded, records kept
    got = list(read_manifest(out))
    assert [r["key"] for r in got] == [r["key"] for r in records]
    assert all(r["recaption"] is None and json.loads(r["recaption_info"])["model"].startswith(f"transformers:{model}@local-")
               for r in got)
    rejects = [json.loads(line) for line in (tmp_path / "out" / "manifest.rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 3 and all(r["stage"] == "recaption" for r in rejects)
    assert not list((tmp_path / "c").rglob("*.json"))  # failures are not cached


def test_a_backend_that_never_answers_is_exit_1_not_a_success(tmp_path):
    """Before: `recaption --backend openai` against an endpoint that refused every request (no --base-url:
    localhost:8000) exited 0 with 'wrote 12 records' and 12 backend errors among the rejects. Now exit 1 with
    one line naming the backend's error; the records are kept with their original captions, as documented."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b"model not found")

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        records = make_records(3)
        for r in records:
            r["recaption"] = None
        write_manifest(records, tmp_path / "m.jsonl")
        p = run("recaption", tmp_path / "m.jsonl", tmp_path / "o.jsonl", "--backend", "openai", "--no-cache",
                "--base-url", f"http://127.0.0.1:{httpd.server_address[1]}/v1", "--retries", "0")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert "every recaption failed (3 records" in p.stderr and "HTTP 404" in p.stderr and "--base-url" in p.stderr
    assert [r["caption"] for r in read_manifest(tmp_path / "o.jsonl")] == [r["caption"] for r in records]
