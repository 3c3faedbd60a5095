"""Every API operation the SDK uses, as a `Call` (method, path, body): the one place that knows the URLs.

Both clients send these; nothing here does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from dorch._http import Call

DEPLOYMENTS = "/v1/deployments"
RUNSYNC_MAX_MS = 120_000
RUNSYNC_MIN_MS = 1_000


def _dep(deployment_id: str, suffix: str = "") -> str:
    return f"{DEPLOYMENTS}/{deployment_id}{suffix}"


def create(
    model: str,
    *,
    gpu: str = "auto",
    webhook_url: str | None = None,
    name: str | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
    env: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
    runpod_key: str | None = None,
    credential_id: str | None = None,
    provider: str | None = None,
    hf_token: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Call:
    """POST /v1/deployments. A model with a "/" is a Hugging Face id, otherwise a registry name; only the
    fields given are sent, so the API's defaults (and its default credential) apply to the rest."""
    body: dict[str, Any] = {"hf_model_id": model} if "/" in model else {"model_name": model, "provider": provider}
    body.update(
        gpu_tier=gpu,
        user_webhook_url=webhook_url,
        deployment_name=name,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        env=dict(env) if env else None,
        user_runpod_key=runpod_key,
        credential_id=credential_id,
        user_hf_token=hf_token,
    )
    body.update(extra or {})
    key = idempotency_key or f"dorch-{uuid.uuid4()}"
    payload = {k: v for k, v in body.items() if v is not None}
    return Call("POST", DEPLOYMENTS, json=payload, headers={"Idempotency-Key": key}, replayable=True)


def get(deployment_id: str) -> Call:
    return Call("GET", _dep(deployment_id))


def page(status: str | None, model: str | None, cursor: str | None, limit: int) -> Call:
    return Call("GET", DEPLOYMENTS, params={"status": status, "model_id": model, "cursor": cursor, "limit": limit})


def delete(deployment_id: str) -> Call:
    return Call("DELETE", _dep(deployment_id))


def scale(deployment_id: str, min_replicas: int, max_replicas: int) -> Call:
    return Call(
        "POST", _dep(deployment_id, "/scale"), json={"min_replicas": min_replicas, "max_replicas": max_replicas}
    )


def pause(deployment_id: str) -> Call:
    return Call("POST", _dep(deployment_id, "/stop"))


def resume(deployment_id: str) -> Call:
    return Call("POST", _dep(deployment_id, "/start"))


def health(deployment_id: str) -> Call:
    return Call("GET", _dep(deployment_id, "/health"))


def logs(deployment_id: str, tail: int | None, since: str | None = None) -> Call:
    return Call("GET", _dep(deployment_id, "/logs"), params={"tail": tail, "since": since})


def log_stream(deployment_id: str, last_event_id: str | None, follow: bool) -> Call:
    """The SSE stream: `log`, `status` and `done` events; Last-Event-ID resumes after the last one seen."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    return Call("GET", _dep(deployment_id, "/logs/stream"), params={"follow": follow or None}, headers=headers)


def webhook_deliveries(deployment_id: str) -> Call:
    return Call("GET", _dep(deployment_id, "/webhook-deliveries"))


def run(deployment_id: str, job_input: Any) -> Call:
    return Call("POST", _dep(deployment_id, "/run"), json={"input": job_input})


def run_sync(deployment_id: str, job_input: Any, timeout: float) -> Call:
    """POST .../runsync?wait=: the API holds the call up to `wait` ms (1 s to 120 s); the HTTP timeout
    leaves room for the answer to come back after that."""
    wait_ms = int(min(max(timeout * 1000, RUNSYNC_MIN_MS), RUNSYNC_MAX_MS))
    return Call(
        "POST", _dep(deployment_id, "/runsync"), params={"wait": wait_ms}, json={"input": job_input},
        timeout=wait_ms / 1000 + 15,
    )  # fmt: skip


def job(deployment_id: str, job_id: str) -> Call:
    return Call("GET", _dep(deployment_id, f"/jobs/{job_id}"))


def cancel_job(deployment_id: str, job_id: str) -> Call:
    return Call("POST", _dep(deployment_id, f"/jobs/{job_id}/cancel"))


def models() -> Call:
    return Call("GET", "/v1/models")


def chat(model: str, messages: list[dict[str, Any]], stream: bool, params: Mapping[str, Any]) -> Call:
    body = {**params, "model": model, "messages": messages, "stream": stream}
    return Call("POST", "/v1/chat/completions", json=body, timeout=300.0)


def credential_add(api_key: str, name: str | None, default: bool) -> Call:
    body: dict[str, Any] = {"api_key": api_key, "is_default": default}
    if name:
        body["name"] = name
    return Call("POST", "/v1/credentials", json=body)


def credential_list() -> Call:
    return Call("GET", "/v1/credentials")


def credential_get(credential_id: str) -> Call:
    return Call("GET", f"/v1/credentials/{credential_id}")


def credential_delete(credential_id: str) -> Call:
    return Call("DELETE", f"/v1/credentials/{credential_id}")


def credential_default(credential_id: str) -> Call:
    return Call("POST", f"/v1/credentials/{credential_id}/default")


def credential_validate(credential_id: str) -> Call:
    return Call("POST", f"/v1/credentials/{credential_id}/validate")


def credential_replace(credential_id: str, api_key: str) -> Call:
    return Call("PUT", f"/v1/credentials/{credential_id}", json={"api_key": api_key})


def update(deployment_id: str, changes: Mapping[str, Any]) -> Call:
    """PATCH /v1/deployments/{id}: replica bounds and idle timeout apply in place, the rest goes green."""
    body = {k: v for k, v in changes.items() if v is not None}
    return Call("PATCH", _dep(deployment_id), json=body)


def rollback(deployment_id: str) -> Call:
    return Call("POST", _dep(deployment_id, "/rollback"))


def tasks(deployment_id: str) -> Call:
    return Call("GET", _dep(deployment_id, "/tasks"))


def task(task_id: str) -> Call:
    return Call("GET", f"/v1/tasks/{task_id}")


def usage(start: str | None, end: str | None, group_by: str | None) -> Call:
    return Call("GET", "/v1/usage", params={"from": start, "to": end, "group_by": group_by})
