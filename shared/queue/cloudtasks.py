"""The Cloud Tasks backend of the task queue (ORCHESTRATOR_BACKEND=gcp).

Every task is an HTTP POST of JSON to a function URL, named by the hash of its logical name, so
enqueueing the same step twice creates it once (`AlreadyExists` means "already queued": False).
Delays become `schedule_time`; Cloud Tasks signs each call with an OIDC token for the tasks-invoker
service account, audience = the target function's origin (checked again by shared.clients.google_auth).

With CLOUD_TASKS_EMULATOR_HOST set, the client talks plain gRPC to the emulator and each task also
carries the emulator's HMAC token (the emulator sends no OIDC token); see shared.clients.google_auth.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.clients.google_auth import audience_for, emulator_host, emulator_task_token, internal_function_urls
from shared.queue.base import Task, task_id

if TYPE_CHECKING:
    from shared.platform.settings import Settings

# Cloud Tasks accepts dispatch deadlines from 15 seconds to 30 minutes.
MIN_DEADLINE_SECONDS, MAX_DEADLINE_SECONDS = 15.0, 1800.0
CREATE_TIMEOUT_SECONDS = 10.0


class TasksClient(Protocol):
    """The part of google.cloud.tasks_v2.CloudTasksClient the adapter uses (tests pass a fake)."""

    def create_task(self, request: dict[str, Any], *, timeout: float = ...) -> Any: ...


_client_lock = threading.Lock()
_clients: dict[str | None, TasksClient] = {}


def shared_client(emulator: str | None) -> TasksClient:
    """One client per process (per emulator host), created on first use."""
    client = _clients.get(emulator)
    if client is None:
        with _client_lock:
            client = _clients.get(emulator)
            if client is None:
                client = _clients[emulator] = _new_client(emulator)
    return client


def _new_client(emulator: str | None) -> TasksClient:
    # google-cloud clients are heavy: imported only on the gcp backend, when first used
    from google.cloud import tasks_v2

    if emulator is None:
        return tasks_v2.CloudTasksClient()
    # google-cloud clients are heavy: imported only on the gcp backend, when first used
    import grpc  # type: ignore[import-untyped]  # no stubs installed
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(emulator)))


class CloudTasksQueue:
    def __init__(
        self,
        settings: Settings,
        client: TasksClient | None = None,
        clock: Callable[[], float] = time.time,
    ):
        missing = [n for n in ("google_cloud_project", "region", "tasks_queue", "step_function_url", "tasks_invoker_sa")
                   if not getattr(settings, n)]  # fmt: skip
        if missing:
            raise ValueError(f"the Cloud Tasks queue needs {', '.join(m.upper() for m in missing)}")
        self._settings = settings
        self._client = client
        self._clock = clock
        self._emulator = emulator_host()
        s = settings
        self.parent = f"projects/{s.google_cloud_project}/locations/{s.region}/queues/{s.tasks_queue}"
        self.targets = internal_function_urls(settings)

    @property
    def client(self) -> TasksClient:
        if self._client is None:
            self._client = shared_client(self._emulator)
        return self._client

    def enqueue(self, task: Task) -> bool:
        # google-cloud clients are heavy: imported only on the gcp backend, when first used
        from google.api_core.exceptions import AlreadyExists

        try:
            self.client.create_task(request=self.request_for(task), timeout=CREATE_TIMEOUT_SECONDS)
        except AlreadyExists:
            return False
        return True

    def request_for(self, task: Task) -> dict[str, Any]:
        """The CreateTaskRequest, as the mapping the client accepts."""
        url = self.targets.get(task.target)
        if not url:
            raise ValueError(f"no URL for task target {task.target!r} (known: {', '.join(self.targets)})")
        headers = {**task.headers, "Content-Type": "application/json"}
        if self._emulator:
            headers["Authorization"] = f"Bearer {emulator_task_token(self._settings)}"
        deadline = min(MAX_DEADLINE_SECONDS, max(MIN_DEADLINE_SECONDS, self._settings.queue_dispatch_deadline_seconds))
        body: dict[str, Any] = {
            "name": f"{self.parent}/tasks/{task_id(task.name)}",
            "http_request": {
                "http_method": "POST",
                "url": url,
                "headers": headers,
                "body": json.dumps(task.payload, separators=(",", ":")).encode(),
                "oidc_token": {
                    "service_account_email": self._settings.tasks_invoker_sa,
                    "audience": audience_for(url),
                },
            },
            "dispatch_deadline": timedelta(seconds=deadline),
        }
        if task.delay_seconds > 0:
            body["schedule_time"] = datetime.fromtimestamp(self._clock() + task.delay_seconds, UTC)
        return {"parent": self.parent, "task": body}
