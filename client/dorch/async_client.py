"""`AsyncClient`: the SDK for asyncio; the same surface as `Client`, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Unpack

import httpx

from dorch import _flows as flows
from dorch import _routes as routes
from dorch._async_transport import AsyncTransport
from dorch._http import Settings
from dorch.async_deployment import AsyncDeployment
from dorch.client import PAGE_SIZE, usage_rows
from dorch.types import ClientOptions, Credential, DeployOptions, Model, Task, UsageRow, listing


class AsyncCredentials:
    """Stored Runpod API keys; each method does what `Credentials`' of the same name does."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def add(self, api_key: str, *, name: str | None = None, default: bool = False) -> Credential:
        return Credential.from_json(await self._t.send(routes.credential_add(api_key, name, default)))

    async def list(self) -> list[Credential]:
        return listing(Credential, await self._t.send(routes.credential_list()))

    async def get(self, credential_id: str) -> Credential:
        return Credential.from_json(await self._t.send(routes.credential_get(credential_id)))

    async def delete(self, credential_id: str) -> None:
        await self._t.send(routes.credential_delete(credential_id))

    async def set_default(self, credential_id: str) -> Credential:
        return Credential.from_json(await self._t.send(routes.credential_default(credential_id)))

    async def validate(self, credential_id: str) -> Credential:
        return Credential.from_json(await self._t.send(routes.credential_validate(credential_id)))

    async def replace(self, credential_id: str, api_key: str) -> Credential:
        return Credential.from_json(await self._t.send(routes.credential_replace(credential_id, api_key)))


class AsyncClient:
    """The deployment-orchestrator API for asyncio; arguments as for `Client`. Use `async with`, or
    `await aclose()`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._t = AsyncTransport(Settings.resolve(base_url, api_key, **options), http_client)
        self.credentials = AsyncCredentials(self._t)

    @property
    def base_url(self) -> str:
        return self._t.settings.base_url

    async def deploy(self, model: str, **options: Unpack[DeployOptions]) -> AsyncDeployment:
        """Start deploying `model`; options as for `Client.deploy`."""
        return AsyncDeployment(self._t, await self._t.send(routes.create(model, **options)))

    async def get(self, deployment_id: str) -> AsyncDeployment:
        return AsyncDeployment(self._t, await self._t.send(routes.get(deployment_id)))

    def deployment(self, deployment_id: str) -> AsyncDeployment:
        """A handle on a deployment by id, without a request (`await refresh()` loads it)."""
        return AsyncDeployment(self._t, {"deployment_id": deployment_id})

    async def deployments(
        self, status: str | None = None, model: str | None = None, *, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[AsyncDeployment]:
        """Your deployments, newest first (`async for`); each page is fetched when reached."""
        async for data in self._t.iterate(flows.pages(status, model, page_size)):
            yield AsyncDeployment(self._t, data)

    async def models(self) -> list[Model]:
        return listing(Model, await self._t.send(routes.models()))

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = await self._t.send(routes.chat(model, messages, False, params))
        return answer

    def chat_stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> AsyncIterator[str]:
        """Yields the text of each chunk as it arrives (`async for`)."""
        return self._t.iterate(flows.chat_stream(model, messages, params))

    async def task(
        self, task_id: str, *, wait: bool = False, timeout: float | None = None, poll_interval: float = 2.0
    ) -> Task:
        task: Task = await self._t.result(flows.task(routes.task(task_id), wait, timeout, poll_interval))
        return task

    async def usage(
        self, start: str | None = None, end: str | None = None, group_by: str = "deployment"
    ) -> tuple[list[UsageRow], UsageRow]:
        return usage_rows(await self._t.send(routes.usage(start, end, group_by)))

    async def aclose(self) -> None:
        await self._t.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
