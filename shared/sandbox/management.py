"""The simulated REST v2 management API: endpoints, their workers and logs, the GPU catalog.

Shapes follow Runpod's OpenAPI document (runpod-openapi-v2.json). A new endpoint of our inference
container starts its simulated worker's reports (worker_ticks); the vLLM worker sends none, as in reality.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.platform.clock import iso
from shared.sandbox import state, worker_ticks
from shared.sandbox.answers import Answer, not_found, ok, problem, sse
from shared.sandbox.keys import SCENARIO_ENV, SCENARIOS
from shared.sandbox.phases import worker_counts
from shared.sandbox.world import World
from shared.store.base import Doc

GPU_POOLS = Path(__file__).resolve().parent.parent / "catalog" / "data" / "gpu_pools.json"
SECRET_ENV = ("ORCHESTRATOR_CALLBACK_SECRET", "HF_TOKEN")  # kept encrypted, never shown back


def create(world: World, body: dict[str, Any]) -> Answer:
    if not isinstance(body.get("name"), str) or not body.get("name"):
        return problem(400, "name is required")
    env = {str(k): str(v) for k, v in (body.get("env") or {}).items()}
    scenario = env.get(SCENARIO_ENV, "ok")
    endpoint_id = state.new_id("sbx")
    run = f"{world.settings.runpod_runtime_base.rstrip('/')}/v2/{endpoint_id}"
    doc: Doc = {
        "id": endpoint_id,
        "tenant_id": world.tenant_id,
        "name": body["name"],
        "type": body.get("type", "QUEUE"),
        "image": str(body.get("image") or ""),
        "env": {k: v for k, v in env.items() if k not in SECRET_ENV},
        "secrets": {k: world.cipher.encrypt(env[k], context=endpoint_id) for k in SECRET_ENV if k in env},
        "disk": int(body.get("disk") or 20),
        "gpu": body.get("gpu") or {},
        "workers": {"min": 0, "max": 3, "idleTimeout": 5, **(body.get("workers") or {})},
        "scaling": body.get("scaling") or {"type": "QUEUE_DELAY", "queueDelay": 4},
        "dataCenterIds": body.get("dataCenterIds") or [],
        "flashboot": body.get("flashboot", "OFF"),
        "timeout": body.get("timeout", 300000),
        "requestUrls": {"run": f"{run}/run", "runSync": f"{run}/runsync", "health": f"{run}/health"},
        "createdAt": iso(world.now()),
        "scenario": scenario if scenario in SCENARIOS else "ok",
        "model_id": env.get("HF_MODEL_ID") or env.get("MODEL_NAME") or "",
        "kind": "vllm" if body.get("image") == world.settings.vllm_worker_image else "inference-container",
    }
    if world.tenant_id is None:
        return problem(401, "this sandbox client has no account")
    doc["reports"] = doc["kind"] == "inference-container" and bool(env.get("ORCHESTRATOR_CALLBACK_URL"))
    world.store.create(state.ENDPOINTS, endpoint_id, doc)
    if doc["reports"]:
        worker_ticks.start(world, endpoint_id)
    return ok(public(doc), 201)


def public(doc: Doc) -> Doc:
    """The endpoint as Runpod shows it (without the simulation's own fields)."""
    hidden = ("tenant_id", "secrets", "scenario", "model_id", "kind", "last_job_at")
    return {k: v for k, v in doc.items() if k not in hidden}


def list_all(world: World) -> Answer:
    return ok({"endpoints": [public(d) for d in state.endpoints(world)]})


def get(world: World, endpoint_id: str) -> Answer:
    doc = state.endpoint(world, endpoint_id)
    return ok(public(doc)) if doc else not_found(f"endpoint {endpoint_id}")


def update(world: World, endpoint_id: str, body: dict[str, Any]) -> Answer:
    if state.endpoint(world, endpoint_id) is None:
        return not_found(f"endpoint {endpoint_id}")

    def change(doc: Doc | None) -> Doc | None:
        if doc is None:
            return None
        workers = {**doc["workers"], **(body.get("workers") or {})}
        kept = {k: v for k, v in body.items() if k in ("name", "gpu", "scaling", "dataCenterIds", "flashboot")}
        return {**doc, **kept, "workers": workers}

    after, _ = world.store.update(state.ENDPOINTS, endpoint_id, change)
    if after is None:
        return not_found(f"endpoint {endpoint_id}")
    if int(after["workers"]["min"]) > int(after["workers"]["max"]):
        return problem(400, "workers.min exceeds workers.max")
    return ok(public(after))


def delete(world: World, endpoint_id: str) -> Answer:
    if state.endpoint(world, endpoint_id) is None:
        return not_found(f"endpoint {endpoint_id}")
    for job in state.jobs_of(world, endpoint_id):
        world.store.delete(state.JOBS, str(job["id"]))
    world.store.delete(state.ENDPOINTS, endpoint_id)
    return Answer(204)


def workers(world: World, endpoint_id: str) -> Answer:
    doc = state.endpoint(world, endpoint_id)
    if doc is None:
        return not_found(f"endpoint {endpoint_id}")
    counts = counts_of(world, doc)
    listed: list[Doc] = []
    for status in ("idle", "initializing", "throttled", "unhealthy"):
        for _ in range(counts[status]):
            listed.append(
                {
                    "id": f"{endpoint_id}-w{len(listed)}",
                    "status": status.upper(),
                    "isStale": False,
                    "gpuCount": int((doc.get("gpu") or {}).get("count") or 1),
                    "image": doc["image"],
                    "dataCenterId": "SANDBOX",
                    "startedAt": doc["createdAt"],
                }
            )
    summary = {k: counts[k] for k in ("running", "idle", "initializing", "throttled", "unhealthy")}
    return ok({"workers": listed, "summary": {**summary, "total": len(listed)}, "endpointVersion": 1})


def counts_of(world: World, doc: Doc) -> dict[str, int]:
    w = doc.get("workers") or {}
    return worker_counts(
        state.phase(world, doc), int(w.get("min") or 0), int(w.get("max") or 0), state.active(world, doc)
    )


def worker_logs(world: World, endpoint_id: str) -> Answer:
    doc = state.endpoint(world, endpoint_id)
    if doc is None:
        return not_found(f"endpoint {endpoint_id}")
    stage = state.phase(world, doc).stage
    lines = [f"[sandbox] worker started for {doc['model_id']}", f"[sandbox] stage: {stage.replace('_', ' ')}"]
    if stage == "crashed":
        lines.append("[sandbox] RuntimeError: CUDA error: an illegal memory access was encountered (simulated)")
    at = doc["createdAt"]
    return sse([{"ts": at, "source": "container", "line": line} for line in lines])


SANDBOX_DATA_CENTERS = ("US-KS-2", "US-CA-2", "EU-RO-1", "EU-SE-1")
SANDBOX_CUDA_VERSIONS = ("12.4", "12.8", "13.0")


def gpus(world: World, query: dict[str, str]) -> Answer:
    """The shipped pools as Runpod's catalog, priced 0: nothing in the sandbox costs money. With
    include=AVAILABILITY (and product, as Runpod requires), every pool is in stock, as Runpod shapes it."""
    stock = query.get("include") == "AVAILABILITY"
    if stock != ("product" in query):
        return problem(400, "product is required with include=AVAILABILITY, and valid only with it")
    pools = json.loads(GPU_POOLS.read_text())["pools"]
    listed = [
        {
            "id": f"{name} (sandbox)",
            "name": name,
            "pool": pool["id"],
            "memory": pool["vram_gb"],
            "price": {"serverless": 0.0},
            "maxCount": {"secure": pool.get("max_count") or 1},
            **(_stock(query.get("minCudaVersion")) if stock else {}),
        }
        for pool in pools
        for name in pool.get("gpus") or []
    ]
    return ok({"gpus": listed})


def _stock(min_cuda: str | None) -> dict[str, Any]:
    def number(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split(".") if part.isdigit())

    floor = number(min_cuda or "0")
    versions = [v for v in SANDBOX_CUDA_VERSIONS if number(v) >= floor]
    level = "HIGH" if versions else "NONE"
    listed: dict[str, Any] = {
        "availability": level,
        "cudaVersions": [{"version": v, "available": True} for v in versions],
    }
    if versions:
        listed["dataCenters"] = [{"id": dc, "name": dc, "availability": level} for dc in SANDBOX_DATA_CENTERS]
    return listed
