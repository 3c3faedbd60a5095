"""The values the SDK returns. Each keeps the API's whole JSON object in `raw`, so fields this version
does not name yet are still there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Self, TypedDict, TypeVar


def parse_time(value: Any) -> datetime | None:
    """An API timestamp (ISO-8601, "Z" or an offset) as an aware datetime; None when absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class ClientOptions(TypedDict, total=False):
    """The keyword arguments of `Client()` and `AsyncClient()` after the URL and key (see `Client`)."""

    timeout: float | None
    max_retries: int
    max_retry_wait: float


class DeployOptions(TypedDict, total=False):
    """The keyword arguments of `deploy()` after the model (see `Client.deploy`)."""

    gpu: str
    webhook_url: str | None
    name: str | None
    min_replicas: int | None
    max_replicas: int | None
    env: dict[str, str] | None
    idempotency_key: str | None
    runpod_key: str | None
    credential_id: str | None
    provider: str | None
    hf_token: str | None
    extra: dict[str, Any] | None


class UpdateOptions(TypedDict, total=False):
    """The changes `Deployment.update()` accepts (any of them; see PATCH /v1/deployments/{id})."""

    hf_model_id: str
    revision: str
    gpu_tier: str
    gpu_count: int
    env: dict[str, str]
    idle_timeout_seconds: int
    data_center_ids: list[str]
    min_replicas: int
    max_replicas: int
    budget: dict[str, Any]


@dataclass(frozen=True)
class ErrorInfo:
    """Why a deployment failed: a stable `code`, a `message`, the `step` and whether a retry may help."""

    code: str
    message: str
    step: str | None = None
    retryable: bool = False

    @classmethod
    def from_json(cls, data: Any) -> ErrorInfo | None:
        if not isinstance(data, dict):
            return None
        return cls(
            str(data.get("code", "")), str(data.get("message", "")), data.get("step"), bool(data.get("retryable"))
        )


@dataclass(frozen=True)
class LogLine:
    """One line of a deployment's log."""

    timestamp: datetime | None
    level: str
    message: str
    id: str | None = None
    source: str = "orchestrator"
    phase: str | None = None
    progress: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogLine:
        return cls(
            timestamp=parse_time(data.get("timestamp")),
            level=str(data.get("level", "INFO")),
            message=str(data.get("message", "")),
            id=data.get("id"),
            source=str(data.get("source") or "orchestrator"),
            phase=data.get("phase"),
            progress=data.get("progress"),
            raw=data,
        )


@dataclass(frozen=True)
class Progress:
    """Where a deployment stands, given to `wait(on_progress=...)` on every status change and log line.

    `log` is the line that caused this call (None for a status change); `step` the step running now;
    `eta` the API's estimate of when it will be ready.
    """

    status: str
    phase: str | None
    progress: int | None
    message: str | None = None
    step: str | None = None
    eta: datetime | None = None
    log: LogLine | None = None


@dataclass(frozen=True)
class Record:
    """A value read from an API object: each field from the key of its name (or its `_keys` alias);
    `raw` keeps the whole object."""

    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, kw_only=True)
    _keys: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        names = [f.name for f in fields(cls) if f.name != "raw"]
        return cls(**{name: data.get(cls._keys.get(name, name)) for name in names}, raw=data)


@dataclass(frozen=True)
class Job(Record):
    """A job on a deployment's endpoint: `status` is Runpod's (IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, ...)."""

    id: str
    status: str
    deployment_id: str
    output: Any = None
    error: Any = None


@dataclass(frozen=True)
class Health(Record):
    """Aggregated endpoint health: `state` is Healthy, Progressing, Initializing, Degraded, Unhealthy,
    Unknown, SCALED_DOWN or Missing; `workers` counts them by state."""

    state: str
    messages: list[dict[str, Any]]
    workers: dict[str, int] | None
    _keys: ClassVar[dict[str, str]] = {"state": "data"}


@dataclass(frozen=True)
class WebhookDelivery(Record):
    """One webhook delivery of a deployment's event (`status`: pending, delivered, failed, superseded)."""

    delivery_id: str
    event: str
    status: str
    attempts: int
    url: str
    last_status_code: int | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Credential(Record):
    """A stored Runpod API key, shown masked (`is_valid`: None until checked)."""

    id: str
    name: str
    masked_key: str
    is_default: bool
    is_valid: bool | None
    provider: str = "runpod"


@dataclass(frozen=True)
class Model(Record):
    """A model you can call (`ready`: a ready deployment serves it) or deploy by a registry name."""

    id: str
    ready: bool
    deployment_id: str | None
    deployable_as: list[dict[str, Any]] | None


@dataclass(frozen=True)
class Task(Record):
    """A long operation on a deployment (`kind`: deploy, update, rollback, delete; `status`: pending,
    in_progress, completed, failed); `error` says why a failed one failed."""

    task_id: str
    kind: str
    status: str
    deployment_id: str
    model_id: str | None = None
    created_at: str | None = None
    completed_at: str | None = None
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")


@dataclass(frozen=True)
class UsageRow(Record):
    """Metered GPU-seconds and their price for one deployment, day, model or tenant (`key`)."""

    key: str
    gpu_seconds: float
    usd: float


def chat_deltas(chunk: Any) -> Iterator[str]:
    """The text pieces of one streamed OpenAI chunk (chat `delta.content`, or completion `text`)."""
    for choice in chunk.get("choices", []) if isinstance(chunk, dict) else []:
        text = (choice.get("delta") or {}).get("content") or choice.get("text")
        if text:
            yield str(text)


R = TypeVar("R", bound=Record)


def listing(cls: type[R], body: Any) -> list[R]:
    """The items of a `{"data": [...]}` listing, as `cls`."""
    return [cls.from_json(d) for d in body.get("data", [])]
