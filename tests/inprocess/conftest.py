"""The in-process tier: the real Flask app of `main.py`, the real services on a private SQLite, the real fakes.

No server subprocess: `functions_framework.create_app` builds the same WSGI app `make run` serves, and
Flask's test client calls it. Services are built from settings exactly as in production
(`shared.services.build`) and installed for the test; the only wrapper is `RecordingQueue`, which keeps
what was enqueued in view (the tasks still go to the real local queue). Time is `Services.clock`: a test
may move it forward to expire a lease or a deadline instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import functions_framework
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from functions.security import local_task_token
from shared import services as services_mod
from shared.deploy import records
from shared.platform.clock import utcnow
from shared.platform.settings import load_settings
from shared.queue import Task, TaskQueue
from shared.schemas.stored import Deployment
from shared.services import Services
from tests.conftest import ADMIN_TOKEN, API_KEY, FAST_ENV, ROOT
from tests.e2e_support import OFFLINE_BODY, Fakes, create_body

CLOSED = "http://127.0.0.1:9"  # nothing listens here: an upstream that is down


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Answer(TestResponse):
    """The app's answer; its JSON body typed Any (each test asserts the shape it expects)."""

    @property
    def json(self) -> Any:
        return self.get_json(silent=True)


class Clock:
    """Real time plus an offset the test controls."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def to_start_of_a_minute(self) -> None:
        """Jump to one second into the next clock minute: a burst counted per minute then fits in one."""
        now = self()
        self.advance(60 - now.second - now.microsecond / 1e6 + 1)


class RecordingQueue:
    """The real queue, with every task it was given kept in `tasks` (a test reads what a move scheduled)."""

    def __init__(self, inner: TaskQueue) -> None:
        self.inner = inner
        self.tasks: list[Task] = []

    def enqueue(self, task: Task) -> bool:
        self.tasks.append(task)
        return self.inner.enqueue(task)

    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def step_tasks(self, deployment_id: str) -> list[Task]:
        return [t for t in self.tasks if t.payload.get("deployment_id") == deployment_id]


@dataclass
class InProcess:
    client: FlaskClient
    svc: Services
    queue: RecordingQueue
    clock: Clock
    fakes: Fakes | None = None
    api_key: str = API_KEY
    _auth: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self._auth = as_key(self.api_key)

    def open(self, method: str, path: str, **kw: Any) -> Answer:
        """A request with only the headers given (no API key)."""
        return cast(Answer, self.client.open(path, method=method, **kw))

    def request(self, method: str, path: str, **kw: Any) -> Answer:
        """A request with the API key."""
        return self.open(method, path, headers={**self._auth, **kw.pop("headers", {})}, **kw)

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Answer:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.request("DELETE", path, **kw)

    def admin(self, method: str, path: str, **kw: Any) -> Answer:
        return self.open(method, path, headers={"X-Admin-Token": ADMIN_TOKEN}, **kw)

    def new_tenant_key(self, name: str = "Acme", tier: str = "enterprise") -> str:
        """A fresh tenant with one API key (through the admin API); returns the key."""
        body = {"name": name, "email": f"{name.lower()}@example.com", "tier": tier}
        tenant = self.admin("POST", "/admin/tenants", json=body)
        assert tenant.status_code == 201, tenant.text
        key = self.admin("POST", f"/admin/tenants/{tenant.json['id']}/api-keys", json={"name": "k"})
        assert key.status_code == 201, key.text
        return str(key.json["key"])

    def create(self, **overrides: Any) -> str:
        """A deployment through the public API (status validating, step validate, seq 1); returns its id."""
        body = create_body(self.fakes, **overrides) if self.fakes else {**OFFLINE_BODY, **overrides}
        resp = self.post("/v1/deployments", json={k: v for k, v in body.items() if v is not None})
        assert resp.status_code == 202, resp.text
        return str(resp.json["deployment_id"])

    def load(self, deployment_id: str) -> Deployment:
        dep = records.load(self.svc, deployment_id)
        assert dep is not None, deployment_id
        return dep

    def run_task(self, task: Task) -> Answer:
        """Deliver a task as the local queue would: POST /internal/steps with the queue's token."""
        token = local_task_token(self.svc)
        return self.open("POST", "/internal/steps", json=task.payload, headers=as_key(token))


@pytest.fixture(scope="session")
def flask_app() -> Flask:
    """The `api` entry point of main.py, built as functions-framework builds it for `make run` and Cloud Run."""
    create = functions_framework.create_app  # untyped upstream
    app: Flask = create(target="api", source=str(ROOT / "main.py"))  # type: ignore[no-untyped-call]
    app.testing = True
    return app


MakeInProcess = Callable[..., InProcess]


@pytest.fixture
def make_inprocess(flask_app: Flask, tmp_path: Path) -> Iterator[MakeInProcess]:
    """make_inprocess(fakes=None, env={...}): installs fresh services on a private DATA_DIR for this test."""

    def make(fakes: Fakes | None = None, env: dict[str, str] | None = None) -> InProcess:
        upstreams = fakes.env() if fakes else {"HF_ENDPOINT": CLOSED, "RUNPOD_API_BASE": CLOSED}
        settings = load_settings(
            {"DATA_DIR": str(tmp_path / "data"), "API_KEYS": API_KEY, **FAST_ENV, **upstreams, **(env or {})}
        )
        svc = services_mod.build(settings)
        clock = Clock()
        queue = RecordingQueue(svc.queue)
        svc.clock, svc.queue = clock, queue
        services_mod.install(svc)
        return InProcess(FlaskClient(flask_app, Answer, use_cookies=False), svc, queue, clock, fakes)

    yield make
    services_mod.install(None)


@pytest.fixture
def app(make_inprocess: MakeInProcess) -> InProcess:
    """The app with every upstream down: for handler tests that never need Runpod or the Hub to answer."""
    return make_inprocess()


@pytest.fixture
def live(make_inprocess: MakeInProcess, fakes: Fakes) -> InProcess:
    """The app pointed at the real fake Runpod, Hub and webhook receiver (local HTTP servers)."""
    return make_inprocess(fakes)
