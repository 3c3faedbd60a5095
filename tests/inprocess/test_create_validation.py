"""What a create (and a scale) refuses before anything is scheduled, and how deployment names are held."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.accounts.tenants import bootstrap_tenant_id
from shared.platform.clock import iso
from tests.e2e_support import OFFLINE_BODY, SDXL
from tests.inprocess.conftest import InProcess, MakeInProcess

NAMES = "deployment_names"  # the collection of name claims (shared/deploy/deployment_names.py)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/x", "http://localhost/x", "http://app.localhost/x", "http://10.0.0.8/x",
     "http://172.16.3.4/x", "http://192.168.1.1/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
     "http://[fd00::1]/x", "http://[::ffff:127.0.0.1]/x", "http://2130706433/x", "http://0177.0.0.1/x",
     "http://0x7f000001/x", "http://127.1/x", "http://0.0.0.0/x", "http://100.64.0.1/x", "http://224.0.0.1/x",
     "http://[fe80::1]/x", "ftp://example.com/x", "file:///etc/passwd", "https://user:pw@example.com/x"],
)  # fmt: skip
def test_ssrf_targets_are_refused_at_create(make_inprocess: MakeInProcess, url: str) -> None:
    app = make_inprocess(env={"ALLOW_PRIVATE_WEBHOOKS": "false"})
    body = {"hf_model_id": SDXL, "user_runpod_key": "rpa_test", "user_webhook_url": url}
    resp = app.post("/v1/deployments", json=body)
    assert resp.status_code == 422, (url, resp.text)
    assert resp.json["error"] == "ValidationError"
    assert app.queue.tasks == []


@pytest.mark.parametrize(
    "change",
    [{"min_replicas": 3, "max_replicas": 2}, {"min_replicas": -1}, {"max_replicas": 0},
     {"env": {"HF_TOKEN": "x"}}, {"env": {"MY_API_KEY": "abc"}}, {"env": {"OK_NAME": "rpa_abcdef"}},
     {"env": {"lower": "x"}}, {"deployment_name": "Bad Name"}, {"gpu_count": 0}, {"idle_timeout_seconds": 0},
     {"data_center_ids": ["not a dc"]}],
)  # fmt: skip
def test_create_options_are_validated(app: InProcess, change: dict[str, Any]) -> None:
    resp = app.post("/v1/deployments", json={**OFFLINE_BODY, **change})
    assert resp.status_code == 422, resp.text
    assert "rpa_abcdef" not in resp.text


@pytest.mark.parametrize(
    "body",
    [{"min_replicas": -1, "max_replicas": 2}, {"min_replicas": 0, "max_replicas": 0},
     {"min_replicas": 3, "max_replicas": 2}, {"min_replicas": 1}, {"min_replicas": "x", "max_replicas": 2},
     {"min_replicas": 1, "max_replicas": 2, "extra": True}],
)  # fmt: skip
def test_scale_validation(app: InProcess, body: dict[str, Any]) -> None:
    dep_id = app.create()
    resp = app.post(f"/v1/deployments/{dep_id}/scale", json=body)
    assert resp.status_code == 422 and resp.json["error"] == "ValidationError"


def test_a_refused_create_does_not_keep_the_name(app: InProcess) -> None:
    refused = app.post("/v1/deployments", json={**OFFLINE_BODY, "deployment_name": "keep", "gpu_tier": "NOPE"})
    assert refused.status_code == 422, refused.text
    app.create(deployment_name="keep")


def test_a_claim_whose_create_crashed_is_freed_after_a_grace_period(app: InProcess) -> None:
    """What a create that crashed between claiming the name and writing its deployment leaves behind."""
    app.create()  # makes the key's tenant exist
    tenant = bootstrap_tenant_id(app.api_key)
    now = app.svc.now()
    claims = (
        ("fresh", "dep_2026_00000000000000aa", now),
        ("stale", "dep_2026_00000000000000bb", now - timedelta(minutes=5)),
    )
    for name, dep_id, claimed_at in claims:
        claim = {"owner": tenant, "deployment_id": dep_id, "claimed_at": iso(claimed_at)}
        assert app.svc.store.create(NAMES, f"{tenant}:{name}", claim)
    fresh = app.post("/v1/deployments", json={**OFFLINE_BODY, "deployment_name": "fresh"})
    assert fresh.status_code == 409, "a claim younger than the grace period may still be a create in flight"
    stale = app.post("/v1/deployments", json={**OFFLINE_BODY, "deployment_name": "stale"})
    assert stale.status_code == 202, stale.text
    assert app.get(f"/v1/deployments/{stale.json['deployment_id']}").json["deployment_name"] == "stale"
