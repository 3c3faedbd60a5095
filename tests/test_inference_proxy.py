"""The inference proxy end to end: the real server, the fake Runpod runtime (jobs, vLLM's OpenAI routes,
streaming, errors) and, where .venv-worker exists, the real worker serving the Runpod SDK's local API."""

from __future__ import annotations

import base64
import itertools
import json
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from shared.proxy.routing import not_ready
from shared.schemas.stored import Deployment, ErrorInfo
from tests.conftest import ROOT, free_port, launch
from tests.e2e_support import LLM, SDXL, Fakes, create_body, running_fakes
from tests.worker.support import WORKER_PYTHON, WORKER_VENV_READY, publish

ADMIN_TOKEN = "admin-token-for-proxy-tests-0123456789"


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as f:
        yield f
        assert f.runpod.violations == [], f.runpod.violations


@pytest.fixture(scope="module")
def server(tmp_path_factory, fakes):
    srv = launch(tmp_path_factory.mktemp("proxy") / "data", {**fakes.env(), "ADMIN_TOKEN": ADMIN_TOKEN})
    yield srv
    srv.stop()


def deploy(server, fakes, **overrides) -> str:
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


@pytest.fixture(scope="module")
def ready(server, fakes) -> dict[str, dict]:
    """One ready deployment per worker kind: the LLM on vLLM, SDXL on the inference container."""
    llm, image = deploy(server, fakes, hf_model_id=LLM, gpu_tier="auto"), deploy(server, fakes)
    return {
        "llm": server.wait_status(llm, "ready", timeout=60),
        "image": server.wait_status(image, "ready", timeout=60),
    }


def upstream(fakes: Fakes, path_part: str) -> list:
    return [r for r in fakes.runpod.requests if path_part in r.path]


# ---- Runpod jobs -----------------------------------------------------------------------------------


def test_job_lifecycle_uses_the_tenants_key_and_never_the_callers(server, fakes, ready) -> None:
    dep = ready["image"]
    dep_id, endpoint = dep["deployment_id"], dep["runpod_endpoint_id"]
    queued = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {"prompt": "a cat"}})
    assert queued.status_code == 200, queued.text
    job = queued.json()
    assert job["status"] == "IN_QUEUE" and job["deployment_id"] == dep_id and queued.headers["RateLimit-Limit"]
    first = server.get(f"/v1/deployments/{dep_id}/jobs/{job['id']}").json()
    assert first["status"] == "IN_QUEUE"
    done = server.get(f"/v1/deployments/{dep_id}/jobs/{job['id']}").json()
    assert done["status"] == "COMPLETED" and done["output"] == {"echo": {"prompt": "a cat"}}

    sync = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"n": 1}, "webhook": "https://x.test/h"})
    assert sync.status_code == 200 and sync.json()["output"] == {"echo": {"n": 1}}
    server.post(f"/v1/deployments/{dep_id}/runsync?wait=999999999", json={"input": {"n": 2}})
    server.post(f"/v1/deployments/{dep_id}/runsync?wait=10", json={"input": {"n": 3}})
    waits = [r.query["wait"] for r in upstream(fakes, f"/v2/{endpoint}/runsync")][-3:]
    assert waits == ["60000", "120000", "1000"]  # default, capped, floored
    assert upstream(fakes, f"/v2/{endpoint}/runsync")[-3].json == {"input": {"n": 1}, "webhook": "https://x.test/h"}

    other = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {}}).json()
    cancelled = server.post(f"/v1/deployments/{dep_id}/jobs/{other['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json() == {
        "id": other["id"],
        "status": "CANCELLED",
        "deployment_id": dep_id,
    }
    sent = upstream(fakes, f"/v2/{endpoint}/")
    assert sent and {r.header("authorization") for r in sent} == {"Bearer rpa_test"}


def test_a_failed_job_is_passed_through(server, fakes, ready) -> None:
    dep_id, endpoint = ready["image"]["deployment_id"], ready["image"]["runpod_endpoint_id"]
    fakes.runpod.set_job_outcome(endpoint, "FAILED", "CUDA out of memory")
    try:
        resp = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"prompt": "x"}})
    finally:
        fakes.runpod.job_outcome.clear()
    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["error"]) == ("FAILED", "CUDA out of memory")


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ({"kind": "status", "status": 429, "retry_after": 7}, 429, "RateLimitError"),
        ({"kind": "status", "status": 503}, 502, "BadGatewayError"),
        ({"kind": "status", "status": 400}, 400, "BadRequestError"),
        ({"kind": "reset"}, 502, "BadGatewayError"),
    ],
)
def test_runtime_errors_become_the_products_errors(server, fakes, ready, fault, status, error) -> None:
    dep_id, endpoint = ready["image"]["deployment_id"], ready["image"]["runpod_endpoint_id"]
    fakes.runpod.fail_next("POST", f"/v2/{endpoint}/run", **fault)
    resp = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {}})
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error and body["details"]["deployment_id"] == dep_id and body["message"]
    if status == 429:
        assert resp.headers["Retry-After"] == "7"


def test_runpods_retry_after_is_passed_on_in_whole_seconds(server, fakes, ready) -> None:
    dep_id, endpoint = ready["image"]["deployment_id"], ready["image"]["runpod_endpoint_id"]
    for sent, passed_on in ((1.5, "2"), (float("inf"), "1")):  # rounded up; unusable: our default
        fakes.runpod.fail_next("POST", f"/v2/{endpoint}/run", "status", status=429, retry_after=sent)
        resp = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {}})
        assert resp.status_code == 429 and resp.headers["Retry-After"] == passed_on, (sent, resp.headers)


def test_timeouts_job_ids_and_revoked_keys(server, fakes, ready) -> None:
    dep_id, endpoint = ready["image"]["deployment_id"], ready["image"]["runpod_endpoint_id"]
    fakes.runpod.faults.timeout_seconds = 3.5  # the server's HTTP_TIMEOUT_SECONDS is 2 in tests
    fakes.runpod.fail_next("GET", f"/v2/{endpoint}/status/", "timeout")
    slow = server.get(f"/v1/deployments/{dep_id}/jobs/some-job")
    assert slow.status_code == 504 and slow.json()["error"] == "GatewayTimeoutError"
    assert slow.json()["message"] == "Runpod did not answer in time"  # our timeout, not the fake's own 504

    missing = server.get(f"/v1/deployments/{dep_id}/jobs/no-such-job")
    assert missing.status_code == 404 and missing.json()["error"] == "NotFoundError"
    assert missing.json()["details"]["job_id"] == "no-such-job"
    assert server.get(f"/v1/deployments/{dep_id}/jobs/..%2Fhealth").status_code == 404

    fakes.runpod.valid_keys.discard("rpa_test")
    try:
        revoked = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {}})
    finally:
        fakes.runpod.valid_keys.add("rpa_test")
    assert revoked.status_code == 502
    assert revoked.json()["details"]["upstream_status"] == 401 and "stored API key" in revoked.json()["message"]


def test_bad_job_bodies_are_refused_before_runpod(server, fakes, ready) -> None:
    dep_id = ready["image"]["deployment_id"]
    endpoint = ready["image"]["runpod_endpoint_id"]

    def runtime_calls() -> int:  # other deployments' background steps may talk to the fake meanwhile
        return len([r for r in fakes.runpod.requests if r.path.startswith(f"/v2/{endpoint}/run")])

    before = runtime_calls()
    for body, fragment in (
        ({"prompt": "no input"}, "unknown field"),
        ({}, "input is required"),
        ({"input": "text"}, "input is required"),
    ):
        resp = server.post(f"/v1/deployments/{dep_id}/run", json=body)
        assert resp.status_code == 422 and fragment in resp.json()["message"], resp.text
    assert server.post(f"/v1/deployments/{dep_id}/runsync?wait=soon", json={"input": {}}).status_code == 422
    resp = server.post(f"/v1/deployments/{dep_id}/run", content=b"[1]", headers={"Content-Type": "application/json"})
    assert resp.status_code == 422
    big = {"input": {"blob": "x" * (10 * 1024 * 1024 + 1)}}
    assert server.post(f"/v1/deployments/{dep_id}/run", json=big).status_code == 413
    assert runtime_calls() == before


def test_not_ready_deployments_answer_409_at_once(server, fakes, ready) -> None:
    fakes.runpod.set_worker_state("initializing", None)
    try:
        dep_id = deploy(server, fakes, hf_model_id=LLM, gpu_tier="auto")
        endpoint = server.wait_status(dep_id, "downloading_model", timeout=60)["runpod_endpoint_id"]
        fakes.runpod.set_worker_state("initializing", endpoint)  # this one stays not ready for the whole module
        fakes.runpod.set_worker_state("auto", None)  # the others' workers start again (no scale-up wait)
        resp = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {}})
        assert resp.status_code == 409 and resp.json()["error"] == "ConflictError"
        assert "downloading_model" in resp.json()["message"] and resp.json()["details"]["status"] == "downloading_model"
        assert server.get(f"/v1/deployments/{dep_id}/jobs/j1").status_code == 409
        # The model has an older ready deployment: the newest ready one serves it.
        chat = server.post("/v1/chat/completions", json={"model": LLM, "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200 and chat.headers["X-Deployment-Id"] == ready["llm"]["deployment_id"]
        by_id = server.post("/v1/chat/completions", json={"model": dep_id, "messages": []})
        assert by_id.status_code == 409 and "downloading_model" in by_id.json()["message"]
    finally:
        fakes.runpod.set_worker_state("auto", None)


def test_a_paused_deployment_refuses_jobs_but_still_reads_them(server, fakes) -> None:
    dep_id = deploy(server, fakes)
    server.wait_status(dep_id, "ready", timeout=60)
    job = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {"n": 1}}).json()
    deadline = time.monotonic() + 15
    while (stop := server.post(f"/v1/deployments/{dep_id}/stop")).status_code == 409 and time.monotonic() < deadline:
        time.sleep(0.2)  # refused while the endpoint is still being scaled down after ready
    assert stop.status_code in (200, 202), stop.text
    server.wait_status(dep_id, "paused", timeout=60)
    refused = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {}})
    assert refused.status_code == 409
    assert refused.json()["message"] == f"Deployment {dep_id} is paused: POST /v1/deployments/{dep_id}/start to resume"
    assert server.get(f"/v1/deployments/{dep_id}/jobs/{job['id']}").status_code == 200
    assert dep_id not in {c["deployment_id"] for c in server.get("/v1/models").json()["data"]}


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("paused", "Deployment dep_x is paused: POST /v1/deployments/dep_x/start to resume"),
        ("deleted", "Deployment dep_x is deleted: it cannot serve requests"),
        ("failed", "Deployment dep_x is failed (worker_failed): it cannot serve requests"),
        ("loading_model", "Deployment dep_x is loading_model, not ready yet: retry once its status is ready"),
    ],
)
def test_the_409_names_the_status(status: str, message: str) -> None:
    error = ErrorInfo(code="worker_failed", message="boom") if status == "failed" else None
    err = not_ready(Deployment.model_construct(deployment_id="dep_x", status=status, error=error))
    assert (err.status, err.name, err.message) == (409, "ConflictError", message)
    assert err.details["status"] == status and err.details["deployment_id"] == "dep_x"


def other_tenant(server) -> dict[str, str]:
    """A second tenant's key, made through the admin API."""
    admin = {"X-Admin-Token": ADMIN_TOKEN}
    tenant = server.client.post("/admin/tenants", json={"name": "Other", "email": "o@example.com"}, headers=admin)
    assert tenant.status_code == 201, tenant.text
    key = server.client.post(f"/admin/tenants/{tenant.json()['id']}/api-keys", json={}, headers=admin)
    assert key.status_code == 201, key.text
    return {"Authorization": f"Bearer {key.json()['key']}"}


def test_another_tenants_deployment_is_not_found(server, ready) -> None:
    dep_id = ready["image"]["deployment_id"]
    other = other_tenant(server)
    resp = server.client.post(f"/v1/deployments/{dep_id}/run", json={"input": {}}, headers=other)
    assert resp.status_code == 404 and resp.json()["error"] == "DeploymentNotFoundError"
    models = server.client.get("/v1/models", headers=other).json()
    assert models["object"] == "list" and [c for c in models["data"] if c["ready"]] == []
    chat = server.client.post("/v1/chat/completions", json={"model": LLM, "messages": []}, headers=other)
    assert chat.status_code == 404
    assert server.client.post(f"/v1/deployments/{dep_id}/run", json={"input": {}}).status_code == 401


# ---- OpenAI-compatible routes -----------------------------------------------------------------------


def test_models_lists_ready_deployments_in_openai_shape(server, ready) -> None:
    resp = server.get("/v1/models")
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "list"
    cards = {c["id"]: c for c in body["data"]}
    assert set(cards) >= {LLM, SDXL}
    card = cards[LLM]
    assert card["object"] == "model" and card["owned_by"] == "deployment-orchestrator" and card["ready"] is True
    assert card["deployment_id"] == ready["llm"]["deployment_id"] and isinstance(card["created"], int)
    # Served models come first; then what the registry can deploy by name (issue 5's "GET /v1/models").
    assert [c["ready"] for c in body["data"]] == sorted((c["ready"] for c in body["data"]), reverse=True)
    flux = cards["black-forest-labs/FLUX.1-schnell"]
    assert flux["ready"] is False and flux["deployment_id"] is None
    assert {"model_name": "veo3", "provider": "fal", "task": "text-to-image", "vram_required_gb": None} in (
        flux["deployable_as"]
    )
    sd = cards["stabilityai/sd-turbo"]["deployable_as"]
    assert sd[0]["provider"] is None  # any provider


def test_chat_and_completions_are_routed_by_model(server, fakes, ready) -> None:
    dep = ready["llm"]
    endpoint = dep["runpod_endpoint_id"]
    messages = [{"role": "user", "content": "hello there"}]
    resp = server.post("/v1/chat/completions", json={"model": LLM, "messages": messages, "max_tokens": 5})
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert resp.headers["X-Deployment-Id"] == dep["deployment_id"]
    sent = upstream(fakes, f"/v2/{endpoint}/openai/v1/chat/completions")[-1]
    assert sent.json == {"model": LLM, "messages": messages, "max_tokens": 5}
    assert sent.header("authorization") == "Bearer rpa_test"

    by_id = server.post("/v1/completions", json={"model": dep["deployment_id"], "prompt": "once"})
    assert by_id.status_code == 200 and by_id.json()["choices"][0]["text"] == "echo: once"
    assert upstream(fakes, f"/v2/{endpoint}/openai/v1/completions")[-1].json["model"] == LLM


def test_routing_errors(server, ready) -> None:
    unknown = server.post("/v1/chat/completions", json={"model": "acme/never-deployed", "messages": []})
    assert unknown.status_code == 404 and "GET /v1/models" in unknown.json()["message"]
    image = server.post("/v1/chat/completions", json={"model": SDXL, "messages": []})
    assert image.status_code == 400 and f"/v1/deployments/{ready['image']['deployment_id']}/runsync" in image.text
    assert server.post("/v1/chat/completions", json={"messages": []}).status_code == 422
    assert server.post("/v1/chat/completions", json={"model": LLM, "stream": "yes"}).status_code == 422


def test_streaming_arrives_chunk_by_chunk(server, fakes, ready) -> None:
    fakes.runpod.openai_chunk_delay = 0.3
    body = {"model": LLM, "messages": [{"role": "user", "content": "one two three"}], "stream": True}
    arrivals: list[tuple[float, str]] = []
    try:
        with (
            httpx.Client(base_url=server.base_url, headers=server.auth, timeout=10) as client,
            connect_sse(client, "POST", "/v1/chat/completions", json=body) as source,
        ):
            assert source.response.headers["content-type"].startswith("text/event-stream")
            assert source.response.headers["X-Deployment-Id"] == ready["llm"]["deployment_id"]
            started = time.monotonic()
            for event in source.iter_sse():
                arrivals.append((time.monotonic() - started, event.data))
    finally:
        fakes.runpod.openai_chunk_delay = 0.05
    assert arrivals[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in arrivals[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "echo: one two three" and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    # Six events 0.3 s apart: were they buffered, they would all arrive together at the end.
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    spread = arrivals[-1][0] - arrivals[0][0]
    assert len(arrivals) == 6 and spread > 0.9 and sum(g > 0.1 for g in gaps) >= 3, [t for t, _ in arrivals]


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [(400, 400, "BadRequestError"), (422, 422, "ValidationError"), (500, 502, "BadGatewayError")],
)
def test_vllm_errors_returned_with_200_are_mapped(server, fakes, ready, code, status, error) -> None:
    fakes.runpod.openai_next("error_200", code=code, message="This model's maximum context length is 8 tokens")
    resp = server.post("/v1/chat/completions", json={"model": LLM, "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error and "maximum context length" in body["message"]
    assert body["details"]["upstream"] == "vllm" and body["details"]["code"] == code


def test_stream_errors(server, fakes, ready) -> None:
    body = {"model": LLM, "messages": [{"role": "user", "content": "a b c d"}], "stream": True}
    fakes.runpod.openai_next("error_200", code=400, message="bad sampling params")
    resp = server.post("/v1/chat/completions", json=body)
    assert resp.status_code == 400 and "bad sampling params" in resp.json()["message"]

    fakes.runpod.openai_next("stream_error", code=400, message="prompt too long")
    resp = server.post("/v1/chat/completions", json=body)
    assert resp.status_code == 400 and resp.json()["error"] == "BadRequestError"

    fakes.runpod.openai_next("break")
    resp = server.post("/v1/chat/completions", json=body)
    assert resp.status_code == 200
    events = [line[6:] for line in resp.text.splitlines() if line.startswith("data: ")]
    assert len(events) == 3 and json.loads(events[-1])["error"]["type"] == "BadGatewayError"


def test_openapi_lists_the_inference_routes(server) -> None:
    paths = server.client.get("/openapi.json").json()["paths"]
    assert {"/v1/chat/completions", "/v1/completions", "/v1/models"} <= set(paths)
    run = paths["/v1/deployments/{deployment_id}/run"]["post"]
    assert run["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("RunRequest")
    assert {"409", "502", "504"} <= set(run["responses"])


# ---- end to end with the real worker ----------------------------------------------------------------

needs_worker = pytest.mark.skipif(
    not WORKER_VENV_READY.exists(), reason="needs .venv-worker (make worker-venv) to run the worker"
)


def png_size(data: str) -> tuple[int, int]:
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


@needs_worker
def test_deploy_then_generate_through_the_proxy_with_the_real_worker(start_server, tmp_path: Path) -> None:
    model_dir = tmp_path / "tiny-sd"
    subprocess.run(
        [str(WORKER_PYTHON), "-m", "tests.worker.tiny_models", "diffusers", str(model_dir)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with running_fakes() as fakes:
        publish(fakes.hub, "acme/tiny-sd", model_dir, "diffusers", "text-to-image")
        fakes.runpod.set_worker_state("initializing")  # only the worker's own callbacks can make it ready
        server = start_server(env={**fakes.env(), "HTTP_TIMEOUT_SECONDS": "10"})  # a busy CPU runs the model
        dep_id = deploy(server, fakes, hf_model_id="acme/tiny-sd", gpu_tier="auto")
        endpoint_id = server.wait_status(dep_id, "downloading_model")["runpod_endpoint_id"]
        (created,) = fakes.runpod.created
        assert created["env"]["MODEL_LIBRARY"] == "diffusers" and created["env"]["MODEL_TASK"] == "text-to-image"
        port = free_port()
        env = {
            **created["env"],
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "HF_ENDPOINT": fakes.hub.base_url,
            "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        }
        args = ["-m", "worker.main", "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)]
        with open(tmp_path / "worker.log", "w") as log:
            worker = subprocess.Popen([str(WORKER_PYTHON), *args], cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            body = server.wait_status(dep_id, {"ready", "failed"}, timeout=120)
            assert body["status"] == "ready", (body, (tmp_path / "worker.log").read_text()[-3000:])
            messages = " | ".join(entry["message"] for entry in body["logs"])
            assert "Worker: downloading model" in messages and "Worker: loading model" in messages
            _wait_http(f"http://127.0.0.1:{port}/docs", worker)
            fakes.runpod.attach_worker(endpoint_id, f"http://127.0.0.1:{port}")

            job_input = {"prompt": "a green tree", "num_inference_steps": 2, "width": 32, "height": 32, "seed": 11}
            sync = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": job_input}, timeout=120)
            assert sync.status_code == 200, sync.text
            out = sync.json()
            assert out["status"] == "COMPLETED", out
            assert png_size(out["output"]["images"][0]) == (32, 32)
            assert out["output"]["parameters"]["seed"] == 11 and out["output"]["model"] == "acme/tiny-sd"

            queued = server.post(f"/v1/deployments/{dep_id}/run", json={"input": {**job_input, "seed": 12}})
            assert queued.status_code == 200, queued.text
            done = server.get(f"/v1/deployments/{dep_id}/jobs/{queued.json()['id']}", timeout=120)
            assert done.status_code == 200, done.text
            assert done.json()["status"] == "COMPLETED" and done.json()["output"]["parameters"]["seed"] == 12

            bad = server.post(f"/v1/deployments/{dep_id}/runsync", json={"input": {"width": 32}}, timeout=60).json()
            assert bad["status"] == "FAILED" and "prompt is required" in bad["error"]
        finally:
            worker.terminate()
            worker.wait(10)
        assert fakes.runpod.violations == []


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the worker exited"
        try:
            if httpx.get(url, timeout=1, follow_redirects=True).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def test_long_proxy_calls_are_capped_per_tenant(server, fakes, ready) -> None:
    """Issue 10.6: streamed completions hold a server thread; the fifth at once for one tenant is a 429."""
    fakes.runpod.openai_chunk_delay = 0.3
    words = " ".join(["word"] * 200)  # about a minute of chunks: the streams stay open while we look
    body = {"model": LLM, "messages": [{"role": "user", "content": words}], "stream": True}
    client = httpx.Client(base_url=server.base_url, headers=server.auth, timeout=10)
    try:
        streams = []
        for _ in range(4):  # LONG_REQUESTS_PER_TENANT's default
            resp = client.send(client.build_request("POST", "/v1/chat/completions", json=body), stream=True)
            assert resp.status_code == 200
            chunks = resp.iter_raw()
            next(chunks)  # the proxy is relaying: its slot is held
            streams.append((resp, chunks))  # keep the iterator: dropping it would close the connection
        over = client.post("/v1/chat/completions", json={**body, "stream": False})
        assert over.status_code == 429 and over.headers["Retry-After"], over.text
        assert over.json()["error"] == "RateLimitError" and over.json()["details"]["kind"] == "long_requests"
        runsync = client.post(f"/v1/deployments/{ready['image']['deployment_id']}/runsync", json={"input": {}})
        assert runsync.status_code == 429  # runsync counts against the same cap
        for resp, _ in streams:
            resp.close()
    finally:
        fakes.runpod.openai_chunk_delay = 0.05
        client.close()
    # The slots come back once the server notices the closed streams (its next write fails).
    small = {"model": LLM, "messages": [{"role": "user", "content": "hi"}]}
    deadline = time.monotonic() + 20
    while server.post("/v1/chat/completions", json=small).status_code == 429:
        assert time.monotonic() < deadline, "long-request slots were not released after the clients left"
        time.sleep(0.1)
