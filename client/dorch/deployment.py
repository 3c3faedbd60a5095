"""`Deployment`: a live handle on one deployment, for the blocking `Client`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Unpack

from dorch import _flows as flows
from dorch import _routes as routes
from dorch._transport import Transport
from dorch._view import DeploymentView
from dorch._wait import ProgressCallback
from dorch.types import Health, Job, LogLine, Task, UpdateOptions, WebhookDelivery, listing


class Deployment(DeploymentView):
    """A deployment. Properties (`status`, `phase`, `progress`, `endpoint_url`, `error`, ...) show the last
    state fetched; `refresh()` fetches again and `wait()` follows it live until it is ready."""

    def __init__(self, transport: Transport, data: dict[str, Any]) -> None:
        super().__init__(data)
        self._t = transport

    def refresh(self) -> Deployment:
        """Fetch the current state (GET /v1/deployments/{id}); returns self."""
        self._data = self._t.send(routes.get(self.id))
        return self

    def wait(
        self, timeout: float | None = None, on_progress: ProgressCallback | None = None, *, poll_interval: float = 2.0
    ) -> Deployment:
        """Block until the deployment is ready (or paused) and return self.

        Follows the live event stream, resuming after a dropped connection with Last-Event-ID, and
        polls every `poll_interval` seconds instead when no stream can be had. `on_progress(Progress)` is
        called on every status change and log line. Raises DeploymentFailed when it fails (or is deleted
        meanwhile) and WaitTimeout after `timeout` seconds (the deployment itself goes on).
        """
        tracker = self._t.result(flows.wait(self.id, timeout, on_progress, poll_interval))
        self._data = tracker.data
        tracker.outcome()
        return self

    def logs(self, follow: bool = False, tail: int | None = None) -> Iterator[LogLine]:
        """The deployment's log lines, oldest first: the last `tail` (default 100). With `follow`, all of
        them (or the last `tail`), then each new one as it is written until the deployment is deleted."""
        return self._t.iterate(flows.logs(self.id, follow, tail))

    def scale(self, min_replicas: int, max_replicas: int) -> dict[str, Any]:
        """Set the workers kept warm and the most at once; returns the API's answer."""
        return self._changed(self._t.send(routes.scale(self.id, min_replicas, max_replicas)))

    def pause(self) -> dict[str, Any]:
        """Stop every worker (0/0) and keep the endpoint; `resume()` restores the scaling."""
        return self._changed(self._t.send(routes.pause(self.id)))

    def resume(self) -> dict[str, Any]:
        """Undo `pause()`: the previous scaling comes back."""
        return self._changed(self._t.send(routes.resume(self.id)))

    def delete(self, wait: bool = False, timeout: float | None = None, *, poll_interval: float = 1.0) -> None:
        """Delete it and its Runpod endpoint. With `wait`, block until the endpoint is verified gone
        (DeploymentFailed if its cleanup failed, WaitTimeout after `timeout` seconds)."""
        self._update(self._t.result(flows.delete(self.id, wait, timeout, poll_interval)))

    def run(self, input: Any) -> Job:
        """Queue a job with this input; poll it with `job(job.id)`. Not retried: that could queue it twice."""
        return Job.from_json(self._t.send(routes.run(self.id, input)))

    def run_sync(self, input: Any, timeout: float = 60.0) -> Job:
        """Run a job and wait up to `timeout` seconds (1 to 120) for its output."""
        return Job.from_json(self._t.send(routes.run_sync(self.id, input, timeout)))

    def job(self, job_id: str) -> Job:
        """A job's status and, once done, its output."""
        return Job.from_json(self._t.send(routes.job(self.id, job_id)))

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a queued or running job."""
        return Job.from_json(self._t.send(routes.cancel_job(self.id, job_id)))

    def health(self) -> Health:
        """Aggregated endpoint health with worker counts."""
        return Health.from_json(self._t.send(routes.health(self.id)))

    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """The webhook deliveries of this deployment's events."""
        return listing(WebhookDelivery, self._t.send(routes.webhook_deliveries(self.id)))

    def update(
        self,
        *,
        wait: bool = False,
        timeout: float | None = None,
        poll_interval: float = 2.0,
        **changes: Unpack[UpdateOptions],
    ) -> Task:
        """Change a serving deployment (PATCH): replica bounds and the idle timeout apply in place; a new
        revision, model, GPU, env or data centers go green (a second endpoint, switched when ready, so no
        call fails). Returns its Task; with `wait`, once it finished (TaskFailed if it failed: the
        deployment then still serves its previous generation; Conflict while another update runs)."""
        task: Task = self._t.result(flows.task(routes.update(self.id, changes), wait, timeout, poll_interval))
        return task

    def rollback(self, *, wait: bool = False, timeout: float | None = None, poll_interval: float = 2.0) -> Task:
        """Bring back the previous generation's configuration (a green update of its own)."""
        task: Task = self._t.result(flows.task(routes.rollback(self.id), wait, timeout, poll_interval))
        return task

    def tasks(self) -> list[Task]:
        """Its tasks (deploy, updates, rollbacks, delete), oldest first."""
        return listing(Task, self._t.send(routes.tasks(self.id)))
