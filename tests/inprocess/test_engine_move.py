"""`engine.move`: a deployment moves once per seq, scheduling its next step before the commit."""

from __future__ import annotations

import pytest

from shared.deploy import records
from shared.deploy.engine import Move, RefusedMove, _claim, move
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from tests.inprocess.conftest import InProcess


def to_select_gpu(d: Deployment) -> Move:
    return Move(next_step="select_gpu", status=Status.SELECTING_GPU, message=("INFO", "moved by the test"))


def claimed(app: InProcess, dep_id: str) -> Deployment:
    dep, outcome = _claim(app.svc, app.load(dep_id), "validate", 1)
    assert outcome is None and dep.lease_id
    return dep


def set_status(app: InProcess, dep_id: str, status: Status) -> None:
    """What a worker callback does: change the status without a step (and without bumping seq)."""

    def change(d: Deployment) -> Deployment:
        d.status = status
        return d

    assert records.mutate(app.svc, dep_id, change)[1]


def log_lines(app: InProcess, dep_id: str) -> list[str]:
    return [entry.message for entry in records.recent_logs(app.svc, dep_id)]


def test_a_move_schedules_the_next_step_then_commits(app: InProcess) -> None:
    dep_id = app.create()
    after, moved = move(app.svc, dep_id, to_select_gpu)
    assert moved and after is not None
    stored = app.load(dep_id)
    assert (stored.status, stored.step, stored.seq, stored.attempt) == (Status.SELECTING_GPU, "select_gpu", 2, 0)
    assert stored.step_deadline_at is not None and stored.lease_id is None
    assert app.queue.names()[-1] == f"{dep_id}:select_gpu:2"
    assert app.queue.tasks[-1].payload["seq"] == 2
    assert "moved by the test" in log_lines(app, dep_id)


def test_a_step_move_with_a_stale_seq_changes_nothing(app: InProcess) -> None:
    dep_id = app.create()
    dep = claimed(app, dep_id)
    # Another move commits meanwhile (a DELETE): the step's seq is now stale.
    deleting = Move(next_step="cleanup", status=Status.DELETING, keep_lease=True)
    assert move(app.svc, dep_id, lambda d: deleting)[1]
    before = app.load(dep_id)
    tasks = len(app.queue.tasks)
    current, moved = move(app.svc, dep_id, to_select_gpu, lease_id=dep.lease_id, seq=dep.seq)
    assert not moved and current is not None and current.seq == before.seq == 2
    stored = app.load(dep_id)
    assert (stored.status, stored.step, stored.seq) == (Status.DELETING, "cleanup", 2)
    assert len(app.queue.tasks) == tasks  # nothing scheduled for a superseded step


def test_a_step_move_without_the_lease_changes_nothing(app: InProcess) -> None:
    dep_id = app.create()
    claimed(app, dep_id)
    current, moved = move(app.svc, dep_id, to_select_gpu, lease_id="not-our-lease", seq=1)
    assert not moved and current is not None
    assert (app.load(dep_id).status, app.load(dep_id).seq) == (Status.VALIDATING, 1)


def test_a_status_the_worker_already_reached_is_kept(app: InProcess) -> None:
    dep_id = app.create()
    dep = claimed(app, dep_id)
    set_status(app, dep_id, Status.LOADING_MODEL)  # the worker reported in while validate ran
    after, moved = move(app.svc, dep_id, to_select_gpu, lease_id=dep.lease_id, seq=dep.seq)
    assert moved and after is not None
    stored = app.load(dep_id)
    assert stored.status == Status.LOADING_MODEL  # not back to selecting_gpu
    assert (stored.step, stored.seq, stored.lease_id) == ("select_gpu", 2, None)  # the rest of the move applied
    assert stored.steps[-1].name == "validate" and stored.steps[-1].state == "succeeded"
    assert any("Kept status loading_model" in line for line in log_lines(app, dep_id))


def test_a_forbidden_transition_raises_for_a_step(app: InProcess) -> None:
    dep_id = app.create()
    dep = claimed(app, dep_id)
    set_status(app, dep_id, Status.READY)  # ready -> selecting_gpu is neither allowed nor "ahead"
    with pytest.raises(RefusedMove, match="ready to selecting_gpu"):
        move(app.svc, dep_id, to_select_gpu, lease_id=dep.lease_id, seq=dep.seq)
    stored = app.load(dep_id)
    assert (stored.status, stored.seq, stored.lease_id) == (Status.READY, 1, dep.lease_id)
    assert app.queue.names() == [f"{dep_id}:validate:1"]  # refused before anything was scheduled


def test_a_forbidden_transition_without_a_lease_is_declined(app: InProcess) -> None:
    dep_id = app.create()
    set_status(app, dep_id, Status.FAILED)
    current, moved = move(app.svc, dep_id, to_select_gpu)
    assert not moved and current is not None and current.status == Status.FAILED
    assert app.load(dep_id).seq == 1


def test_decide_sees_the_current_state_and_may_decline(app: InProcess) -> None:
    dep_id = app.create()
    seen: list[tuple[Status, int]] = []

    def decide(d: Deployment) -> Move | None:
        seen.append((d.status, d.seq))
        return None

    current, moved = move(app.svc, dep_id, decide)
    assert not moved and current is not None and seen == [(Status.VALIDATING, 1)]
    assert app.queue.names() == [f"{dep_id}:validate:1"]


def test_an_unknown_deployment_does_not_move(app: InProcess) -> None:
    assert move(app.svc, "dep_nope", to_select_gpu) == (None, False)
    assert app.queue.tasks == []


def test_a_retry_keeps_the_step_and_its_attempt_count(app: InProcess) -> None:
    """A move to the same step (a retry) keeps `attempt` and the step's deadline; the record says retrying."""
    dep_id = app.create()
    dep = claimed(app, dep_id)

    def bump(d: Deployment) -> None:
        d.attempt = 3

    retry = Move(next_step="validate", delay=5.0, apply=bump, outcome="retrying")
    assert move(app.svc, dep_id, lambda d: retry, lease_id=dep.lease_id, seq=dep.seq)[1]
    stored = app.load(dep_id)
    assert (stored.step, stored.seq, stored.attempt) == ("validate", 2, 3)
    assert stored.step_deadline_at == dep.step_deadline_at
    assert stored.steps[-1].state == "retrying" and stored.steps[-1].finished_at is None
    assert app.queue.tasks[-1].name == f"{dep_id}:validate:2" and app.queue.tasks[-1].delay_seconds == 5.0
