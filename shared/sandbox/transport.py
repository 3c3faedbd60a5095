"""The simulated Runpod as an `httpx` transport: the product's Runpod clients send their requests here
instead of over the network, so their error mapping, the engine and the proxy run unchanged.

Routes by path: `/v2/serverless...` and `/v2/catalog/gpus` are the management API, any other `/v2/{id}/...`
the runtime of endpoint {id}. Only the `sandbox` key is accepted.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from shared.sandbox import management, openai, runtime, state
from shared.sandbox.answers import Answer, not_found, problem
from shared.sandbox.keys import SANDBOX_KEY
from shared.sandbox.world import World

JOB_OPS = ("status", "stream", "cancel")


class SandboxTransport(httpx.BaseTransport):
    def __init__(self, world: World) -> None:
        self.world = world

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if request.headers.get("Authorization") != f"Bearer {SANDBOX_KEY}":
            return _response(problem(401, "the sandbox takes the API key `sandbox` only"))
        try:
            body: Any = json.loads(request.content) if request.content else None
        except ValueError:
            return _response(problem(400, "the body is not JSON"))
        parts = [p for p in request.url.path.split("/") if p]
        return _response(route(self.world, request.method, parts, body, dict(request.url.params)))


def route(world: World, method: str, parts: list[str], body: Any, query: dict[str, str] | None = None) -> Answer:
    if len(parts) < 2 or parts[0] != "v2":
        return not_found("route")
    if parts[1] == "serverless":
        return _management(world, method, parts[2:], body)
    if parts[1:] == ["catalog", "gpus"] and method == "GET":
        return management.gpus(world, query or {})
    ep = state.endpoint(world, parts[1])
    if ep is None:
        return not_found(f"endpoint {parts[1]}")
    op, rest = (parts[2] if len(parts) > 2 else ""), parts[3:]
    if op == "health" and not rest and method == "GET":
        return runtime.health(world, ep)
    if op in ("run", "runsync") and not rest and method == "POST":
        return runtime.run(world, ep, body, sync=op == "runsync")
    if op == "purge-queue" and not rest and method == "POST":
        return runtime.purge_queue(world, ep)
    if op in JOB_OPS and len(rest) == 1 and method == ("POST" if op == "cancel" else "GET"):
        return runtime.job_call(world, ep, op, rest[0])
    if op == "openai" and rest[:1] == ["v1"] and len(rest) > 1:
        return openai.call(str(ep.get("model_id") or ""), "/".join(rest[1:]), body)
    return problem(404 if op not in ("health", "run", "runsync", "purge-queue", *JOB_OPS) else 405, "no such route")


def _management(world: World, method: str, rest: list[str], body: Any) -> Answer:
    if not rest:
        if method == "GET":
            return management.list_all(world)
        if method == "POST":
            return management.create(world, body if isinstance(body, dict) else {})
        return problem(405, "method not allowed")
    endpoint_id = rest[0]
    if len(rest) == 1:
        if method == "GET":
            return management.get(world, endpoint_id)
        if method == "PATCH":
            return management.update(world, endpoint_id, body if isinstance(body, dict) else {})
        if method == "DELETE":
            return management.delete(world, endpoint_id)
        return problem(405, "method not allowed")
    if rest[1:] == ["workers"] and method == "GET":
        return management.workers(world, endpoint_id)
    if len(rest) == 4 and rest[1] == "workers" and rest[3] == "logs" and method == "GET":
        return management.worker_logs(world, endpoint_id)
    return not_found("route")


def _response(answer: Answer) -> httpx.Response:
    headers = dict(answer.headers)
    if answer.events is not None:
        return httpx.Response(answer.status, headers=headers, content=iter(answer.events))
    if answer.body is None:
        return httpx.Response(answer.status, headers=headers)
    headers.setdefault("Content-Type", "application/json")
    return httpx.Response(answer.status, headers=headers, content=json.dumps(answer.body).encode())


def sandbox_client(world: World, timeout: float) -> httpx.Client:
    """An httpx client whose every request goes to the simulated Runpod of `world`'s tenant."""
    return httpx.Client(transport=SandboxTransport(world), timeout=timeout)
