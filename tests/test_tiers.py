"""Tiers and quotas, end to end: what each tier may do, the quotas (with creates racing for the last slot),
tier changes applied at once, per-tier requests per minute, and their place in /openapi.json."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e_support import create_body, fresh_rate_window, wait_until

# pro's quotas made small, so the tests reach them; the other tiers as shipped.
QUOTA_TABLE = {
    "tiers": {
        "free": {"quotas": {"requests_per_minute": 4}},
        "starter": {},
        "pro": {
            "self_service_credentials": True,
            "instances": True,
            "log_streams": True,
            "quotas": {"concurrent_deployments": 2, "gpus_per_deployment": 2, "total_gpus": 3},
        },
        "enterprise": {"self_service_credentials": True, "instances": True, "log_streams": True},
    }
}


@pytest.fixture
def server(start_server, fakes):
    return start_server(env=fakes.env())


def tenant(server, tier: str | None, name: str = "T") -> tuple[str, dict[str, str]]:
    body = {"name": name, "email": f"{name.lower()}@example.com"} | ({"tier": tier} if tier else {})
    created = server.admin("POST", "/admin/tenants", json=body)
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    key = server.admin("POST", "/admin/api-keys", json={"tenant_id": tid, "name": "k"}).json()["key"]
    return tid, server.as_key(key)


def create(server, fakes, headers, **overrides) -> httpx.Response:
    return server.client.post("/v1/deployments", json=create_body(fakes, **overrides), headers=headers)


def assert_tier_error(resp: httpx.Response, tier: str, feature: str) -> None:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["error"] == "TierError" and tier in body["message"], body
    assert body["details"] == {"tier": tier, "feature": feature, "allowed_tiers": ["pro", "enterprise"]}


def test_free_and_starter_get_shared_inference_usage_and_keys_only(server, fakes) -> None:
    tid, free = tenant(server, None, "Free")
    assert server.admin("GET", f"/admin/tenants/{tid}").json()["tier"] == "free"  # the seed's default
    _, starter = tenant(server, "starter", "Starter")
    for tier, headers in (("free", free), ("starter", starter)):
        assert_tier_error(create(server, fakes, headers), tier, "instances")
        cred = {"name": "mine", "credentials": {"api_key": "rpa_test"}}
        assert_tier_error(server.client.post("/v1/credentials", json=cred, headers=headers), tier,
                          "self_service_credentials")  # fmt: skip
        for path in ("/v1/credentials", "/v1/credentials/cred_x"):
            assert_tier_error(server.client.get(path, headers=headers), tier, "self_service_credentials")
        assert_tier_error(server.client.put("/v1/credentials/cred_x", json={"api_key": "rpa_x"}, headers=headers),
                          tier, "self_service_credentials")  # fmt: skip
        stream = server.client.get("/v1/deployments/dep_x/logs/stream", headers=headers)
        assert_tier_error(stream, tier, "log_streams")
        assert "RateLimit-Limit" in stream.headers  # the refusal was counted like any request
        for path in ("/v1/deployments", "/v1/models", "/v1/webhooks/secret"):  # what every tier has
            assert server.client.get(path, headers=headers).status_code == 200, path


@pytest.mark.parametrize("tier", ["pro", "enterprise"])
def test_pro_and_enterprise_get_credentials_instances_and_log_streams(server, fakes, tier) -> None:
    _, headers = tenant(server, tier, tier.title())
    cred = server.client.post("/v1/credentials", json={"credentials": {"api_key": "rpa_test"}}, headers=headers)
    assert cred.status_code == 201, cred.text
    created = create(server, fakes, headers, user_runpod_key=None, credential_id=cred.json()["id"])
    assert created.status_code == 202, created.text
    dep_id = created.json()["deployment_id"]
    with server.client.stream("GET", f"/v1/deployments/{dep_id}/logs/stream?follow=true", headers=headers) as s:
        assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
        assert next(s.iter_lines()).startswith(("event:", "id:", ":", "retry:"))


def test_tier_change_applies_to_the_next_request(server, fakes) -> None:
    tid, headers = tenant(server, "free", "Mover")
    assert_tier_error(create(server, fakes, headers), "free", "instances")
    assert server.admin("PATCH", f"/admin/tenants/{tid}", json={"tier": "pro"}).json()["tier"] == "pro"
    assert create(server, fakes, headers).status_code == 202
    assert server.client.get("/v1/credentials", headers=headers).status_code == 200
    server.admin("PATCH", f"/admin/tenants/{tid}", json={"tier": "starter"})
    assert_tier_error(create(server, fakes, headers), "starter", "instances")
    assert server.client.get("/v1/deployments", headers=headers).json()["data"]  # what it has stays visible


def test_bootstrap_tenants_are_enterprise(server) -> None:
    listed = server.admin("GET", "/admin/tenants").json()["data"]
    boot = [t for t in listed if t["id"].startswith("tenant_boot_")]
    assert boot and {t["tier"] for t in boot} == {"enterprise"}


def test_openapi_documents_tier_and_quota_errors(server) -> None:
    paths = server.client.get("/openapi.json").json()["paths"]
    create_403 = paths["/v1/deployments"]["post"]["responses"]["403"]
    assert "TierError" in create_403["description"] and "QuotaExceededError" in create_403["description"]
    assert create_403["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "TierError" in paths["/v1/credentials"]["post"]["responses"]["403"]["description"]
    assert "TierError" in paths["/v1/deployments/{deployment_id}/logs/stream"]["get"]["responses"]["403"]["description"]
    assert "403" not in paths["/v1/models"]["get"]["responses"]


# ---- quotas (the operator's table: TIERS as JSON) -----------------------------------------------


@pytest.fixture
def quota_server(start_server, fakes):
    return start_server(env={**fakes.env(), "TIERS": json.dumps(QUOTA_TABLE)})


def quota_error(resp: httpx.Response) -> dict:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["error"] == "QuotaExceededError", body
    return dict(body["details"])


def test_concurrent_deployments_quota_counts_live_deployments(quota_server, fakes) -> None:
    server = quota_server
    _, headers = tenant(server, "pro", "Pro")
    first = create(server, fakes, headers).json()["deployment_id"]
    assert create(server, fakes, headers).status_code == 202
    details = quota_error(create(server, fakes, headers))
    assert details == {"tier": "pro", "quota": "concurrent_deployments", "limit": 2, "current": 2, "requested": 1}
    assert server.client.delete(f"/v1/deployments/{first}", headers=headers).status_code in (202, 204)
    assert create(server, fakes, headers).status_code == 202  # a deleted one no longer counts


def test_creates_racing_for_the_last_slot_get_it_once(quota_server, fakes) -> None:
    server = quota_server
    _, headers = tenant(server, "pro", "Racer")
    assert create(server, fakes, headers).status_code == 202
    body = create_body(fakes)

    def one(_: int) -> int:
        return httpx.post(f"{server.base_url}/v1/deployments", json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(8)))
    assert sorted(statuses) == [202] + [403] * 7, statuses
    live = server.client.get("/v1/deployments", headers=headers).json()["data"]
    assert len(live) == 2


def test_gpu_quotas_per_deployment_and_in_total(quota_server, fakes) -> None:
    server = quota_server
    _, headers = tenant(server, "pro", "Gpus")
    details = quota_error(create(server, fakes, headers, gpu_count=3))
    assert details["quota"] == "gpus_per_deployment" and details["limit"] == 2 and details["requested"] == 3
    details = quota_error(create(server, fakes, headers, gpu_count=1, max_replicas=3))  # 1 GPU x 3 workers
    assert details["quota"] == "gpus_per_deployment"
    two = create(server, fakes, headers, gpu_count=2)
    assert two.status_code == 202, two.text
    details = quota_error(create(server, fakes, headers, gpu_count=2))
    assert details == {"tier": "pro", "quota": "total_gpus", "limit": 3, "current": 2, "requested": 2}
    one = create(server, fakes, headers, gpu_count=1)
    assert one.status_code == 202, one.text
    dep_id = one.json()["deployment_id"]
    scaled = server.client.post(f"/v1/deployments/{dep_id}/scale", json={"min_replicas": 0, "max_replicas": 2},
                                headers=headers)  # fmt: skip
    assert quota_error(scaled)["quota"] == "total_gpus"


def test_requests_per_minute_follow_the_tier(quota_server) -> None:
    server = quota_server
    tid, headers = tenant(server, "free", "Chatty")
    fresh_rate_window()
    statuses = [server.client.get("/v1/deployments", headers=headers).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429], statuses
    limited = server.client.get("/v1/models", headers=headers)
    assert limited.status_code == 429 and limited.headers["RateLimit-Limit"] == "4"
    server.admin("PATCH", f"/admin/tenants/{tid}", json={"tier": "enterprise"})  # RATE_LIMIT_PER_MINUTE now
    assert server.client.get("/v1/deployments", headers=headers).status_code == 200


def test_an_invalid_tier_table_stops_the_server(start_server) -> None:
    with pytest.raises(RuntimeError, match="TIERS"):
        start_server(env={"TIERS": '{"tiers": {"free": {}}}'})


def test_updates_need_the_tier_and_its_quotas(quota_server, fakes) -> None:
    server = quota_server
    _, free = tenant(server, None, "FreeUpd")
    for method, path, body in (
        ("PATCH", "/v1/deployments/dep_x", {"max_replicas": 2}),
        ("POST", "/v1/deployments/dep_x/rollback", None),
        ("POST", "/deploy", {"model_id": "gpt2"}),
    ):
        assert_tier_error(server.client.request(method, path, json=body, headers=free), "free", "instances")
    _, pro = tenant(server, "pro", "ProUpd")
    created = create(server, fakes, pro, gpu_count=1)
    assert created.status_code == 202, created.text
    dep_id = created.json()["deployment_id"]
    server.api_key = pro["Authorization"].removeprefix("Bearer ")
    server.wait_status(dep_id, "ready")
    last_step = lambda: server.deployment(dep_id)["steps"][-1]  # noqa: E731
    wait_until(lambda: last_step()["name"] == "finalize" and last_step()["state"] != "running", message="no finalize")
    for change in ({"max_replicas": 3}, {"gpu_count": 3}):  # in place, and green: refused before either starts
        refused = server.client.patch(f"/v1/deployments/{dep_id}", json=change, headers=pro)
        assert quota_error(refused)["quota"] == "gpus_per_deployment", change
    assert server.deployment(dep_id)["update"] is None
    allowed = server.client.patch(f"/v1/deployments/{dep_id}", json={"max_replicas": 2}, headers=pro)
    assert allowed.status_code == 202, allowed.text
