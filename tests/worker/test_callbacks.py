"""The worker's reporter against a real local receiver: order, shape, retries, and never raising."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.base import Response
from tests.fakes.webhooks import RESET, WebhookReceiver
from tests.worker.support import SECRET, statuses
from worker.callbacks import MAX_MESSAGE, SECRET_HEADER, Reporter

CALLBACK = "/internal/deployment-ready/dep_2026_abc"


class Orchestrator(WebhookReceiver):
    """Takes reports; answers 404 on deployment-logs unless `logs_supported`."""

    logs_supported = False

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Response:
        if path.startswith("/internal/deployment-logs/") and not self.logs_supported:
            return Response(404, {"error": "NotFoundError"})
        return super().handle(method, path, query, headers, body)


@pytest.fixture
def orchestrator() -> Iterator[Orchestrator]:
    with Orchestrator() as fake:
        yield fake


def reporter(url: str, **kw: Any) -> Reporter:
    return Reporter(url, SECRET, timeout=1.0, backoff=0.01, max_backoff=0.05, **kw)


def test_reports_carry_the_secret_and_the_protocol_fields_in_order(orchestrator: Orchestrator) -> None:
    rep = reporter(orchestrator.url(CALLBACK))
    assert rep.report("downloading_model", "Downloading", progress=0)
    assert rep.report("downloading_model", "half", progress=150)  # clamped
    assert rep.report("loading_model", "Loading")
    assert rep.report("ready", "done", metadata={"device": "cpu"})
    got = orchestrator.received
    assert statuses(got) == ["downloading_model", "downloading_model", "loading_model", "ready"]
    assert {r.path for r in got} == {CALLBACK}
    assert all(r.header(SECRET_HEADER) == SECRET and r.header("content-type") == "application/json" for r in got)
    assert got[0].json == {"status": "downloading_model", "message": "Downloading", "progress": 0}
    assert got[1].json["progress"] == 100
    assert got[3].json == {"status": "ready", "message": "done", "metadata": {"device": "cpu"}}
    assert [s["status"] for s in rep.sent] == statuses(got)


def test_transient_failures_are_retried(orchestrator: Orchestrator) -> None:
    orchestrator.responses = [503, RESET, 429]
    assert reporter(orchestrator.url(CALLBACK)).report("ready")
    assert statuses(orchestrator.received) == ["ready"] * 4


def test_a_refusal_is_not_retried_and_does_not_raise(orchestrator: Orchestrator) -> None:
    orchestrator.responses = [401]
    assert reporter(orchestrator.url(CALLBACK)).report("ready") is False
    assert len(orchestrator.received) == 1


def test_progress_reports_give_up_sooner_than_critical_ones(orchestrator: Orchestrator) -> None:
    orchestrator.responses = [503] * 20
    rep = reporter(orchestrator.url(CALLBACK), attempts=4)
    assert rep.report("downloading_model", progress=10, critical=False) is False
    assert len(orchestrator.received) == 2
    assert rep.report("failed", "boom") is False
    assert len(orchestrator.received) == 6


def test_an_unreachable_orchestrator_never_raises() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    started = time.monotonic()
    rep = reporter(f"http://127.0.0.1:{port}{CALLBACK}", attempts=3)
    assert rep.report("ready") is False
    assert rep.log_line("error", "x") is False
    assert time.monotonic() - started < 5
    assert Reporter(None, None).report("ready") is False  # not configured: a no-op


def test_long_messages_are_clipped_to_what_the_orchestrator_accepts(orchestrator: Orchestrator) -> None:
    reporter(orchestrator.url(CALLBACK)).report("failed", "x" * 10_000)
    assert len(orchestrator.received[0].json["message"]) == MAX_MESSAGE


def test_log_lines_go_to_deployment_logs_and_a_404_turns_them_off(orchestrator: Orchestrator) -> None:
    rep = reporter(orchestrator.url(CALLBACK))
    assert rep.log_line("warning", "slow download") is False
    assert rep.log_line("error", "second") is False
    logs = [r for r in orchestrator.received if r.path.startswith("/internal/deployment-logs/")]
    assert [r.json for r in logs] == [{"level": "warning", "message": "slow download"}]  # not sent again
    assert rep.report("ready")

    orchestrator.logs_supported = True
    rep = reporter(orchestrator.url(CALLBACK))
    assert rep.log_line("error", "CUDA error")
    last = orchestrator.received[-1]
    assert last.path == "/internal/deployment-logs/dep_2026_abc" and last.header(SECRET_HEADER) == SECRET
