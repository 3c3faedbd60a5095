"""The entry point imports without the heavy libraries and fails cleanly when the environment is incomplete."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fakes.webhooks import WebhookReceiver
from tests.worker.support import ROOT, SECRET, statuses
from worker.settings import SettingsError, WorkerSettings


def test_importing_the_worker_loads_no_heavy_library() -> None:
    code = (
        "import sys, worker.main, worker.boot, worker.handlers, worker.loaders;"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'runpod', 'huggingface_hub') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_settings_come_from_the_endpoint_environment() -> None:
    env = {
        "DEPLOYMENT_ID": "dep_1",
        "HF_MODEL_ID": "acme/tiny",
        "MODEL_LIBRARY": "Diffusers",
        "MODEL_TASK": "text-to-image",
        "ORCHESTRATOR_CALLBACK_URL": "http://x/internal/deployment-ready/dep_1",
        "ORCHESTRATOR_CALLBACK_SECRET": "s",
        "HF_TOKEN": "  ",
    }
    got = WorkerSettings.from_env(env)
    assert (got.model_id, got.library, got.task, got.hf_token) == ("acme/tiny", "diffusers", "text-to-image", None)
    with pytest.raises(SettingsError, match="HF_MODEL_ID"):
        WorkerSettings.from_env({})


def test_a_worker_without_a_model_reports_failed_and_exits() -> None:
    with WebhookReceiver() as orchestrator:
        env = {
            "PATH": "/usr/bin:/bin",
            "ORCHESTRATOR_CALLBACK_URL": orchestrator.url("/internal/deployment-ready/dep_1"),
            "ORCHESTRATOR_CALLBACK_SECRET": SECRET,
        }
        out = subprocess.run([sys.executable, "-m", "worker.main"], cwd=ROOT, env=env, capture_output=True, timeout=60)
        assert out.returncode == 2, out.stderr
        assert statuses(orchestrator.received) == ["failed"]
        assert "HF_MODEL_ID" in orchestrator.received[0].json["message"]


def test_a_broken_image_reports_failed_before_any_download(tmp_path) -> None:
    broken = tmp_path / "site" / "runpod"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('simulated: the SDK is missing')\n")
    with WebhookReceiver() as orchestrator:
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(tmp_path / "site"),
            "HF_MODEL_ID": "acme/anything",
            "HF_ENDPOINT": "http://127.0.0.1:9",  # never asked
            "ORCHESTRATOR_CALLBACK_URL": orchestrator.url("/internal/deployment-ready/dep_1"),
            "ORCHESTRATOR_CALLBACK_SECRET": SECRET,
        }
        out = subprocess.run([sys.executable, "-m", "worker.main"], cwd=ROOT, env=env, capture_output=True, timeout=60)
        assert out.returncode == 1, out.stderr
        assert statuses(orchestrator.received) == ["failed"]
        assert "simulated: the SDK is missing" in orchestrator.received[0].json["message"]
