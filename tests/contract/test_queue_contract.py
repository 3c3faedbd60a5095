"""One contract for task queues: the durable local queue, and Cloud Tasks through the adapter.

The local queue is run for real (its dispatcher delivering to a local HTTP server). The Cloud Tasks
adapter is checked twice: the request it sends, delivered by the Cloud Tasks emulator to the same
kind of server, and the semantics the emulator lacks (de-duplication, schedule times, the OIDC
token) against a recording client passed to its constructor.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.clients.google_auth import emulator_task_token
from shared.platform.settings import Settings
from shared.queue import Task, task_id
from shared.queue.local import LocalTaskQueue
from shared.queue.local_dispatcher import DispatchPolicy, LocalDispatcher
from tests.contract.receiver import Call, Receiver
from tests.gcp import emulators

ROOT = Path(__file__).resolve().parents[2]
POLICY = DispatchPolicy(min_backoff=0.2, max_backoff=2.0, dispatch_deadline=5.0, workers=2, poll_interval=0.05)


class LocalHarness:
    def __init__(self, path: Path, receiver: Receiver, clock=time.time):
        self.queue = LocalTaskQueue(path, clock=clock)
        self.dispatcher = LocalDispatcher(self.queue, {"step": receiver.url}, POLICY, clock=clock)

    def __enter__(self) -> LocalHarness:
        self.dispatcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispatcher.stop()


def _settings(url: str, project: str = "demo-p") -> Settings:
    return Settings(
        google_cloud_project=project,
        region=emulators.REGION,
        tasks_queue=emulators.QUEUE,
        step_function_url=url,
        tasks_invoker_sa="tasks-invoker@demo-p.iam.gserviceaccount.com",
        internal_secret="contract-secret",
    )


@pytest.fixture
def emulated_queue(monkeypatch) -> Iterator[tuple]:
    """A CloudTasksQueue talking to this worker's Cloud Tasks emulator, and a receiver it delivers to."""
    from shared.queue.cloudtasks import CloudTasksQueue, _new_client

    emulator = emulators.tasks()
    monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", emulator.host)
    with Receiver() as receiver:
        settings = _settings(receiver.url, emulators.worker_project())
        yield CloudTasksQueue(settings, client=_new_client(emulator.host)), receiver, settings


@pytest.fixture
def local_queue(tmp_path) -> Iterator[tuple]:
    with Receiver() as receiver, LocalHarness(tmp_path / "queue.db", receiver) as harness:
        yield harness.queue, receiver, None


# ---- the request both queues deliver --------------------------------------------------------------


@pytest.fixture(params=["local", pytest.param("cloudtasks-emulator", marks=pytest.mark.emulator)])
def any_queue(request):
    return request.getfixturevalue("local_queue" if request.param == "local" else "emulated_queue")


def test_a_task_arrives_as_a_json_post_named_by_its_hash(any_queue):
    queue, receiver, settings = any_queue
    assert queue.enqueue(Task("dep_1:validate:1", {"kind": "step", "deployment_id": "dep_1", "seq": 1}))
    [call] = receiver.wait_for(1)
    assert (call.method, call.path) == ("POST", "/internal/steps")
    assert call.headers["content-type"] == "application/json"
    assert json.loads(call.body) == {"kind": "step", "deployment_id": "dep_1", "seq": 1}
    assert call.headers["x-cloudtasks-taskname"] == task_id("dep_1:validate:1")
    assert "x-cloudtasks-queuename" in call.headers
    if settings is not None:  # the emulator sends no OIDC token: the adapter's emulator-only HMAC stands in
        assert call.headers["authorization"] == f"Bearer {emulator_task_token(settings)}"


def test_a_delayed_task_waits(any_queue):
    queue, receiver, _ = any_queue
    began = time.time()
    queue.enqueue(Task("later", {"kind": "step"}, delay_seconds=1.2))
    [call] = receiver.wait_for(1)
    assert call.at - began >= 1.1


def test_a_failed_task_is_delivered_again(any_queue):
    queue, receiver, _ = any_queue
    receiver.answer = lambda call: (503, {"Retry-After": "1"}) if len(receiver.calls) == 1 else (200, {})
    queue.enqueue(Task("flaky", {"kind": "step"}))
    first, second = receiver.wait_for(2)
    assert second.body == first.body
    assert second.headers["x-cloudtasks-taskname"] == first.headers["x-cloudtasks-taskname"]


# ---- the local queue's own promises --------------------------------------------------------------


def test_local_queue_deduplicates_by_name(local_queue):
    queue, receiver, _ = local_queue
    assert queue.enqueue(Task("once", {"n": 1})) is True
    assert queue.enqueue(Task("once", {"n": 2})) is False
    receiver.wait_for(1)
    time.sleep(0.3)
    assert len(receiver.calls) == 1
    assert queue.enqueue(Task("once", {"n": 3})) is False  # still remembered after it ran


def test_local_queue_backs_off_and_honours_retry_after(local_queue):
    queue, receiver, _ = local_queue
    answers = iter([(503, {"Retry-After": "2"}), (500, {}), (200, {})])
    receiver.answer = lambda call: next(answers)
    queue.enqueue(Task("backoff", {}))
    first, second, third = receiver.wait_for(3)
    assert second.at - first.at >= 1.95  # Retry-After beats the 0.2 s minimum backoff
    assert 0.35 <= third.at - second.at < 1.6  # then plain exponential backoff: 0.2 s * 2
    assert [c.headers["x-cloudtasks-taskretrycount"] for c in (first, second, third)] == ["0", "1", "2"]
    time.sleep(0.5)
    assert len(receiver.calls) == 3


_CRASHING_DISPATCHER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from shared.queue.local import LocalTaskQueue
    from shared.queue.local_dispatcher import DispatchPolicy, LocalDispatcher
    policy = DispatchPolicy(dispatch_deadline=60.0, workers=1, poll_interval=0.05)
    LocalDispatcher(LocalTaskQueue(sys.argv[2]), {"step": sys.argv[3]}, policy).start()
    time.sleep(60)
    """
)


def test_a_crash_mid_delivery_loses_no_task(tmp_path):
    """A dispatcher dies while its call is in flight; after a restart its lease expires and the task runs."""
    release = threading.Event()

    def answer(call: Call):
        if len(receiver.calls) == 1:
            release.wait(20)  # the first delivery hangs until its dispatcher is dead
        return 200, {}

    with Receiver(answer) as receiver:
        db = tmp_path / "queue.db"
        LocalTaskQueue(db).enqueue(Task("survivor", {"kind": "step"}))
        doomed = subprocess.Popen([sys.executable, "-c", _CRASHING_DISPATCHER, str(ROOT), str(db), receiver.url])
        try:
            receiver.wait_for(1, timeout=20)
        finally:
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait(10)
        release.set()
        # The restarted process's clock is past the dead one's lease (deadline + 5 s).
        with LocalHarness(db, receiver, clock=lambda: time.time() + 120):
            _, second = receiver.wait_for(2)
        assert second.headers["x-cloudtasks-taskname"] == task_id("survivor")
        assert json.loads(second.body) == {"kind": "step"}


# ---- the Cloud Tasks adapter's semantics, against a recording client -------------------------------


class RecordingTasksClient:
    """Behaves like Cloud Tasks where the emulator does not: a task name is taken once."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.names: set[str] = set()

    def create_task(self, request: dict, timeout: float | None = None) -> dict:
        from google.api_core.exceptions import AlreadyExists

        assert timeout is not None and timeout > 0
        if request["task"]["name"] in self.names:
            raise AlreadyExists(f"task {request['task']['name']} already exists")
        self.names.add(request["task"]["name"])
        self.requests.append(request)
        return request["task"]


NOW = 1_800_000_000.0
STEP_URL = "https://run-step-123456789.us-central1.run.app/internal/steps"


@pytest.fixture
def adapter(monkeypatch):
    from shared.queue.cloudtasks import CloudTasksQueue

    monkeypatch.delenv("CLOUD_TASKS_EMULATOR_HOST", raising=False)
    client = RecordingTasksClient()
    return CloudTasksQueue(_settings(STEP_URL), client=client, clock=lambda: NOW), client


def test_adapter_names_tasks_by_hash_and_treats_already_exists_as_done(adapter):
    queue, client = adapter
    assert queue.enqueue(Task("dep_1:validate:1", {"kind": "step"})) is True
    assert queue.enqueue(Task("dep_1:validate:1", {"kind": "step"})) is False
    assert queue.enqueue(Task("dep_1:validate:2", {"kind": "step"})) is True
    names = [r["task"]["name"] for r in client.requests]
    parent = "projects/demo-p/locations/us-central1/queues/steps"
    assert names == [f"{parent}/tasks/{task_id('dep_1:validate:1')}", f"{parent}/tasks/{task_id('dep_1:validate:2')}"]
    assert all(r["parent"] == parent for r in client.requests)
    assert len(set(names)) == 2 and all(len(n.rsplit("/", 1)[1]) == 40 for n in names)


def test_adapter_sends_a_signed_json_post_to_the_step_function(adapter):
    from datetime import timedelta

    queue, client = adapter
    queue.enqueue(Task("t", {"kind": "step", "seq": 3}, headers={"X-Trace": "abc"}))
    task = client.requests[0]["task"]
    http = task["http_request"]
    assert (http["http_method"], http["url"]) == ("POST", STEP_URL)
    assert json.loads(http["body"]) == {"kind": "step", "seq": 3}
    assert http["headers"] == {"Content-Type": "application/json", "X-Trace": "abc"}
    assert http["oidc_token"] == {
        "service_account_email": "tasks-invoker@demo-p.iam.gserviceaccount.com",
        "audience": "https://run-step-123456789.us-central1.run.app",
    }
    assert task["dispatch_deadline"] == timedelta(seconds=120)
    assert "schedule_time" not in task


def test_adapter_schedules_delayed_tasks(adapter):
    from datetime import UTC, datetime

    queue, client = adapter
    queue.enqueue(Task("poll", {"kind": "step"}, delay_seconds=15.5))
    assert client.requests[0]["task"]["schedule_time"] == datetime.fromtimestamp(NOW + 15.5, UTC)


def test_adapter_keeps_the_dispatch_deadline_within_cloud_tasks_limits():
    from shared.queue.cloudtasks import CloudTasksQueue

    for configured, sent in ((5.0, 15.0), (600.0, 600.0), (7200.0, 1800.0)):
        settings = _settings(STEP_URL).model_copy(update={"queue_dispatch_deadline_seconds": configured})
        client = RecordingTasksClient()
        CloudTasksQueue(settings, client=client).enqueue(Task("t", {}))
        assert client.requests[0]["task"]["dispatch_deadline"].total_seconds() == sent


def test_adapter_refuses_unknown_targets_and_missing_settings(adapter):
    from shared.queue.cloudtasks import CloudTasksQueue

    queue, _ = adapter
    with pytest.raises(ValueError, match="no URL for task target 'elsewhere'"):
        queue.enqueue(Task("t", {}, target="elsewhere"))
    with pytest.raises(ValueError, match="TASKS_QUEUE"):
        CloudTasksQueue(_settings(STEP_URL).model_copy(update={"tasks_queue": None}), client=RecordingTasksClient())


def test_adapter_adds_the_emulator_token_only_for_the_emulator(monkeypatch):
    from shared.queue.cloudtasks import CloudTasksQueue

    settings = _settings(STEP_URL)
    monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", "127.0.0.1:1")
    client = RecordingTasksClient()
    CloudTasksQueue(settings, client=client).enqueue(Task("t", {}))
    headers = client.requests[0]["task"]["http_request"]["headers"]
    assert headers["Authorization"] == f"Bearer {emulator_task_token(settings)}"
    monkeypatch.setenv("K_SERVICE", "run-step")  # on Cloud Run the emulator setting is refused outright
    with pytest.raises(RuntimeError, match="local emulation only"):
        CloudTasksQueue(settings, client=RecordingTasksClient())


def test_the_gcp_services_import_no_google_client_until_used():
    """Building the gcp backend (what every function does first) must not load Google's clients."""
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        from shared.platform.settings import Settings
        from shared.services import build
        svc = build(Settings(
            orchestrator_backend="gcp", google_cloud_project="p", region="r", tasks_queue="q",
            step_function_url="https://s.run.app/internal/steps", tasks_invoker_sa="i@p.iam.gserviceaccount.com",
            public_base_url="https://api", internal_secret="x", encryption_keys="k:" + "A" * 43 + "=",
        ))
        assert type(svc.store).__name__ == "FirestoreStore" and type(svc.queue).__name__ == "CloudTasksQueue"
        heavy = [m for m in sys.modules if m.startswith(("google.cloud.", "grpc", "google.auth", "google.api_core"))]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT)], check=True)
