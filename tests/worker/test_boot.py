"""The worker's start-up and jobs on the CPU: tiny models built here, served by the fake Hub.

Needs .venv-worker (`make worker-test`); skipped in the control plane's environment.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.hub import FakeHub
from tests.fakes.webhooks import WebhookReceiver
from tests.worker.support import SECRET, needs_worker_venv, publish, reports, statuses

pytestmark = needs_worker_venv

DIFFUSION = "acme/tiny-sd"
CLASSIFIER = "acme/tiny-bert"
GATED = "acme/tiny-gated"
IMAGE_INPUT = {"prompt": "a red square", "num_inference_steps": 2, "width": 32, "height": 32, "seed": 7}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.worker.tiny_models import build_diffusers, build_transformers

    root = tmp_path_factory.mktemp("models")
    return {"diffusers": build_diffusers(root / "sd"), "transformers": build_transformers(root / "bert")}


@pytest.fixture
def hub(models: dict[str, Path]) -> Iterator[FakeHub]:
    with FakeHub() as fake:
        publish(fake, DIFFUSION, models["diffusers"], "diffusers", "text-to-image")
        # What a real repo also carries and the worker must not fetch.
        fake.add_file(DIFFUSION, "README.md", b"# tiny")
        fake.add_file(DIFFUSION, "tiny_sd_single_file.safetensors", b"\0" * 4096)
        fake.add_file(DIFFUSION, "unet/diffusion_pytorch_model.bin", b"\0" * 4096)
        fake.add_file(DIFFUSION, "onnx/unet/model.onnx", b"\0" * 4096)
        publish(fake, CLASSIFIER, models["transformers"], "transformers", "text-classification")
        publish(fake, GATED, models["transformers"], "transformers", "text-classification", gated="manual")
        yield fake


@pytest.fixture
def orchestrator() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as fake:
        yield fake


def settings_for(model_id: str, hub: FakeHub, orchestrator: WebhookReceiver, tmp_path: Path, **env: str):
    from worker.settings import WorkerSettings

    return WorkerSettings.from_env(
        {
            "DEPLOYMENT_ID": "dep_test",
            "HF_MODEL_ID": model_id,
            "ORCHESTRATOR_CALLBACK_URL": orchestrator.url("/internal/deployment-ready/dep_test"),
            "ORCHESTRATOR_CALLBACK_SECRET": SECRET,
            "HF_ENDPOINT": hub.base_url,
            "MODEL_CACHE_DIR": str(tmp_path / "cache"),
            **env,
        }
    )


def reporter_for(settings):
    from worker.callbacks import Reporter

    return Reporter(settings.callback_url, settings.callback_secret, timeout=2, backoff=0.01)


def png(data: str):
    from PIL import Image

    raw = base64.b64decode(data)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(raw))


def test_diffusers_boot_reports_in_order_then_generates_images(hub, orchestrator, tmp_path) -> None:
    from worker.boot import boot
    from worker.handlers import make_handler

    settings = settings_for(
        DIFFUSION, hub, orchestrator, tmp_path, MODEL_LIBRARY="diffusers", MODEL_TASK="text-to-image"
    )
    model = boot(settings, reporter_for(settings), progress_interval=0.01)

    got = reports(orchestrator.received)
    order = statuses(got)
    assert order[0] == "downloading_model" and order[-2:] == ["loading_model", "ready"]
    assert set(order[:-2]) == {"downloading_model"}
    progress = [r.json["progress"] for r in got if r.json["status"] == "downloading_model"]
    assert progress[0] == 0 and progress[-1] == 100 and progress == sorted(progress)
    assert all(r.header("x-visgate-internal-secret") == SECRET for r in got)
    ready = got[-1].json
    assert ready["metadata"]["device"] == "cpu" and ready["metadata"]["dtype"] == "float32"
    assert ready["metadata"]["pipeline_class"] == "StableDiffusionPipeline" and ready["metadata"]["files"] == 10
    fetched = {r.path.split("/resolve/main/", 1)[-1] for r in hub.requests_to("GET", f"/{DIFFUSION}/resolve/")}
    assert not fetched & {"README.md", "tiny_sd_single_file.safetensors", "unet/diffusion_pytorch_model.bin"}
    assert not any(p.startswith("onnx/") for p in fetched)

    handler = make_handler(model)
    out = handler({"id": "job-1", "input": {**IMAGE_INPUT, "num_images": 2}})
    assert "error" not in out, out
    assert len(out["images"]) == 2 and out["image_format"] == "png"
    assert png(out["images"][0]).size == (32, 32)
    params = out["parameters"]
    assert params["seed"] == 7 and params["num_inference_steps"] == 2 and params["num_images"] == 2
    assert (params["width"], params["height"]) == (32, 32) and params["guidance_scale"] == 7.5  # pipeline default
    assert out["model"] == DIFFUSION and out["timings"]["inference_seconds"] >= 0

    again = handler({"id": "job-2", "input": IMAGE_INPUT})
    assert again["images"][0] == out["images"][0]  # the same seed gives the same image
    random_seed = handler({"id": "job-3", "input": {k: v for k, v in IMAGE_INPUT.items() if k != "seed"}})
    assert isinstance(random_seed["parameters"]["seed"], int)

    assert handler({"id": "j", "input": {"num_inference_steps": 2}}) == {
        "error": "prompt is required: a non-empty string"
    }
    assert "multiple of 8" in handler({"id": "j", "input": {**IMAGE_INPUT, "width": 30}})["error"]
    assert "unknown input field" in handler({"id": "j", "input": {**IMAGE_INPUT, "steps": 3}})["error"]
    assert handler({"id": "j", "input": "a cat"}) == {"error": "input must be a JSON object"}


def test_transformers_pipeline_serves_text_classification(hub, orchestrator, tmp_path) -> None:
    from worker.boot import boot
    from worker.handlers import make_handler

    settings = settings_for(CLASSIFIER, hub, orchestrator, tmp_path)  # library and task from the Hub
    model = boot(settings, reporter_for(settings))
    assert statuses(orchestrator.received)[-2:] == ["loading_model", "ready"]
    assert (model.library, model.task) == ("transformers", "text-classification")

    out = make_handler(model)({"id": "job", "input": {"inputs": ["a good movie", "bad"], "parameters": {"top_k": 2}}})
    assert "error" not in out, out
    assert len(out["output"]) == 2
    for ranking in out["output"]:
        assert {r["label"] for r in ranking} == {"POSITIVE", "NEGATIVE"}
        assert abs(sum(r["score"] for r in ranking) - 1.0) < 1e-4
    assert make_handler(model)({"id": "j", "input": {}}) == {"error": "inputs is required"}


def test_a_gated_model_without_a_token_fails_with_the_reason(hub, orchestrator, tmp_path) -> None:
    from worker.boot import BootError, boot

    settings = settings_for(GATED, hub, orchestrator, tmp_path)
    with pytest.raises(BootError, match="gated"):
        boot(settings, reporter_for(settings))
    assert statuses(orchestrator.received) == ["downloading_model", "failed"]
    assert "user_hf_token" in reports(orchestrator.received)[-1].json["message"]


def test_a_gated_model_with_a_token_that_has_access_loads(hub, orchestrator, tmp_path) -> None:
    from worker.boot import boot

    hub.models[GATED].tokens_with_access = {"hf_good"}
    settings = settings_for(GATED, hub, orchestrator, tmp_path, HF_TOKEN="hf_good")
    boot(settings, reporter_for(settings))
    assert statuses(orchestrator.received)[-1] == "ready"
    assert all(r.header("authorization") == "Bearer hf_good" for r in hub.requests_to(path_prefix=f"/{GATED}/resolve"))


def test_an_unsupported_library_or_a_missing_model_fails_clearly(hub, orchestrator, tmp_path) -> None:
    from worker.boot import BootError, boot

    settings = settings_for(CLASSIFIER, hub, orchestrator, tmp_path, MODEL_LIBRARY="sentence-transformers")
    with pytest.raises(BootError, match="sentence-transformers"):
        boot(settings, reporter_for(settings))
    settings = settings_for("acme/nothing-here", hub, orchestrator, tmp_path)
    with pytest.raises(BootError, match="not found"):
        boot(settings, reporter_for(settings))
    failures = [r.json["message"] for r in reports(orchestrator.received) if r.json["status"] == "failed"]
    assert len(failures) == 2 and "not served by the inference container" in failures[0]
    logged = [r.json for r in orchestrator.received if "/deployment-logs/" in r.path]
    assert [line["level"] for line in logged] == ["error", "error"]  # with a short traceback each


def test_an_unreachable_orchestrator_does_not_stop_the_worker(hub, tmp_path) -> None:
    from worker.boot import boot
    from worker.callbacks import Reporter
    from worker.settings import WorkerSettings

    settings = WorkerSettings.from_env(
        {"HF_MODEL_ID": CLASSIFIER, "HF_ENDPOINT": hub.base_url, "MODEL_CACHE_DIR": str(tmp_path / "c")}
    )
    reporter = Reporter("http://127.0.0.1:9/internal/deployment-ready/dep_x", SECRET, timeout=0.5, backoff=0.01)
    model = boot(settings, reporter)
    assert model.task == "text-classification" and reporter.sent == []
