"""The fakes themselves, driven by the real clients (httpx for Runpod and webhooks, huggingface_hub for the Hub)."""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from tests.fakes.base import FakeServer, Response
from tests.fakes.hub import FakeHub, HubFaultPlan
from tests.fakes.runpod import FakeRunpod, FaultPlan, spec_validator
from tests.fakes.webhooks import RESET, WebhookReceiver

VALID_CREATE: dict[str, Any] = {
    "name": "do-dep_2026_0123456789abcdef",
    "type": "QUEUE",
    "image": "ghcr.io/visgate/deployment-orchestrator-worker:0.1.0",
    "env": {"DEPLOYMENT_ID": "dep_2026_0123456789abcdef", "HF_MODEL_ID": "stabilityai/sdxl-turbo"},
    "disk": 30,
    "gpu": {"pools": ["AMPERE_48"], "count": 1},
    "workers": {"min": 1, "max": 1, "idleTimeout": 5},
    "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
    "flashboot": "FLASHBOOT",
    "timeout": 600000,
}
VALID_PATCH: dict[str, Any] = {"workers": {"min": 0, "max": 1}}


def create_body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID_CREATE)
    body.update(changes)
    return body


def assert_spec(schema: str, document: Any) -> None:
    assert [e.message for e in spec_validator(schema).iter_errors(document)] == []


@pytest.fixture
def runpod() -> Iterator[FakeRunpod]:
    with FakeRunpod() as fake:
        yield fake


@pytest.fixture
def rp(runpod: FakeRunpod) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runpod.base_url, headers={"Authorization": "Bearer rpa_test"}, timeout=2.0) as client:
        yield client


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as fake:
        yield fake


# ---- Runpod: management API ----


def test_runpod_refuses_missing_or_unknown_keys_with_a_problem(runpod: FakeRunpod) -> None:
    for headers in ({}, {"Authorization": "Bearer rpa_nope"}):
        r = httpx.get(f"{runpod.base_url}/v2/serverless", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["RateLimit"] and r.headers["RateLimit-Policy"]
        assert_spec("ErrorResponse", r.json())
    assert runpod.endpoints == {}


def test_runpod_endpoint_lifecycle(runpod: FakeRunpod, rp: httpx.Client) -> None:
    r = rp.post("/v2/serverless", json=VALID_CREATE)
    assert r.status_code == 201
    endpoint = r.json()
    assert_spec("Endpoint", endpoint)
    endpoint_id = endpoint["id"]
    assert endpoint_id.startswith("ep") and len(endpoint_id) == 12
    assert endpoint["requestUrls"]["health"] == f"{runpod.base_url}/v2/{endpoint_id}/health"
    assert endpoint["dataCenterIds"] == [] and endpoint["createdAt"].endswith("Z")

    listed = rp.get("/v2/serverless").json()
    assert_spec("ListEndpointsResponse", listed)
    assert [e["id"] for e in listed["endpoints"]] == [endpoint_id]
    assert rp.get(f"/v2/serverless/{endpoint_id}").json() == endpoint

    patched = rp.patch(f"/v2/serverless/{endpoint_id}", json=VALID_PATCH)
    assert patched.status_code == 200
    assert patched.json()["workers"] == {"min": 0, "max": 1, "idleTimeout": 5}  # merged, not replaced
    assert patched.json()["image"] == VALID_CREATE["image"]

    assert rp.delete(f"/v2/serverless/{endpoint_id}").status_code == 204
    gone = rp.get(f"/v2/serverless/{endpoint_id}")
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
    assert rp.delete(f"/v2/serverless/{endpoint_id}").status_code == 404

    assert runpod.violations == []
    assert runpod.deleted == [endpoint_id] and runpod.live_endpoints() == []
    assert [e["id"] for e in runpod.created_by_name(VALID_CREATE["name"])] == [endpoint_id]


def test_runpod_patch_merges_gpu_but_new_pools_drop_exclusions(rp: httpx.Client) -> None:
    gpu = {"pools": ["ADA_24", "AMPERE_48"], "count": 1, "excludedTypes": ["NVIDIA RTX A6000"]}
    endpoint_id = rp.post("/v2/serverless", json=create_body(gpu=gpu)).json()["id"]
    assert rp.patch(f"/v2/serverless/{endpoint_id}", json={"gpu": {"count": 2}}).json()["gpu"]["excludedTypes"] == [
        "NVIDIA RTX A6000"
    ]
    repooled = rp.patch(f"/v2/serverless/{endpoint_id}", json={"gpu": {"pools": ["AMPERE_48"]}}).json()
    assert_spec("Endpoint", repooled)
    assert repooled["gpu"]["count"] == 2 and "excludedTypes" not in repooled["gpu"]


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        ("POST", {k: v for k, v in VALID_CREATE.items() if k != "scaling"}, "'scaling' is a required property"),
        ("POST", create_body(region="eu"), "'region' was unexpected"),
        ("POST", create_body(flashboot="ALWAYS"), "'ALWAYS' is not one of"),
        ("POST", create_body(scaling={"type": "QUEUE_DELAY", "queueDelay": 0}), "not valid under any"),
        ("POST", {k: v for k, v in VALID_CREATE.items() if k != "gpu"}, "exactly one of `gpu` or `cpu`"),
        ("PATCH", {"workers": {"min": 0, "max": 1, "size": 2}}, "'size' was unexpected"),
        ("PATCH", {"workers": {"min": 2, "max": 1}}, "workers.min exceeds workers.max"),
    ],
)
def test_runpod_rejects_bodies_that_violate_the_spec(
    runpod: FakeRunpod, rp: httpx.Client, method: str, body: dict[str, Any], expected: str
) -> None:
    endpoint_id = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]
    before = copy.deepcopy(runpod.endpoints)
    path = "/v2/serverless" if method == "POST" else f"/v2/serverless/{endpoint_id}"
    r = rp.request(method, path, json=body)
    assert r.status_code == 400
    assert any(expected in e for e in r.json()["errors"]), r.json()
    assert any(expected in v for v in runpod.violations), runpod.violations
    assert runpod.endpoints == before


def test_runpod_records_unknown_paths_and_methods(runpod: FakeRunpod, rp: httpx.Client) -> None:
    assert rp.get("/v2/serverless/ep1/nothing/here").status_code == 404
    assert rp.put("/v2/serverless", json={}).status_code == 405
    assert rp.get("/v2/abc/run").status_code == 405  # runtime run is POST
    assert len(runpod.violations) == 3


def test_runpod_gpu_catalog_and_worker_logs_follow_the_spec(runpod: FakeRunpod, rp: httpx.Client) -> None:
    gpus = rp.get("/v2/catalog/gpus").json()
    assert_spec("ListGpuTypesResponse", gpus)
    assert {g["pool"] for g in gpus["gpus"]} >= {"AMPERE_48", "ADA_24", "AMPERE_80", "ADA_80_PRO"}
    assert rp.get("/v2/catalog/gpus/NVIDIA%20A40").json()["memory"] == 48

    endpoint_id = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]
    worker_id = rp.get(f"/v2/serverless/{endpoint_id}/workers").json()["workers"][0]["id"]
    logs = rp.get(f"/v2/serverless/{endpoint_id}/workers/{worker_id}/logs")
    assert logs.headers["content-type"] == "text/event-stream"
    assert logs.text.count("data: {") == 2 and logs.text.startswith("id: ")
    assert runpod.violations == []


# ---- Runpod: faults and quota ----


def test_runpod_scripted_faults_fire_in_order_and_are_counted(runpod: FakeRunpod, rp: httpx.Client) -> None:
    runpod.fail_next("POST", "/v2/serverless", "status", count=2, status=429, retry_after=2)
    first, second, third = (rp.post("/v2/serverless", json=VALID_CREATE) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 201)
    assert first.headers["Retry-After"] == "2" and first.json()["status"] == 429

    runpod.fail_next("GET", "/v2/serverless", "status", status=503)
    assert rp.get("/v2/serverless").status_code == 503

    runpod.fail_next("*", "/v2/serverless", "reset")
    with pytest.raises(httpx.TransportError):
        rp.get("/v2/serverless")

    runpod.faults = FaultPlan(timeout_seconds=0.4)
    runpod.fail_next("GET", "/v2/catalog", "timeout")
    with pytest.raises(httpx.ReadTimeout):
        rp.get("/v2/catalog/gpus", timeout=0.1)

    assert rp.get("/v2/serverless").status_code == 200
    assert runpod.fault_counts == Counter({"status": 3, "reset": 1, "timeout": 1})
    assert len(runpod.endpoints) == 1 and runpod.violations == []


def test_runpod_lost_create_creates_but_the_client_sees_a_connection_error(
    runpod: FakeRunpod, rp: httpx.Client
) -> None:
    runpod.fail_next("POST", "/v2/serverless", "lost_create")
    with pytest.raises(httpx.TransportError):
        rp.post("/v2/serverless", json=VALID_CREATE)
    assert len(runpod.endpoints_named(VALID_CREATE["name"])) == 1
    assert runpod.fault_counts["lost_create"] == 1


def test_runpod_random_faults_repeat_with_the_same_seed() -> None:
    def run(seed: int) -> tuple[list[int], Counter[str]]:
        plan = FaultPlan(error_5xx=0.3, rate_limit_429=0.2, seed=seed)
        with FakeRunpod(faults=plan) as fake, httpx.Client(base_url=fake.base_url) as client:
            auth = {"Authorization": "Bearer rpa_valid"}
            return [client.get("/v2/catalog/gpus", headers=auth).status_code for _ in range(30)], fake.fault_counts

    statuses, counts = run(7)
    assert run(7) == (statuses, counts)
    assert set(statuses) == {200, 429, 503}
    assert counts["error_5xx"] == statuses.count(503) and counts["rate_limit_429"] == statuses.count(429)


def test_runpod_runtime_faults_can_be_switched_off(runpod: FakeRunpod, rp: httpx.Client) -> None:
    endpoint_id = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]
    runpod.faults = FaultPlan(error_5xx=1.0)
    runpod.runtime_faults = False
    assert rp.get("/v2/serverless").status_code == 503
    assert rp.get(f"/v2/{endpoint_id}/health").status_code == 200


def test_runpod_worker_quota(rp: httpx.Client, runpod: FakeRunpod) -> None:
    runpod.max_workers_quota = 2
    endpoint_id = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]  # max 1
    refused = rp.post("/v2/serverless", json=create_body(workers={"min": 0, "max": 2}))
    assert refused.status_code == 400
    assert refused.json()["detail"] == "Max workers across all endpoints exceeds your worker quota (2)"
    assert rp.patch(f"/v2/serverless/{endpoint_id}", json={"workers": {"max": 3}}).status_code == 400
    assert rp.patch(f"/v2/serverless/{endpoint_id}", json={"workers": {"max": 2}}).status_code == 200
    assert len(runpod.endpoints) == 1 and runpod.violations == []


# ---- Runpod: workers and runtime ----


def test_runpod_worker_states(rp: httpx.Client, runpod: FakeRunpod) -> None:
    runpod.ready_after_seconds = 60
    warm = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]
    cold = rp.post("/v2/serverless", json=create_body(workers={"min": 0, "max": 1})).json()["id"]

    listing = rp.get(f"/v2/serverless/{warm}/workers").json()
    assert_spec("ListEndpointWorkersResponse", listing)
    assert [w["status"] for w in listing["workers"]] == ["INITIALIZING"]
    assert rp.get(f"/v2/{warm}/health").json()["workers"]["initializing"] == 1
    assert rp.get(f"/v2/serverless/{cold}/workers").json()["summary"]["total"] == 0
    assert set(rp.get(f"/v2/{cold}/health").json()["workers"].values()) == {0}

    runpod.set_worker_state("idle", warm)
    health = rp.get(f"/v2/{warm}/health").json()
    assert health["workers"]["idle"] == health["workers"]["ready"] == 1
    assert set(health["jobs"]) == {"completed", "failed", "inProgress", "inQueue", "retried"}

    runpod.set_worker_state("unhealthy")  # every endpoint, future ones too; the explicit "idle" still wins
    later = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]
    assert [rp.get(f"/v2/{e}/health").json()["workers"]["unhealthy"] for e in (warm, cold, later)] == [0, 1, 1]
    assert rp.get(f"/v2/serverless/{later}/workers").json()["summary"]["unhealthy"] == 1
    assert rp.get("/v2/epnothere000/health").status_code == 404


def test_runpod_workers_become_ready_after_ready_after_seconds(rp: httpx.Client, runpod: FakeRunpod) -> None:
    at_once = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]  # ready_after_seconds defaults to 0
    assert rp.get(f"/v2/{at_once}/health").json()["workers"]["ready"] == 1
    runpod.ready_after_seconds = 0.1
    slow = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]
    assert runpod.worker_state(slow) == "initializing"
    time.sleep(0.15)
    assert rp.get(f"/v2/{slow}/health").json()["workers"]["ready"] == 1


def test_runpod_runtime_jobs(rp: httpx.Client, runpod: FakeRunpod) -> None:
    endpoint_id = rp.post("/v2/serverless", json=VALID_CREATE).json()["id"]
    job = rp.post(f"/v2/{endpoint_id}/run", json={"input": {"prompt": "a cat"}}).json()
    assert job["status"] == "IN_QUEUE"
    assert rp.get(f"/v2/{endpoint_id}/status/{job['id']}").json()["status"] == "IN_QUEUE"
    done = rp.get(f"/v2/{endpoint_id}/status/{job['id']}").json()
    assert done["status"] == "COMPLETED" and done["output"] == {"echo": {"prompt": "a cat"}}

    sync = rp.post(f"/v2/{endpoint_id}/runsync", json={"input": {"n": 1}}).json()
    assert sync["status"] == "COMPLETED" and sync["output"] == {"echo": {"n": 1}}

    queued = rp.post(f"/v2/{endpoint_id}/run", json={"input": {}}).json()
    cancelled = rp.post(f"/v2/{endpoint_id}/cancel/{queued['id']}").json()
    assert cancelled == {"id": queued["id"], "status": "CANCELLED"}
    assert rp.get(f"/v2/{endpoint_id}/health").json()["jobs"]["completed"] == 2
    assert rp.post(f"/v2/{endpoint_id}/run", json={"prompt": "no input"}).status_code == 400
    assert len(runpod.violations) == 1


# ---- Hugging Face Hub ----


def test_hub_model_info_parses(hub: FakeHub) -> None:
    hub.add_model(
        "stabilityai/sdxl-turbo",
        parameters={"BF16": 2_600_000_000, "F32": 1_000},
        files={"unet/diffusion_pytorch_model.safetensors": 5_135_000_000, "model_index.json": 685},
        config={"architectures": ["UNet2DConditionModel"]},
    )
    info = HfApi(endpoint=hub.base_url, token=False).model_info(
        "stabilityai/sdxl-turbo", files_metadata=True, timeout=2
    )
    assert info.safetensors is not None and info.safetensors.parameters == {"BF16": 2_600_000_000, "F32": 1_000}
    assert info.safetensors.total == 2_600_001_000
    assert {s.rfilename: s.size for s in info.siblings or []} == {
        "unet/diffusion_pytorch_model.safetensors": 5_135_000_000,
        "model_index.json": 685,
    }
    assert (info.library_name, info.pipeline_tag, info.gated, info.private) == (
        "diffusers",
        "text-to-image",
        False,
        False,
    )
    assert info.config == {"architectures": ["UNet2DConditionModel"]} and info.sha and info.last_modified
    assert hub.requests[-1].query == {"blobs": "true"}


def test_hub_typed_errors(hub: FakeHub) -> None:
    hub.add_model("meta-llama/Llama-3.1-8B", gated="manual", tokens_with_access={"hf_granted"})
    hub.add_model("acme/secret", private=True, tokens_with_access={"hf_granted"})
    anonymous = HfApi(endpoint=hub.base_url, token=False)
    granted = HfApi(endpoint=hub.base_url, token="hf_granted")

    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info("nobody/nothing")
    assert anonymous.model_info("meta-llama/Llama-3.1-8B").gated == "manual"  # metadata of gated repos is public
    with pytest.raises(GatedRepoError):
        anonymous.auth_check("meta-llama/Llama-3.1-8B")
    with pytest.raises(GatedRepoError):
        HfApi(endpoint=hub.base_url, token="hf_other").auth_check("meta-llama/Llama-3.1-8B")
    granted.auth_check("meta-llama/Llama-3.1-8B")
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info("acme/secret")
    assert granted.model_info("acme/secret").private is True
    with pytest.raises(RevisionNotFoundError):
        granted.model_info("acme/secret", revision="v9")


def test_hub_faults(hub: FakeHub) -> None:
    hub.add_model("acme/tiny")
    api = HfApi(endpoint=hub.base_url, token=False)
    hub.down = True
    with pytest.raises(HfHubHTTPError) as down:
        api.model_info("acme/tiny")
    assert down.value.response.status_code == 503 and not isinstance(down.value, RepositoryNotFoundError)
    hub.down = False

    hub.fail_next("reset")
    with pytest.raises(httpx2.TransportError):  # huggingface_hub's own httpx fork
        api.model_info("acme/tiny")
    hub.fail_next("status", status=502)
    with pytest.raises(HfHubHTTPError):
        api.model_info("acme/tiny")
    assert api.model_info("acme/tiny").id == "acme/tiny"
    assert hub.fault_counts == Counter({"reset": 1, "status": 1})

    def statuses() -> list[int]:
        with httpx.Client(base_url=hub.base_url) as client:
            return [client.get("/api/models/acme/tiny").status_code for _ in range(12)]

    hub.faults = HubFaultPlan(error_rate=0.5, seed=3)
    first = statuses()
    hub.faults = HubFaultPlan(error_rate=0.5, seed=3)
    assert statuses() == first and set(first) == {200, 503}
    hub.faults = HubFaultPlan()

    hub.valid_tokens = {"hf_good"}
    with pytest.raises(HfHubHTTPError) as bad_token:
        HfApi(endpoint=hub.base_url, token="hf_typo").model_info("acme/tiny")
    assert bad_token.value.response.status_code == 401 and not isinstance(bad_token.value, RepositoryNotFoundError)


def test_hub_serves_downloads(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_file("acme/tiny", "model_index.json", b'{"_class_name": "Tiny"}')
    hub.add_file("acme/tiny", "unet/weights.safetensors", bytes(range(256)) * 8)
    folder = Path(snapshot_download("acme/tiny", endpoint=hub.base_url, cache_dir=tmp_path / "snap", token=False))
    assert (folder / "model_index.json").read_bytes() == b'{"_class_name": "Tiny"}'
    assert (folder / "unet" / "weights.safetensors").read_bytes() == bytes(range(256)) * 8

    one = hf_hub_download(
        "acme/tiny", "model_index.json", endpoint=hub.base_url, cache_dir=tmp_path / "one", token=False
    )
    assert Path(one).read_bytes() == b'{"_class_name": "Tiny"}'
    assert hub.requests_to("HEAD", "/acme/tiny/resolve/")


# ---- webhooks and the base server ----


def test_webhook_receiver_records_and_answers_scripted_statuses() -> None:
    with WebhookReceiver(responses=[500, RESET]) as hooks, httpx.Client(timeout=2) as client:
        assert client.post(hooks.url(), json={"event": "deployment.ready", "n": 1}).status_code == 500
        with pytest.raises(httpx.TransportError):
            client.post(hooks.url(), json={"event": "deployment.ready", "n": 2})
        assert client.post(hooks.url("/other"), json={"event": "deployment.failed"}).status_code == 200
        assert client.get(hooks.url()).status_code == 405

        assert hooks.events() == ["deployment.ready", "deployment.ready", "deployment.failed"]
        assert [r.json["n"] for r in hooks.by_event("deployment.ready")] == [1, 2]
        assert hooks.wait_for(lambda r: r.path == "/other").json == {"event": "deployment.failed"}
        with pytest.raises(AssertionError, match="no matching webhook"):
            hooks.wait_for_event("deployment.deleted", timeout=0.1)


def test_base_server_restarts_on_the_same_port_and_reports_crashes() -> None:
    class Crashy(FakeServer):
        def handle(self, method: str, path: str, query: dict, headers: dict, body: Any) -> Response:
            if path == "/boom":
                raise RuntimeError("boom")
            return Response(200, {"path": path, "query": query, "raw": isinstance(body, bytes)})

    with Crashy() as fake:
        url = fake.base_url
        assert httpx.post(f"{url}/x?a=1", content=b"raw").json() == {"path": "/x", "query": {"a": "1"}, "raw": True}
        assert httpx.get(f"{url}/boom").status_code == 500 and "RuntimeError" in fake.errors[0]
        fake.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/x")
        fake.start()
        assert fake.base_url == url and httpx.get(f"{url}/x").status_code == 200
