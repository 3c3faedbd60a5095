"""Budgets: signed events at 50 %, 80 % and 100 % of metered spend, the pause enforced, lifted by raising it."""

from __future__ import annotations

import time

from standardwebhooks import Webhook

from tests.e2e_support import create_body, running_fakes, wait_until
from tests.test_metrics import scrape
from tests.test_reconciler import MANUAL, reconcile_now

BUDGET_EVENTS = ("deployment.budget_warning", "deployment.budget_exceeded")
# A40 at 1.22 USD per GPU-hour: one worker spends 0.001 USD in about 3 s.
TINY = {"max_usd_total": 0.001, "action": "pause"}


def _budget_hooks(fakes) -> list[dict]:
    return [r for r in fakes.webhooks.received if isinstance(r.json, dict) and r.json.get("event") in BUDGET_EVENTS]


def test_a_budget_warns_at_50_and_80_pauses_at_100_and_is_lifted_by_raising_it(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        secret = server.get("/v1/webhooks/secret").json()["secret"]
        body = create_body(fakes, min_replicas=1, max_replicas=1, budget=TINY)
        dep_id = server.post("/v1/deployments", json=body).json()["deployment_id"]
        dep = server.wait_status(dep_id, "ready")
        assert dep["budget"] == {"max_usd_per_day": None, "max_usd_total": 0.001, "action": "pause"}
        deadline = time.monotonic() + 30
        while server.deployment(dep_id)["status"] != "paused":  # each run samples the workers and checks
            assert time.monotonic() < deadline, server.deployment(dep_id)
            reconcile_now(server)
            time.sleep(0.3)
        paused = server.deployment(dep_id)
        assert paused["paused_reason"] == "budget"
        state = paused["budget_state"]
        assert state["exceeded"] and state["action_taken"] == "pause" and "max_usd_total" in state["reason"]
        assert state["spent_usd_total"] >= 0.001
        endpoint = fakes.runpod.endpoints[paused["runpod_endpoint_id"]]
        assert endpoint["workers"]["min"] == 0 and endpoint["workers"]["max"] == 0, "workers 0/0: the bill stops"

        wait_until(lambda: len(_budget_hooks(fakes)) >= 3)
        for _ in range(2):
            reconcile_now(server)  # the thresholds stay announced once
        time.sleep(0.5)
        hooks = _budget_hooks(fakes)
        verified = [Webhook(secret).verify(h.body, h.headers) for h in hooks]  # signed like every event
        assert [(v["event"], v["budget_state"]["sent"][-1] if v["event"].endswith("exceeded") else None)
                for v in verified][-1] == ("deployment.budget_exceeded", "total:100")  # fmt: skip
        assert [v["event"] for v in verified] == [
            "deployment.budget_warning",
            "deployment.budget_warning",
            "deployment.budget_exceeded",
        ], [v["event"] for v in verified]
        assert verified[0]["sequence"] < verified[1]["sequence"] < verified[2]["sequence"]
        assert all(v["deployment_id"] == dep_id and v["budget"]["max_usd_total"] == 0.001 for v in verified)

        raised = server.client.patch(
            f"/v1/deployments/{dep_id}", headers=server.auth, json={"budget": {"max_usd_total": 5, "action": "pause"}}
        )
        assert raised.status_code == 202, raised.text
        lifted = server.deployment(dep_id)
        assert lifted["status"] == "ready" and lifted["paused_reason"] is None
        assert not lifted["budget_state"]["exceeded"] and lifted["budget"]["max_usd_total"] == 5
        assert fakes.runpod.endpoints[lifted["runpod_endpoint_id"]]["workers"]["min"] == 1
        reconcile_now(server)
        assert server.deployment(dep_id)["status"] == "ready", "within the raised budget it keeps serving"
        assert len(_budget_hooks(fakes)) == 3
        counted = scrape(server)["orchestrator_budget_actions_total"]  # Prometheus' own parser reads /metrics
        assert counted == {
            (("action", "pause"), ("event", "warning")): 2,
            (("action", "pause"), ("event", "exceeded")): 1,
            (("action", "pause"), ("event", "enforced")): 1,
            (("action", "pause"), ("event", "lifted")): 1,
        }, counted


def test_start_lifts_a_budget_pause_and_bad_budgets_are_refused(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        for bad in ({"action": "pause"}, {"max_usd_total": -1}, {"max_usd_per_day": 1, "action": "explode"}):
            resp = server.post("/v1/deployments", json=create_body(fakes, budget=bad))
            assert resp.status_code in (400, 422), (bad, resp.text)
        body = create_body(fakes, min_replicas=1, max_replicas=1, budget={"max_usd_per_day": 0.0005, "action": "pause"})
        dep_id = server.post("/v1/deployments", json=body).json()["deployment_id"]
        server.wait_status(dep_id, "ready")
        deadline = time.monotonic() + 30
        while server.deployment(dep_id)["status"] != "paused":
            assert time.monotonic() < deadline
            reconcile_now(server)
            time.sleep(0.3)
        assert server.post(f"/v1/deployments/{dep_id}/start").status_code == 200
        started = server.deployment(dep_id)
        assert started["status"] == "ready" and not started["budget_state"]["exceeded"]
        assert started["budget_state"]["reason"] == "Lifted by POST /start"
        reconcile_now(server)
        assert server.deployment(dep_id)["status"] == "ready", "lifted for the rest of the day"


def test_a_tenant_budget_set_by_the_admin_pauses_all_its_deployments_until_raised(start_server) -> None:
    with running_fakes() as fakes:
        server = start_server(env={**fakes.env(), **MANUAL})
        made = {"name": "Spender", "email": "spender@example.com", "tier": "enterprise"}
        tenant_id = server.admin("POST", "/admin/tenants", json=made).json()["id"]
        key = server.admin("POST", f"/admin/tenants/{tenant_id}/api-keys", json={"name": "k"}).json()["key"]
        headers = server.as_key(key)
        body = create_body(fakes, min_replicas=1, max_replicas=1)
        dep_id = server.post("/v1/deployments", json=body, headers=headers).json()["deployment_id"]
        wait_until(lambda: server.get(f"/v1/deployments/{dep_id}", headers=headers).json()["status"] == "ready")
        patched = server.admin("PATCH", f"/admin/tenants/{tenant_id}", json={"budget": TINY})
        assert patched.status_code == 200, patched.text
        assert patched.json()["budget"]["max_usd_total"] == 0.001
        deadline = time.monotonic() + 30
        while server.get(f"/v1/deployments/{dep_id}", headers=headers).json()["status"] != "paused":
            assert time.monotonic() < deadline
            reconcile_now(server)
            time.sleep(0.3)
        paused = server.get(f"/v1/deployments/{dep_id}", headers=headers).json()
        assert paused["paused_reason"] == "tenant_budget"
        tenant = server.admin("GET", f"/admin/tenants/{tenant_id}").json()
        assert tenant["budget_state"]["exceeded"] and "Tenant budget reached" in tenant["budget_state"]["reason"]
        wait_until(lambda: "deployment.budget_exceeded" in [h.json["event"] for h in _budget_hooks(fakes)])
        raised = server.admin("PATCH", f"/admin/tenants/{tenant_id}", json={"budget": {"max_usd_total": 10}})
        assert raised.status_code == 200, raised.text
        assert not (raised.json()["budget_state"] or {}).get("exceeded"), raised.json()
        assert server.get(f"/v1/deployments/{dep_id}", headers=headers).json()["status"] == "ready"
