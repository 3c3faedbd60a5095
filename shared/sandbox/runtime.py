"""The simulated serverless runtime (`/v2/{endpoint}/health|run|runsync|status|stream|cancel|purge-queue`).

A job is stored with its (deterministic) output when it is queued; its status is a function of time:
queued until a worker is ready, running for a moment, then completed. Never ready (no capacity, a
crash loop): queued for ever, as at Runpod.
"""

from __future__ import annotations

from typing import Any

from shared.platform.clock import iso, parse
from shared.sandbox import management, openai, outputs, state
from shared.sandbox.answers import Answer, not_found, ok, problem
from shared.sandbox.phases import job_stage
from shared.sandbox.world import World
from shared.store.base import Doc

RUN_SECONDS = 0.2  # one simulated job's execution, times SANDBOX_TIME_SCALE
SERVING_SCENARIOS = ("ok", "slow_start")


def health(world: World, ep: Doc) -> Answer:
    jobs = {"completed": 0, "failed": 0, "inProgress": 0, "inQueue": 0, "retried": 0}
    for job in state.jobs_of(world, str(ep["id"])):
        status = status_of(world, ep, job)
        key = {"COMPLETED": "completed", "IN_PROGRESS": "inProgress", "IN_QUEUE": "inQueue"}.get(status)
        if key:
            jobs[key] += 1
    return ok({"jobs": jobs, "workers": management.counts_of(world, ep)})


def run(world: World, ep: Doc, body: Any, sync: bool) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        return problem(400, "the body must be an object with an 'input' object")
    now = world.now()
    line = state.line_of(world, ep)
    ready_in = line.ready_after - state.age(world, ep, now) if ep.get("scenario") in SERVING_SCENARIOS else None
    job: Doc = {
        "id": state.new_id("sbxjob-", 16),
        "tenant_id": world.tenant_id,
        "endpoint_id": ep["id"],
        "created_at": iso(now),
        "ready_in": ready_in,
        "output": output_for(ep, body["input"]),
        "cancelled": False,
    }
    world.store.create(state.JOBS, job["id"], job)
    world.store.update(state.ENDPOINTS, str(ep["id"]), lambda d: {**d, "last_job_at": iso(now)} if d else None)
    if sync and ready_in is not None and ready_in <= 0:
        return ok(view(job, "COMPLETED", world))
    return ok(view(job, status_of(world, ep, job), world))


def output_for(ep: Doc, job_input: dict[str, Any]) -> Any:
    model = str(ep.get("model_id") or "")
    if ep.get("kind") == "vllm":
        route = job_input.get("openai_route")
        if isinstance(route, str) and isinstance(job_input.get("openai_input"), dict):
            return openai.answer_for(model, route.removeprefix("/v1/"), job_input["openai_input"])
        return outputs.vllm_job(model, job_input)
    env = ep.get("env") or {}
    task = str(env.get("MODEL_TASK") or "")
    if env.get("MODEL_LIBRARY") == "diffusers" or task == "text-to-image":
        return outputs.image_job(model, job_input)
    return outputs.transformers_job(model, task, job_input)


def status_of(world: World, ep: Doc, job: Doc) -> str:
    if job.get("cancelled"):
        return "CANCELLED"
    queued_for = (world.now() - parse(str(job["created_at"]))).total_seconds()
    ready_in = job.get("ready_in")
    return job_stage(queued_for, ready_in, RUN_SECONDS * world.settings.sandbox_time_scale)


def view(job: Doc, status: str, world: World) -> Doc:
    body: Doc = {"id": job["id"], "status": status}
    if status == "COMPLETED":
        run_ms = int(RUN_SECONDS * world.settings.sandbox_time_scale * 1000)
        body.update(output=job["output"], delayTime=0, executionTime=run_ms)
    return body


def job_call(world: World, ep: Doc, op: str, job_id: str) -> Answer:
    job = state.job(world, job_id)
    if job is None or job.get("endpoint_id") != ep["id"]:
        return not_found(f"job {job_id}")
    if op == "cancel":
        if status_of(world, ep, job) in ("IN_QUEUE", "IN_PROGRESS"):
            world.store.update(state.JOBS, job_id, lambda d: {**d, "cancelled": True} if d else None)
            return ok({"id": job_id, "status": "CANCELLED"})
        return ok({"id": job_id, "status": status_of(world, ep, job)})
    status = status_of(world, ep, job)
    if op == "stream":
        chunks = [{"output": job["output"]}] if status == "COMPLETED" else []
        return ok({"id": job_id, "status": status, "stream": chunks})
    return ok(view(job, status, world))


def purge_queue(world: World, ep: Doc) -> Answer:
    removed = 0
    for job in state.jobs_of(world, str(ep["id"])):
        if status_of(world, ep, job) == "IN_QUEUE":
            world.store.update(state.JOBS, str(job["id"]), lambda d: {**d, "cancelled": True} if d else None)
            removed += 1
    return ok({"removed": removed, "status": "completed"})
