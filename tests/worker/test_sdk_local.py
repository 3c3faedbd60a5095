"""The real entry point under the Runpod SDK's local test mode (`--test_input`): boot, callbacks, one job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakes.hub import FakeHub
from tests.fakes.webhooks import WebhookReceiver
from tests.worker.support import ROOT, SECRET, needs_worker_venv, publish, statuses

pytestmark = needs_worker_venv


def test_python_m_worker_main_boots_reports_and_runs_a_job(tmp_path: Path) -> None:
    from tests.worker.tiny_models import build_diffusers

    folder = build_diffusers(tmp_path / "model")
    with FakeHub() as hub, WebhookReceiver() as orchestrator:
        publish(hub, "acme/tiny-sd", folder, "diffusers", "text-to-image")
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "DEPLOYMENT_ID": "dep_local",
            "HF_MODEL_ID": "acme/tiny-sd",
            "MODEL_LIBRARY": "diffusers",
            "MODEL_TASK": "text-to-image",
            "HF_ENDPOINT": hub.base_url,
            "MODEL_CACHE_DIR": str(tmp_path / "cache"),
            "ORCHESTRATOR_CALLBACK_URL": orchestrator.url("/internal/deployment-ready/dep_local"),
            "ORCHESTRATOR_CALLBACK_SECRET": SECRET,
        }
        job = {"input": {"prompt": "a blue circle", "num_inference_steps": 1, "width": 16, "height": 16, "seed": 3}}
        out = subprocess.run(
            [sys.executable, "-m", "worker.main", "--test_input", json.dumps(job)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        logs = out.stdout + out.stderr
        assert out.returncode == 0, logs[-4000:]
        assert "completed successfully" in logs and "'image_format': 'png'" in logs
        assert "'seed': 3" in logs
        order = statuses(orchestrator.received)
        assert order[0] == "downloading_model" and order[-2:] == ["loading_model", "ready"]
