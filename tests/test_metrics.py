"""GET /metrics end to end: Prometheus' own parser reads it; store gauges and process counters move with
what the server did; the admin token guards it unless METRICS_PUBLIC=true."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_TOKEN
from tests.e2e_support import create_body, wait_until


def scrape(server, headers: dict[str, str] | None = None) -> dict[str, dict[tuple, float]]:
    resp = server.client.get("/metrics", headers=headers if headers is not None else {"X-Admin-Token": ADMIN_TOKEN})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_follow_deployments_steps_deliveries_and_upstream_calls(start_server, fakes) -> None:
    server = start_server(env=fakes.env())
    before = scrape(server)
    assert before["orchestrator_deployments"][(("status", "ready"),)] == 0
    assert before["orchestrator_queue_depth"][()] >= 0
    dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
    server.wait_status(dep_id, "ready")
    fakes.webhooks.wait_for(lambda r: r.json.get("event") == "deployment.ready")
    bad = server.post("/v1/deployments", json=create_body(fakes, user_runpod_key="rpa_wrong")).json()["deployment_id"]
    server.wait_status(bad, "failed")

    def settled() -> bool:
        return scrape(server)["orchestrator_webhook_deliveries"][(("result", "delivered"),)] >= 1

    wait_until(settled)
    after = scrape(server)
    assert after["orchestrator_deployments"][(("status", "ready"),)] == 1
    assert after["orchestrator_deployments"][(("status", "failed"),)] == 1
    (failure,) = after["orchestrator_failed_deployments"].items()
    assert dict(failure[0])["code"] == "runpod_unauthorized" and failure[1] == 1
    assert after["orchestrator_upstream_calls_total"][(("outcome", "ok"), ("service", "runpod"))] >= 1
    assert after["orchestrator_upstream_calls_total"][(("outcome", "ok"), ("service", "huggingface"))] >= 2
    assert after["orchestrator_upstream_calls_total"][(("outcome", "unauthorized"), ("service", "runpod"))] >= 1
    assert after["orchestrator_upstream_calls_total"][(("outcome", "ok"), ("service", "webhook"))] >= 1
    assert after["orchestrator_step_duration_seconds_count"][(("step", "validate"),)] >= 2
    assert after["orchestrator_step_duration_seconds_bucket"][(("le", "+Inf"), ("step", "validate"))] >= 2
    (code,) = [dict(k)["code"] for k in after["orchestrator_step_failures_total"]]
    assert code == "runpod_unauthorized"
    assert (
        after["orchestrator_queue_tasks"][(("state", "done"),)]
        > before["orchestrator_queue_tasks"][(("state", "done"),)]
    )


def test_metrics_need_the_admin_token_unless_public(start_server) -> None:
    closed = start_server()
    assert closed.client.get("/metrics").status_code == 401
    assert closed.client.get("/metrics", headers={"X-Admin-Token": "x" * 40}).status_code == 401
    assert closed.get("/metrics").status_code == 401  # a tenant's API key is not enough
    open_ = start_server(env={"METRICS_PUBLIC": "true"})
    assert "orchestrator_deployments" in scrape(open_, headers={})
