"""`AsyncDeployment`: the `Deployment` handle for asyncio; the same methods, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Unpack

from dorch import _flows as flows
from dorch import _routes as routes
from dorch._async_transport import AsyncTransport
from dorch._view import DeploymentView
from dorch._wait import ProgressCallback
from dorch.types import Health, Job, LogLine, Task, UpdateOptions, WebhookDelivery, listing


class AsyncDeployment(DeploymentView):
    """A deployment, for `AsyncClient`; each method does what `Deployment`'s of the same name does."""

    def __init__(self, transport: AsyncTransport, data: dict[str, Any]) -> None:
        super().__init__(data)
        self._t = transport

    async def refresh(self) -> AsyncDeployment:
        """Fetch the current state; returns self."""
        self._data = await self._t.send(routes.get(self.id))
        return self

    async def wait(
        self, timeout: float | None = None, on_progress: ProgressCallback | None = None, *, poll_interval: float = 2.0
    ) -> AsyncDeployment:
        """Wait until ready (or paused); raises DeploymentFailed or WaitTimeout as `Deployment.wait` does."""
        tracker = await self._t.result(flows.wait(self.id, timeout, on_progress, poll_interval))
        self._data = tracker.data
        tracker.outcome()
        return self

    def logs(self, follow: bool = False, tail: int | None = None) -> AsyncIterator[LogLine]:
        """Log lines (`async for`); with `follow`, new ones as they come until the deployment is deleted."""
        return self._t.iterate(flows.logs(self.id, follow, tail))

    async def scale(self, min_replicas: int, max_replicas: int) -> dict[str, Any]:
        return self._changed(await self._t.send(routes.scale(self.id, min_replicas, max_replicas)))

    async def pause(self) -> dict[str, Any]:
        return self._changed(await self._t.send(routes.pause(self.id)))

    async def resume(self) -> dict[str, Any]:
        return self._changed(await self._t.send(routes.resume(self.id)))

    async def delete(self, wait: bool = False, timeout: float | None = None, *, poll_interval: float = 1.0) -> None:
        self._update(await self._t.result(flows.delete(self.id, wait, timeout, poll_interval)))

    async def run(self, input: Any) -> Job:
        return Job.from_json(await self._t.send(routes.run(self.id, input)))

    async def run_sync(self, input: Any, timeout: float = 60.0) -> Job:
        return Job.from_json(await self._t.send(routes.run_sync(self.id, input, timeout)))

    async def job(self, job_id: str) -> Job:
        return Job.from_json(await self._t.send(routes.job(self.id, job_id)))

    async def cancel_job(self, job_id: str) -> Job:
        return Job.from_json(await self._t.send(routes.cancel_job(self.id, job_id)))

    async def health(self) -> Health:
        return Health.from_json(await self._t.send(routes.health(self.id)))

    async def webhook_deliveries(self) -> list[WebhookDelivery]:
        return listing(WebhookDelivery, await self._t.send(routes.webhook_deliveries(self.id)))

    async def update(
        self,
        *,
        wait: bool = False,
        timeout: float | None = None,
        poll_interval: float = 2.0,
        **changes: Unpack[UpdateOptions],
    ) -> Task:
        task: Task = await self._t.result(flows.task(routes.update(self.id, changes), wait, timeout, poll_interval))
        return task

    async def rollback(self, *, wait: bool = False, timeout: float | None = None, poll_interval: float = 2.0) -> Task:
        task: Task = await self._t.result(flows.task(routes.rollback(self.id), wait, timeout, poll_interval))
        return task

    async def tasks(self) -> list[Task]:
        return listing(Task, await self._t.send(routes.tasks(self.id)))
