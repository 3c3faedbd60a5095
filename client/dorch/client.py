"""`Client`: the blocking entry point of the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, Unpack

import httpx

from dorch import _flows as flows
from dorch import _routes as routes
from dorch._http import Settings
from dorch._transport import Transport
from dorch.deployment import Deployment
from dorch.types import ClientOptions, Credential, DeployOptions, Model, Task, UsageRow, listing

PAGE_SIZE = 50


def usage_rows(body: Any) -> tuple[list[UsageRow], UsageRow]:
    return listing(UsageRow, body), UsageRow.from_json({**body.get("total", {}), "key": "total"})


class Credentials:
    """Stored Runpod API keys (`client.credentials`): encrypted server-side, shown masked."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def add(self, api_key: str, *, name: str | None = None, default: bool = False) -> Credential:
        """Store a key; the first one stored (or one added with `default=True`) becomes the default."""
        return Credential.from_json(self._t.send(routes.credential_add(api_key, name, default)))

    def list(self) -> list[Credential]:
        """Your stored credentials, oldest first."""
        return listing(Credential, self._t.send(routes.credential_list()))

    def get(self, credential_id: str) -> Credential:
        return Credential.from_json(self._t.send(routes.credential_get(credential_id)))

    def delete(self, credential_id: str) -> None:
        """Delete it; a Conflict names the deployments that still use it."""
        self._t.send(routes.credential_delete(credential_id))

    def set_default(self, credential_id: str) -> Credential:
        """Make it the key new deployments use when they name none."""
        return Credential.from_json(self._t.send(routes.credential_default(credential_id)))

    def validate(self, credential_id: str) -> Credential:
        """Check the key against Runpod now (`is_valid`, and `raw["validation_error"]`)."""
        return Credential.from_json(self._t.send(routes.credential_validate(credential_id)))

    def replace(self, credential_id: str, api_key: str) -> Credential:
        """Swap in a new key: every deployment using this credential acts with it at once."""
        return Credential.from_json(self._t.send(routes.credential_replace(credential_id, api_key)))


class Client:
    """The deployment-orchestrator API.

    `base_url` and `api_key` default to the DORCH_URL and DORCH_API_KEY environment variables. Every call
    has a `timeout` (seconds, default 30); 429 and 503 answers are retried up to `max_retries` times,
    honouring Retry-After when it asks for at most `max_retry_wait` seconds. Use it as a context manager,
    or `close()` it.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._t = Transport(Settings.resolve(base_url, api_key, **options), http_client)
        self.credentials = Credentials(self._t)

    @property
    def base_url(self) -> str:
        return self._t.settings.base_url

    def deploy(self, model: str, **options: Unpack[DeployOptions]) -> Deployment:
        """Start deploying `model` (a Hugging Face id like "org/name", or a registry name) and return its
        handle at once; `.wait()` on it blocks until it is ready.

        Options: `gpu` ("auto", a GPU name such as "A40" or "4090", or a pool id), `webhook_url`, `name`,
        `min_replicas`/`max_replicas` (the API's default: 0/1), `env` (extra worker environment),
        `runpod_key` or `credential_id` (with neither, your default stored credential), `provider` (with a
        registry name), `hf_token` (gated models), `idempotency_key` and `extra` (other create fields, as
        they are). An idempotency key is generated when not given, so a create retried after a lost
        answer never makes a second deployment.
        """
        return Deployment(self._t, self._t.send(routes.create(model, **options)))

    def get(self, deployment_id: str) -> Deployment:
        """The deployment with this id (NotFound when there is none of yours)."""
        return Deployment(self._t, self._t.send(routes.get(deployment_id)))

    def deployment(self, deployment_id: str) -> Deployment:
        """A handle on a deployment by id, without a request (`refresh()` loads it)."""
        return Deployment(self._t, {"deployment_id": deployment_id})

    def deployments(
        self, status: str | None = None, model: str | None = None, *, page_size: int = PAGE_SIZE
    ) -> Iterator[Deployment]:
        """Your deployments, newest first, optionally filtered by status and model id; each page is
        fetched when the iteration reaches it."""
        return (Deployment(self._t, data) for data in self._t.iterate(flows.pages(status, model, page_size)))

    def models(self) -> list[Model]:
        """Models you can call now (`ready`), then the registry's names you can deploy."""
        return listing(Model, self._t.send(routes.models()))

    def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        """An OpenAI-compatible chat completion from your ready deployment of `model` (the answer as is)."""
        answer: dict[str, Any] = self._t.send(routes.chat(model, messages, False, params))
        return answer

    def chat_stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Iterator[str]:
        """The same, streamed: yields the text of each chunk as it arrives."""
        return self._t.iterate(flows.chat_stream(model, messages, params))

    def task(
        self, task_id: str, *, wait: bool = False, timeout: float | None = None, poll_interval: float = 2.0
    ) -> Task:
        """One task (a deploy, update, rollback or delete) by id: the `X-Task-Id` of the call that started it.
        With `wait`, once it finished (TaskFailed if it failed, WaitTimeout after `timeout` seconds)."""
        task: Task = self._t.result(flows.task(routes.task(task_id), wait, timeout, poll_interval))
        return task

    def usage(
        self, start: str | None = None, end: str | None = None, group_by: str = "deployment"
    ) -> tuple[list[UsageRow], UsageRow]:
        """Metered GPU-seconds and their price from `start` to `end` (ISO-8601; default: the last 30 days),
        grouped by deployment, day or model: the rows and the total (its `key` is "total")."""
        return usage_rows(self._t.send(routes.usage(start, end, group_by)))

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
