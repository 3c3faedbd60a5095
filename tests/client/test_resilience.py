"""The SDK when the network and the server misbehave: streams cut mid-way, 429 and 503 with Retry-After,
answers lost after the server acted, a stream that cannot be opened. A FaultyProxy sits in between."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from dorch import Client, ConnectionFailed, Progress, RateLimited, ServerError

from tests.client.proxy import FaultyProxy
from tests.conftest import Server
from tests.e2e_support import SDXL, Fakes, fresh_rate_window


def _stream_path(dep_id: str) -> str:
    return f"/v1/deployments/{dep_id}/logs/stream"


@pytest.mark.parametrize("reset", [True, False], ids=["tcp-reset", "clean-close"])
def test_wait_resumes_a_dropped_stream_with_last_event_id(
    server: Server, fakes: Fakes, proxy: FaultyProxy, reset: bool
) -> None:
    seen: list[Progress] = []
    with Client(proxy.base_url, server.api_key) as client:
        proxy.cut_next_stream(after_events=2, reset=reset)
        dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test")
        dep.wait(timeout=60, on_progress=seen.append)
    assert dep.status == "ready" and dep.endpoint_url
    streams = proxy.to("GET", _stream_path(dep.id))
    assert len(streams) >= 2 and proxy.cut_log, "the stream was never cut"
    assert "last-event-id" not in streams[0].headers
    assert streams[1].headers["last-event-id"] == proxy.cut_log[0]  # resumed right after the last event seen
    lines = [p.log for p in seen if p.log is not None]
    assert len({line.id for line in lines}) == len(lines)  # nothing twice across the resume
    assert any("Selected GPU" in line.message for line in lines)


def test_wait_polls_when_no_stream_can_be_opened(server: Server, fakes: Fakes, proxy: FaultyProxy) -> None:
    with Client(proxy.base_url, server.api_key) as client:
        dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test")
        proxy.answer_next("GET", _stream_path(dep.id), 429, {"Retry-After": "5"})
        dep.wait(timeout=60, poll_interval=0.2)
    assert dep.status == "ready"
    assert len(proxy.to("GET", _stream_path(dep.id))) == 1  # it did not hammer the stream
    assert len(proxy.to("GET", f"/v1/deployments/{dep.id}")) >= 2  # it polled


def test_429_and_503_are_retried_after_retry_after(server: Server, fakes: Fakes, proxy: FaultyProxy) -> None:
    with Client(proxy.base_url, server.api_key) as client:
        dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test")
        path = f"/v1/deployments/{dep.id}"
        proxy.answer_next("GET", path, 429, {"Retry-After": "1"})
        proxy.answer_next("GET", path, 503, {"Retry-After": "1"})
        assert client.get(dep.id).id == dep.id
    arrivals = [a for a in proxy.to("GET", path) if a.path == path]
    assert len(arrivals) == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # never sooner than the server asked


def test_retries_are_bounded_and_the_last_429_is_raised(server: Server, proxy: FaultyProxy) -> None:
    with Client(proxy.base_url, server.api_key, max_retries=2) as client:
        for _ in range(3):
            proxy.answer_next("GET", "/v1/models", 429, {"Retry-After": "0"})
        with pytest.raises(RateLimited) as limited:
            client.models()
        assert limited.value.retry_after == 0 and len(proxy.to("GET", "/v1/models")) == 3
        # Asked to wait longer than max_retry_wait: raised at once, with how long to wait.
        proxy.answer_next("GET", "/v1/models", 429, {"Retry-After": "3600"})
        with pytest.raises(RateLimited) as long_wait:
            client.models()
        assert long_wait.value.retry_after == 3600 and len(proxy.to("GET", "/v1/models")) == 4


def test_other_server_errors_are_not_retried(server: Server, proxy: FaultyProxy) -> None:
    with Client(proxy.base_url, server.api_key) as client:
        proxy.answer_next("GET", "/v1/models", 500)
        with pytest.raises(ServerError) as error:
            client.models()
    assert error.value.status == 500 and len(proxy.to("GET", "/v1/models")) == 1


def test_a_create_whose_answer_was_lost_is_retried_into_the_same_deployment(
    server: Server, fakes: Fakes, proxy: FaultyProxy
) -> None:
    key = server.new_tenant_key("Lost")
    with Client(proxy.base_url, key) as client:
        proxy.lose_next_answer("POST", "/v1/deployments")
        dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test")
        posts = proxy.to("POST", "/v1/deployments")
        assert len(posts) == 2 and posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
        assert [d.id for d in client.deployments()] == [dep.id]  # the server made exactly one


def test_a_job_whose_answer_was_lost_is_not_sent_twice(server: Server, fakes: Fakes, proxy: FaultyProxy) -> None:
    with Client(proxy.base_url, server.api_key) as client:
        dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test").wait(timeout=60)
        proxy.lose_next_answer("POST", f"/v1/deployments/{dep.id}/run")
        with pytest.raises(ConnectionFailed):
            dep.run({"n": 1})  # no Idempotency-Key on a job: a blind retry could queue it twice
    assert len(proxy.to("POST", f"/v1/deployments/{dep.id}/run")) == 1


def test_the_real_rate_limit_is_a_rate_limited_error(start_server: Callable[..., Server], fakes: Fakes) -> None:
    server = start_server(env={**fakes.env(), "RATE_LIMIT_PER_MINUTE": "2"})
    fresh_rate_window()  # the limit counts per clock minute: the three calls must fall in one
    with Client(server.base_url, server.api_key, max_retries=0) as client:
        client.models()
        client.models()
        with pytest.raises(RateLimited) as limited:
            client.models()
    assert limited.value.status == 429 and limited.value.error == "RateLimitError"
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 60
    assert limited.value.details["limit"] == 2
