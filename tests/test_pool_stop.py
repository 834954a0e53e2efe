"""The local process pool stops with its driver: on Ctrl-C or SIGTERM (a KeyboardInterrupt in the
driver, see the CLI) the worker processes end at once instead of finishing their units, so a
stopped job ends in about a second, not when its longest unit would have finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sleepy_unit(seconds, unit, on_bytes):
    """A unit that takes ``seconds`` (module level: the fork server's workers import it by name)."""
    time.sleep(seconds)
    return {"unit": unit.id}


DRIVER = f"""
import signal, sys
sys.path.insert(0, {str(HERE)!r})
from types import SimpleNamespace
from s1mmalign.builder.pipeline.pool import run_parallel
from test_pool_stop import sleepy_unit

def stop(signum, frame):
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, stop)
units = [(SimpleNamespace(id=f"u{{i}}"), 1) for i in range(3)]
print("started", flush=True)
try:
    run_parallel(sleepy_unit, 60, units, 3)
except KeyboardInterrupt:
    sys.exit(143)
"""


def test_workers_end_with_their_driver_on_sigterm_not_after_their_units():
    proc = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])})
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while len(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()) < 2:
            assert time.monotonic() < deadline and proc.poll() is None  # the fork server and its workers
            time.sleep(0.05)
        time.sleep(1.0)  # the workers are inside their 60 s units
        os.kill(proc.pid, signal.SIGTERM)  # the driver alone, as `kill PID` does
        t0 = time.monotonic()
        proc.wait(timeout=30)
        assert proc.returncode == 143 and time.monotonic() - t0 < 10, time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, "a worker outlived its driver"
        time.sleep(0.1)

