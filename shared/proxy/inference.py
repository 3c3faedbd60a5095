"""The inference proxy's domain: which deployment serves a request, and Runpod's runtime API behind it.

Callers use their API key only; the tenant's Runpod key is decrypted here for each upstream call.
Every upstream error becomes one of the product's errors ({"error": "<Name>Error", "message",
"details"}); a deployment that is not serving answers 409 at once instead of a request that hangs
in Runpod's queue.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from shared.accounts.credentials import deployment_key
from shared.clients.header_tokens import UnsafeToken, bearer
from shared.deploy.records import owned
from shared.deploy.states import SERVING
from shared.platform.crypto import CryptoError
from shared.platform.errors import (
    ApiError,
    BadGatewayError,
    BadRequestError,
    ConflictError,
    DeploymentNotFoundError,
    GatewayTimeoutError,
    InternalError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ValidationError,
)
from shared.platform.retry import parse_retry_after
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where

MAX_BODY_BYTES = 10 * 1024 * 1024  # Runpod's limit for /run payloads
RUNSYNC_DEFAULT_WAIT_MS = 60_000
RUNSYNC_MAX_WAIT_MS = 120_000  # the inference function's timeout must exceed this (plus HTTP_TIMEOUT_SECONDS)
MAX_DEPLOYMENTS_SCANNED = 500
PEEK_LIMIT = 64 * 1024
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
RUN_FIELDS = ("input", "webhook", "policy", "s3Config")
OWNED_BY = "deployment-orchestrator"


# ---- request and response bodies (for /openapi.json; handlers pass bodies through) -------------


class RunRequest(BaseModel):
    """A Runpod job: `input` goes to the worker as is."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(examples=[{"prompt": "a lighthouse at dawn", "num_inference_steps": 4}])
    webhook: str | None = Field(default=None, max_length=2048, description="Runpod calls it when the job ends")
    policy: dict[str, Any] | None = None
    s3Config: dict[str, Any] | None = None  # Runpod's field name


class JobResponse(BaseModel):
    """Runpod's job view, passed through: `output` when COMPLETED, `error` when FAILED."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: str = Field(examples=["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"])
    deployment_id: str
    output: Any = None
    error: Any = None


class OpenAIRequest(BaseModel):
    """An OpenAI chat/completions or completions body; `model` is a deployed HF model id or a deployment id."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(examples=["meta-llama/Llama-3.1-8B-Instruct"])
    stream: bool = False


class DeployableName(BaseModel):
    model_name: str
    provider: str | None = Field(description="null: any provider")
    task: str | None = None
    vram_required_gb: float | None = None


class ModelCard(BaseModel):
    """OpenAI's model object, plus whether it can be called now and the names that deploy it."""

    id: str
    object: str = "model"
    created: int
    owned_by: str = OWNED_BY
    ready: bool = Field(description="true: a ready deployment serves it; call it with `model` = id")
    deployment_id: str | None = None
    deployable_as: list[DeployableName] = Field(
        default_factory=list, description="model_name (+ provider) values of POST /v1/deployments for it"
    )


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


# ---- which deployment ---------------------------------------------------------------------------


def serving(svc: Services, owner: str, deployment_id: str) -> Deployment:
    """The caller's deployment, if it can take requests now; 409 naming its status otherwise."""
    dep = owned(svc, owner, deployment_id)
    if dep.status not in SERVING or not dep.runpod_endpoint_id:
        raise not_ready(dep)
    return dep


def with_jobs(svc: Services, owner: str, deployment_id: str) -> Deployment:
    """For reading or cancelling jobs: the endpoint must still exist (serving, or paused)."""
    dep = owned(svc, owner, deployment_id)
    if (dep.status in SERVING or str(dep.status) == "paused") and dep.runpod_endpoint_id:
        return dep
    raise not_ready(dep)


def not_ready(dep: Deployment) -> ConflictError:
    status = str(dep.status)
    details: dict[str, Any] = {"deployment_id": dep.deployment_id, "status": status}
    if status == "paused":
        message = f"Deployment {dep.deployment_id} is paused: POST /v1/deployments/{dep.deployment_id}/start to resume"
    elif status == "failed":
        code = dep.error.code if dep.error else "unknown"
        details["error_code"] = code
        message = f"Deployment {dep.deployment_id} is failed ({code}): it cannot serve requests"
    elif status in ("deleting", "cleanup_failed", "deleted"):
        message = f"Deployment {dep.deployment_id} is {status}: it cannot serve requests"
    else:
        message = f"Deployment {dep.deployment_id} is {status}, not ready yet: retry once its status is ready"
    return ConflictError(message, details)


def deployments_of(svc: Services, owner: str, *where: Where, limit: int = MAX_DEPLOYMENTS_SCANNED) -> list[Deployment]:
    """The caller's deployments matching `where`, newest first (an index on owner, ..., created_at desc)."""
    query = Query(
        "deployments",
        where=(Where("owner", "==", owner), *where),
        order_by=(("created_at", "desc"),),
        limit=limit,
    )
    out = []
    for _, doc in svc.store.query(query):
        try:
            out.append(Deployment.model_validate(doc))
        except ValueError:
            continue  # a record this version cannot read is not routable
    return out


def route_model(svc: Services, owner: str, model: str) -> Deployment:
    """The caller's most recent serving vLLM deployment of `model` (an HF id, or a deployment id)."""
    if not model:
        raise ValidationError("model is required", {"field": "model"})
    matches = deployments_of(svc, owner, Where("model_id", "==", model), limit=50)
    if not matches and model.startswith("dep_"):
        try:
            matches = [owned(svc, owner, model)]
        except DeploymentNotFoundError:
            matches = []
    ready = [d for d in matches if d.status in SERVING and d.runpod_endpoint_id]
    if not ready:
        if matches:
            raise not_ready(matches[0])
        raise NotFoundError(
            f"No deployment of model {model}: deploy it with POST /v1/deployments, or see GET /v1/models",
            {"model": model},
        )
    llm = [d for d in ready if d.worker.get("kind", "vllm") == "vllm"]
    if not llm:
        dep = ready[0]
        raise BadRequestError(
            f"{model} is served by the inference container, not an OpenAI-compatible server: "
            f"use POST /v1/deployments/{dep.deployment_id}/runsync",
            {"model": model, "deployment_id": dep.deployment_id},
        )
    return llm[0]


def list_models(svc: Services, owner: str) -> ModelList:
    """Served models first (one per model: the newest deployment, which `model` routes to), then the
    registry's models that can be deployed by name."""
    from shared.catalog import model_registry

    serving_now = [d for status in SERVING for d in deployments_of(svc, owner, Where("status", "==", str(status)))]
    serving_now.sort(key=lambda d: d.created_at, reverse=True)
    cards: dict[str, ModelCard] = {}
    for dep in serving_now:
        if dep.runpod_endpoint_id and dep.model_id not in cards:
            since = dep.ready_at or dep.created_at
            cards[dep.model_id] = ModelCard(
                id=dep.model_id, created=int(since.timestamp()), ready=True, deployment_id=dep.deployment_id
            )
    for entry in model_registry.entries(svc):
        card = cards.get(entry.hf_model_id)
        if card is None:
            created = int(entry.created_at.timestamp()) if entry.created_at else 0
            card = cards[entry.hf_model_id] = ModelCard(id=entry.hf_model_id, created=created, ready=False)
        provider = None if entry.provider == model_registry.ANY else entry.provider
        card.deployable_as.append(
            DeployableName(
                model_name=entry.name, provider=provider, task=entry.task, vram_required_gb=entry.vram_required_gb
            )
        )
    return ModelList(data=list(cards.values()))


# ---- Runpod's runtime API -----------------------------------------------------------------------


def run_body(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - set(RUN_FIELDS))
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(unknown)}; a job takes {', '.join(RUN_FIELDS)}",
            {"fields": unknown},
        )
    if not isinstance(body.get("input"), dict):
        raise ValidationError("input is required: the job's input object", {"field": "input"})
    return {k: body[k] for k in RUN_FIELDS if body.get(k) is not None}


def runsync_wait_ms(raw: str | None) -> int:
    if raw is None or raw == "":
        return RUNSYNC_DEFAULT_WAIT_MS
    try:
        wait = int(raw)
    except ValueError:
        raise ValidationError("wait must be an integer number of milliseconds", {"field": "wait"}) from None
    return max(1000, min(RUNSYNC_MAX_WAIT_MS, wait))


def check_job_id(job_id: str) -> str:
    if not JOB_ID.match(job_id):
        raise NotFoundError(f"Job {job_id[:140]} not found", {"job_id": job_id[:140]})
    return job_id


@dataclass
class Stream:
    """An upstream SSE response whose first event was checked; iterate it once, it closes itself."""

    chunks: Iterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)


class Runtime:
    """Runpod's serverless runtime API for one deployment's endpoint, with the tenant's key."""

    def __init__(self, svc: Services, dep: Deployment) -> None:
        try:
            key = deployment_key(svc, dep)
        except CryptoError:
            raise InternalError("The deployment's stored Runpod key cannot be decrypted") from None
        s = svc.settings
        self.dep = dep
        self.base = f"{s.runpod_runtime_base.rstrip('/')}/v2/{dep.runpod_endpoint_id}"
        try:
            self.headers = bearer(key)
        except UnsafeToken:
            raise ConflictError(
                "The deployment's Runpod key holds characters no HTTP header can carry; give it a new one "
                f"(POST /v1/deployments/{dep.deployment_id}/credential)",
                {"deployment_id": dep.deployment_id},
            ) from None
        self.timeout = s.http_timeout_seconds
        self.inference_timeout = s.inference_timeout_seconds

    # ---- jobs ----

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._job(self._json("POST", "run", json=body))

    def runsync(self, body: dict[str, Any], wait_ms: int) -> dict[str, Any]:
        # Runpod holds the call up to `wait`; ours lasts that long plus the usual allowance.
        timeout = wait_ms / 1000 + self.timeout
        return self._job(self._json("POST", "runsync", json=body, params={"wait": wait_ms}, timeout=timeout))

    def status(self, job_id: str) -> dict[str, Any]:
        return self._job(self._json("GET", f"status/{check_job_id(job_id)}", job=job_id))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._job(self._json("POST", f"cancel/{check_job_id(job_id)}", job=job_id))

    # ---- OpenAI-compatible (vLLM worker) ----

    def openai(self, path: str, body: dict[str, Any]) -> Any:
        data = self._json("POST", f"openai/v1/{path}", json=body, timeout=self.inference_timeout)
        return openai_result(data, self.dep)

    def openai_stream(self, path: str, body: dict[str, Any]) -> Stream | Any:
        """A Stream, or the decoded body when the upstream answered with plain JSON instead of SSE."""
        timeout = httpx.Timeout(self.timeout, read=self.inference_timeout)
        client = httpx.Client(timeout=timeout)
        try:
            request = client.build_request("POST", self._url(f"openai/v1/{path}"), json=body, headers=self.headers)
            resp = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            client.close()
            raise self._transport_error(exc) from None
        content_type = resp.headers.get("content-type", "")
        if not resp.is_success or "text/event-stream" not in content_type:
            try:
                resp.read()
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from None
            finally:
                resp.close()
                client.close()
            if not resp.is_success:
                raise upstream_error(resp, self.dep)
            return openai_result(_decode(resp), self.dep)
        chunks = resp.iter_bytes()
        try:
            head = _peek_first_event(chunks)
            error = _stream_error(head, self.dep)
        except httpx.HTTPError as exc:
            resp.close()
            client.close()
            raise self._transport_error(exc) from None
        if error is not None:
            resp.close()
            client.close()
            raise error
        return Stream(_relay(head, chunks, resp, client))

    # ---- plumbing ----

    def _url(self, action: str) -> str:
        return f"{self.base}/{action}"

    def _json(
        self,
        method: str,
        action: str,
        *,
        job: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            resp = httpx.request(
                method, self._url(action), headers=self.headers, timeout=timeout or self.timeout, **kwargs
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if not resp.is_success:
            raise upstream_error(resp, self.dep, job)
        return _decode(resp)

    def _job(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or "id" not in data:
            raise BadGatewayError("Runpod answered with something that is not a job", self._details())
        return {**data, "deployment_id": self.dep.deployment_id}

    def _transport_error(self, exc: httpx.HTTPError) -> ApiError:
        if isinstance(exc, httpx.TimeoutException):
            return GatewayTimeoutError("Runpod did not answer in time", self._details())
        return BadGatewayError(f"Cannot reach Runpod ({type(exc).__name__})", self._details())

    def _details(self) -> dict[str, Any]:
        return {"deployment_id": self.dep.deployment_id}


def _decode(resp: httpx.Response) -> Any:
    if not resp.content:
        return {}
    try:
        return resp.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's json can follow
        raise BadGatewayError(
            "Runpod answered with a body that is not JSON", {"upstream_status": resp.status_code}
        ) from None


def upstream_error(resp: httpx.Response, dep: Deployment, job_id: str | None = None) -> ApiError:
    """Runpod's runtime errors as the product's errors."""
    status = resp.status_code
    detail = _detail(resp)
    details: dict[str, Any] = {"deployment_id": dep.deployment_id, "upstream_status": status}
    if detail:
        details["upstream_message"] = detail
    if status in (401, 403):
        return BadGatewayError(f"Runpod refused this deployment's stored API key ({status})", details)
    if status == 404:
        if job_id is not None:
            return NotFoundError(f"Job {job_id} not found", {**details, "job_id": job_id})
        return BadGatewayError("Runpod does not know this deployment's endpoint (404)", details)
    if status == 413:
        return PayloadTooLargeError("Runpod refused the request body as too large", details)
    if status == 429:
        wait = parse_retry_after(resp.headers.get("Retry-After"))  # passed on as whole seconds
        retry = str(math.ceil(wait)) if wait is not None else "1"
        return RateLimitError("Runpod's rate limit for this endpoint was reached", details, {"Retry-After": retry})
    if status in (408, 504):
        return GatewayTimeoutError(f"Runpod timed out ({status})", details)
    if status >= 500:
        return BadGatewayError(f"Runpod is unavailable ({status})", details)
    return BadRequestError(f"Runpod refused the request ({status}){': ' + detail if detail else ''}", details)


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except (ValueError, RecursionError):
        return resp.text[:300]
    if isinstance(body, dict):
        for key in ("detail", "error", "message", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:500]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"][:500]
    return json.dumps(body)[:300]


# ---- vLLM's errors inside HTTP 200 --------------------------------------------------------------

VLLM_STATUS = {
    400: BadRequestError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitError,
}


def openai_result(data: Any, dep: Deployment) -> Any:
    """The OpenAI body, or the error a worker returned with HTTP 200 raised as a proper one."""
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]  # a one-item output list: what a generator handler's aggregation looks like
    error = vllm_error(data, dep)
    if error is not None:
        raise error
    return data


def vllm_error(data: Any, dep: Deployment) -> ApiError | None:
    if not isinstance(data, dict):
        return None
    if data.get("status") == "FAILED":  # a Runpod job view: the handler itself failed
        return BadGatewayError(
            f"The vLLM worker failed: {_text(data.get('error'))}"[:1000], {"deployment_id": dep.deployment_id}
        )
    if data.get("object") == "error":
        err: Any = data
    elif "error" in data and "choices" not in data:
        err = data["error"]
    else:
        return None
    if isinstance(err, dict):
        message, kind, code = _text(err.get("message")), err.get("type"), err.get("code")
    else:
        message, kind, code = _text(err), None, None
    status = code if isinstance(code, int) else _int(code)
    details = {"deployment_id": dep.deployment_id, "upstream": "vllm", "type": kind, "code": code}
    cls = VLLM_STATUS.get(status or 0)
    if cls is None:
        return BadGatewayError(f"The vLLM worker failed: {message}"[:1000], details)
    return cls(f"vLLM: {message}"[:1000], details)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)[:1000] if value is not None else "unknown error"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ---- SSE relay ----------------------------------------------------------------------------------


def _peek_first_event(chunks: Iterator[bytes]) -> bytes:
    """Read until the first event that carries data is complete (or PEEK_LIMIT, or the end)."""
    head = b""
    for chunk in chunks:
        head += chunk
        if _first_data(head) is not None or len(head) >= PEEK_LIMIT:
            break
    return head


def _first_data(buffer: bytes) -> str | None:
    text = buffer.replace(b"\r\n", b"\n").decode("utf-8", errors="replace")
    for event in text.split("\n\n")[:-1]:  # complete events only
        lines = [line[5:].lstrip() for line in event.split("\n") if line.startswith("data:")]
        if lines:
            return "\n".join(lines)
    return None


def _stream_error(head: bytes, dep: Deployment) -> ApiError | None:
    data = _first_data(head)
    if data is None or data.strip() == "[DONE]":
        return None
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return vllm_error(parsed, dep)


def _relay(head: bytes, chunks: Iterator[bytes], resp: httpx.Response, client: httpx.Client) -> Iterator[bytes]:
    try:
        if head:
            yield head
        yield from chunks
    except httpx.HTTPError as exc:
        # Too late for a status code: end the stream with an error event the client can read.
        event = {"error": {"message": f"upstream stream broke ({type(exc).__name__})", "type": "BadGatewayError"}}
        yield f"data: {json.dumps(event)}\n\n".encode()
    finally:
        resp.close()
        client.close()
