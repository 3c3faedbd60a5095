"""Upstream faults end to end: the real server against the fake Runpod and Hub.

Transient faults are retried and permanent ones fail at once (shared/platform/faults.py, StepContext.handle_fault);
an exception that is not an upstream fault is a bug and surfaces as one; each step keeps its own way of
ending (wait_ready polls again, finalize leaves the deployment serving).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e_support import SDXL, Fakes, create_body, wait_until
from tests.fakes.hub import HubModel


def deploy(server, fakes: Fakes, **overrides) -> str:
    resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def messages(body: dict) -> list[str]:
    return [log["message"] for log in body["logs"]]


@dataclass
class MalformedModel(HubModel):
    """A Hub answer `huggingface_hub` cannot read (siblings must be a list): no network fault."""

    def info(self, with_blobs: bool) -> dict[str, Any]:
        return {**super().info(with_blobs), "siblings": 5}


def test_a_hub_answer_the_code_cannot_read_is_a_bug_not_hf_unavailable(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "RETRY_MAX_ATTEMPTS": "2"})
    fakes.hub.models["acme/odd"] = MalformedModel("acme/odd", parameters={"F16": 1_000_000})
    dep_id = deploy(server, fakes, hf_model_id="acme/odd")
    body = server.wait_status(dep_id, "failed")
    assert body["error"]["code"] == "internal_error", body["error"]
    assert "unexpected error (TypeError)" in body["error"]["message"]
    assert "Traceback" in server.log() and "TypeError" in server.log()  # logged as the bug it is


@pytest.mark.parametrize("kind", ["reset", "timeout"])
def test_hub_network_faults_are_hf_unavailable(start_server, fakes, kind) -> None:
    server = start_server(env={**fakes.env(), "RETRY_MAX_ATTEMPTS": "2"})
    fakes.hub.fail_next(kind, count=10)
    dep_id = deploy(server, fakes)
    body = server.wait_status(dep_id, "failed")
    assert body["error"]["code"] == "hf_unavailable" and body["error"]["retryable"] is True, body["error"]
    assert "cannot reach Hugging Face" in body["error"]["message"]
    assert "unexpected error" not in " ".join(messages(body))


def test_an_unusable_retry_after_from_runpod_is_ignored(start_server, fakes) -> None:
    server = start_server(env=fakes.env())
    fakes.runpod.fail_next("GET", "/v2/serverless", "status", count=1, status=429, retry_after=float("inf"))
    dep_id = deploy(server, fakes)
    body = server.wait_status(dep_id, "ready")
    logs = " ".join(messages(body))
    assert "Runpod rate limit reached; retrying in" in logs and "unexpected error" not in logs, logs


def test_a_transient_health_error_polls_again_without_using_up_attempts(start_server, fakes) -> None:
    server = start_server(env={**fakes.env(), "RETRY_MAX_ATTEMPTS": "1"})  # any step retry would fail it
    fakes.runpod.set_worker_state("initializing")
    dep_id = deploy(server, fakes, hf_model_id=SDXL)
    body = server.wait_status(dep_id, "downloading_model")
    endpoint = body["runpod_endpoint_id"]
    fakes.runpod.fail_next("GET", f"/v2/{endpoint}/health$", "status", count=4, status=503)
    wait_until(lambda: not fakes.runpod.scripted.pending, message="the health faults were not all served")
    fakes.runpod.set_worker_state("idle")
    body = server.wait_status(dep_id, "ready")
    assert body["error"] is None


@pytest.mark.parametrize("status", [503, 400])
def test_finalize_that_cannot_set_the_workers_leaves_the_deployment_serving(start_server, fakes, status) -> None:
    server = start_server(env={**fakes.env(), "RETRY_MAX_ATTEMPTS": "2"})
    fakes.runpod.fail_next("PATCH", "/v2/serverless/", "status", count=10, status=status)
    dep_id = deploy(server, fakes)
    wait_until(
        lambda: any("Could not set the serving workers" in m for m in messages(server.deployment(dep_id))),
        message="finalize did not give up visibly",
    )
    body = server.deployment(dep_id)
    assert body["status"] == "ready" and body["error"] is None, body
