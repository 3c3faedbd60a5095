"""`engine.run_step`: what one delivery of a step task answers and leaves behind.

2xx ends a task, 503 has the queue deliver it again. Tests that need a step to run deliver its task
through POST /internal/steps (the path the queue takes, which also loads the steps), against the real fake Hub.
"""

from __future__ import annotations

from datetime import timedelta

from shared.deploy.engine import _claim, move, run_step
from shared.queue import Task
from shared.schemas.states import Status
from tests.e2e_support import Fakes
from tests.inprocess.conftest import InProcess, MakeInProcess
from tests.inprocess.test_engine_move import to_select_gpu


def last_step_task(app: InProcess, dep_id: str) -> Task:
    return [t for t in app.queue.step_tasks(dep_id) if t.payload.get("kind") == "step"][-1]


def test_a_stale_task_is_a_2xx_no_op(app: InProcess) -> None:
    dep_id = app.create()
    assert move(app.svc, dep_id, to_select_gpu)[1]
    before = app.load(dep_id)
    for step, seq in (("validate", 1), ("validate", 2)):  # an older seq; this seq's other step
        outcome = run_step(app.svc, dep_id, step, seq)
        assert (outcome.status, outcome.result) == (200, "stale task"), (step, seq)
    assert app.load(dep_id) == before


def test_an_unknown_deployment_is_not_yet_committed_then_gone(app: InProcess) -> None:
    now = app.svc.now()
    fresh = run_step(app.svc, "dep_missing", "validate", 1, issued_at=now)
    assert fresh.status == 503 and fresh.retry_after is not None  # its create may still be committing
    old = run_step(app.svc, "dep_missing", "validate", 1, issued_at=now - timedelta(minutes=5))
    assert (old.status, old.result) == (200, "unknown deployment")
    assert run_step(app.svc, "dep_missing", "validate", 1).status == 200


def test_a_task_ahead_of_its_commit_answers_503(app: InProcess) -> None:
    dep_id = app.create()
    outcome = run_step(app.svc, dep_id, "select_gpu", 2)  # scheduled by a move that has not committed yet
    assert outcome.status == 503 and outcome.retry_after == 1.0
    stored = app.load(dep_id)
    assert (stored.seq, stored.lease_id, stored.steps) == (1, None, [])


def test_a_503_reaches_the_queue_with_retry_after(app: InProcess) -> None:
    dep_id = app.create()
    task = Task(f"{dep_id}:select_gpu:2", {"kind": "step", "deployment_id": dep_id, "step": "select_gpu", "seq": 2})
    resp = app.run_task(task)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"


def test_a_step_whose_lease_is_held_answers_503(app: InProcess) -> None:
    dep_id = app.create()
    _claim(app.svc, app.load(dep_id), "validate", 1)
    resp = app.run_task(last_step_task(app, dep_id))
    assert resp.status_code == 503 and resp.json == {"result": "another delivery of this step holds the lease"}


def test_a_transient_fault_is_retried_with_backoff(live: InProcess) -> None:
    assert live.fakes is not None
    dep_id = live.create()
    live.fakes.hub.fail_next("status", status=503)
    resp = live.run_task(last_step_task(live, dep_id))
    assert resp.status_code == 200, resp.text
    stored = live.load(dep_id)
    assert (stored.status, stored.step, stored.seq, stored.attempt) == (Status.VALIDATING, "validate", 2, 1)
    assert stored.lease_id is None
    assert stored.steps[-1].state == "retrying" and "unavailable" in (stored.steps[-1].error or "")
    retry = last_step_task(live, dep_id)
    assert retry.name == f"{dep_id}:validate:2" and retry.delay_seconds > 0
    assert live.run_task(retry).status_code == 200  # the Hub answers now: on to the next step
    assert live.load(dep_id).status == Status.SELECTING_GPU


def test_a_permanent_fault_fails_the_deployment_at_once(live: InProcess) -> None:
    dep_id = live.create(hf_model_id="acme/not-on-the-hub")
    assert live.run_task(last_step_task(live, dep_id)).status_code == 200
    stored = live.load(dep_id)
    assert stored.status == Status.FAILED and stored.error is not None
    assert (stored.error.code, stored.error.retryable, stored.error.step) == ("model_not_found", False, "validate")
    assert (stored.step, stored.attempt) == ("cleanup", 0)
    assert stored.steps[-1].state == "failed"
    assert last_step_task(live, dep_id).name == f"{dep_id}:cleanup:2"


def test_a_transient_fault_fails_after_the_last_attempt(make_inprocess: MakeInProcess, fakes: Fakes) -> None:
    live = make_inprocess(fakes, env={"RETRY_MAX_ATTEMPTS": "2"})
    dep_id = live.create()
    fakes.hub.down = True
    for _ in range(2):
        assert live.run_task(last_step_task(live, dep_id)).status_code == 200
    stored = live.load(dep_id)
    assert stored.status == Status.FAILED and stored.error is not None
    assert (stored.error.code, stored.error.retryable) == ("hf_unavailable", True)
    assert "gave up after 2 attempts" in stored.error.message


def test_a_step_past_its_deadline_fails_instead_of_running(live: InProcess) -> None:
    assert live.fakes is not None
    dep_id = live.create()
    live.clock.advance(live.svc.settings.step_timeout_seconds + 1)
    resp = live.run_task(last_step_task(live, dep_id))
    assert (resp.status_code, resp.json) == (200, {"result": "deadline passed"})
    stored = live.load(dep_id)
    assert stored.status == Status.FAILED and stored.error is not None and stored.error.code == "step_timeout"
    assert live.fakes.hub.requests_to() == []  # the step never ran
