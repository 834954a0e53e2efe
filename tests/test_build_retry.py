"""--retry-failed and the watchdog, with the openai recaption backend against a real HTTP
server on loopback that speaks the chat-completions API (it can fail or hang on demand)."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading

import pytest
import yaml
from test_build_resume import build_cmd, make_source, run_build


class Endpoint(http.server.BaseHTTPRequestHandler):
    mode = "ok"  # ok | fail-some | hang-some
    requests: list = []
    release = threading.Event()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"][-1]["text"]
        Endpoint.requests.append(text)
        bad = "sample 1 " in text or "sample 7 " in text  # two figures, in two units
        if Endpoint.mode == "fail-some" and bad:
            return self._send(400, {"error": {"message": "model refused"}})
        if Endpoint.mode == "hang-some" and bad:
            Endpoint.release.wait(10)  # longer than the watchdog (3 s); the process exits once it returns
        digest = sum(map(ord, text)) % 9973
        caption = (f"A line plot of the measured response against temperature; the curve rises and then "
                   f"saturates near the right edge of the axes (figure variant {digest}).")
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": caption}}]})

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    server.block_on_close = False
    Endpoint.requests, Endpoint.mode = [], "ok"
    Endpoint.release.clear()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    Endpoint.release.set()
    server.shutdown()


def config(tmp_path, src, name, url, **extra):
    cfg = {"sources": [str(src)], "out": str(tmp_path / name), "unit_size": 2, "batch_size": 4,
           "stages": ["ingest", "recaption", "write", "card"],
           "recaption": {"backend": "openai", "base_url": url, "model": "tiny", "concurrency": 2, "retries": 0,
                         "max_retries": 0, "timeout": 90}}
    cfg.update(extra)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def recaptions(work) -> dict:
    import pyarrow.parquet as pq

    out = {}
    for p in sorted((work / "recaption").glob("*.parquet")):
        for key, rec in zip(pq.read_table(p).column("key").to_pylist(), pq.read_table(p).column("record").to_pylist()):
            out[key] = json.loads(rec)["recaption"]
    return out


def test_retry_failed_reruns_only_the_failed_items(tmp_path, endpoint):
    src = make_source(tmp_path, 12)
    Endpoint.mode = "ok"
    clean = run_build(config(tmp_path, src, "clean", endpoint))
    Endpoint.requests.clear()

    cfg = config(tmp_path, src, "flaky", endpoint)
    Endpoint.mode = "fail-some"
    first = run_build(cfg)
    failed = first["stages"]["recaption"]["rejects_by_reason"]
    assert sum(failed.values()) == 2, failed  # the two figures the endpoint refuses
    n_first = len(Endpoint.requests)

    Endpoint.mode = "ok"
    plain = run_build(cfg)  # a plain rerun keeps the finished units as they are
    assert plain["stages"]["recaption"]["units_run"] == 0 and len(Endpoint.requests) == n_first

    retried = run_build(cfg, "--retry-failed")
    assert len(Endpoint.requests) == n_first + 2  # only the two failed items were sent again
    assert retried["stages"]["recaption"]["units_run"] == 2  # their units; the others skipped
    assert retried["stages"]["write"]["units_run"] == 2  # downstream redone only where the output changed
    assert retried["stages"]["recaption"]["rejected"] == 0
    assert recaptions(tmp_path / "flaky" / ".build") == recaptions(tmp_path / "clean" / ".build")
    assert retried["stages"]["write"]["records_out"] == clean["stages"]["write"]["records_out"]


def test_watchdog_fails_a_hung_unit_and_the_rerun_finishes_it(tmp_path, endpoint):
    src = make_source(tmp_path, 12)
    cfg = config(tmp_path, src, "hang", endpoint, ray={"watchdog_s": 3})
    Endpoint.mode = "hang-some"
    p = subprocess.run(build_cmd(cfg), capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr[-2000:]  # incomplete: a rerun is needed
    report = json.loads(p.stdout)
    hung = report["failed_units"]["recaption"]
    assert len(hung) == 2 and all("watchdog" in e for e in hung.values())
    assert report["stages"]["recaption"]["units_done"] == report["stages"]["recaption"]["units"] - 2
    Endpoint.release.set()
    Endpoint.mode = "ok"
    again = run_build(cfg)
    assert again["complete"] and not again["failed_units"]
    assert again["stages"]["recaption"]["units_run"] == 2 and again["stages"]["ingest"]["units_run"] == 0
