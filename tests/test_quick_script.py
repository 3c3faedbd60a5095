"""Seed 000's Quick Test Script, unchanged, against `make run` on port 8080."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def test_seed_quick_test_script_against_make_run(tmp_path) -> None:
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 8080)) != 0, "port 8080 is taken; the seed script needs it"
    env = {
        **os.environ,
        "API_KEYS": "test-api-key-12345",
        "DATA_DIR": str(tmp_path / "data"),
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "RUNPOD_API_BASE": "http://127.0.0.1:9",
    }
    env.pop("PORT", None)
    with open(tmp_path / "make-run.log", "w") as log:
        proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=log, stderr=log,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get("http://127.0.0.1:8080/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        out = subprocess.run(["bash", str(ROOT / "tests" / "quick_test.sh")], capture_output=True, text=True,
                             timeout=60).stdout  # fmt: skip
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)
    printed = (tmp_path / "make-run.log").read_text()
    assert "API keys accepted: test-api-key-12345" in printed
    assert '1. Health:\n{"status":"ok"}' in out
    assert '2. Root:\n{"service":"deployment-orchestrator","docs":"/docs"}' in out
    assert '3. Readiness:\n{"status":"ready"}' in out
    assert '"status":"validating"' in out and '"deployment_id":"dep_' in out
    assert "5. GET dep_" in out and '"logs":[' in out
    assert out.rstrip().endswith("6. 401 test:\n401\n7. 404 test:\n404")
