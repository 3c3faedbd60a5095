"""The claim: one delivery of a step at a time holds the deployment, for a lease that expires."""

from __future__ import annotations

import threading
from datetime import timedelta

from shared.deploy.engine import _claim
from shared.deploy.records import DEPLOYMENTS
from shared.services import build
from tests.inprocess.conftest import InProcess


def test_a_claim_takes_a_lease_and_opens_the_step_record(app: InProcess) -> None:
    dep_id = app.create()
    dep, outcome = _claim(app.svc, app.load(dep_id), "validate", 1)
    assert outcome is None
    stored = app.load(dep_id)
    assert stored.lease_id == dep.lease_id and stored.lease_id
    assert stored.lease_until is not None
    lease = stored.lease_until - app.svc.now()
    assert timedelta(0) < lease <= timedelta(seconds=app.svc.settings.step_lease_seconds)
    (record,) = stored.steps
    assert (record.name, record.state, record.attempts) == ("validate", "running", 1)


def test_a_held_lease_answers_503_soon(app: InProcess) -> None:
    dep_id = app.create()
    first, _ = _claim(app.svc, app.load(dep_id), "validate", 1)
    _, outcome = _claim(app.svc, app.load(dep_id), "validate", 1)
    assert outcome is not None and outcome.status == 503
    assert outcome.retry_after is not None and 1.0 <= outcome.retry_after <= 2.0  # not the whole lease
    assert app.load(dep_id).lease_id == first.lease_id


def test_an_expired_lease_is_taken_over(app: InProcess) -> None:
    """The holder died: past its lease, the next delivery claims and reopens the same step record."""
    dep_id = app.create()
    first, _ = _claim(app.svc, app.load(dep_id), "validate", 1)
    app.clock.advance(app.svc.settings.step_lease_seconds + 1)
    second, outcome = _claim(app.svc, app.load(dep_id), "validate", 1)
    assert outcome is None and second.lease_id != first.lease_id
    stored = app.load(dep_id)
    assert stored.lease_id == second.lease_id
    assert [(r.name, r.state) for r in stored.steps] == [("validate", "running")]


def test_a_stale_task_does_not_claim(app: InProcess) -> None:
    dep_id = app.create()
    for step, seq in (("validate", 0), ("select_gpu", 1), ("validate", 2)):
        _, outcome = _claim(app.svc, app.load(dep_id), step, seq)
        assert outcome is not None and (outcome.status, outcome.result) == (200, "stale task"), (step, seq)
    stored = app.load(dep_id)
    assert stored.lease_id is None and stored.steps == []


def test_concurrent_claims_from_two_instances_have_one_winner(app: InProcess) -> None:
    """Two processes' stores on the same database (as two instances would be), eight deliveries at once."""
    other = build(app.svc.settings)
    dep_id = app.create()
    dep = app.load(dep_id)
    start = threading.Barrier(8)
    results: list[str | None] = []
    lock = threading.Lock()

    def deliver(i: int) -> None:
        svc = app.svc if i % 2 else other
        start.wait()
        claimed, outcome = _claim(svc, dep, "validate", 1)
        with lock:
            results.append(claimed.lease_id if outcome is None else None)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(results) == 8 and len(winners) == 1
    assert app.load(dep_id).lease_id == winners[0]
    assert other.store.get(DEPLOYMENTS, dep_id)["lease_id"] == winners[0]  # type: ignore[index]
    assert len(app.load(dep_id).steps) == 1
