"""On Firestore, ids that cannot name a document ("." / ".." / "__x__") are a 404 and huge integers a 422,
never a 500 from the store (issue 10.5)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e_support import OFFLINE_BODY as BODY
from tests.gcp.test_emulated_e2e import fakes, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.emulator
ERROR_KEYS = {"error", "message", "details"}


@pytest.mark.parametrize("bad_id", [".", "..", "__x__"])
def test_ids_that_cannot_name_a_document_are_a_404_on_firestore(server, bad_id) -> None:  # noqa: F811
    quoted = bad_id.replace(".", "%2E")  # keep the client from resolving dot segments
    calls = [("GET", "/v1/deployments/{}"), ("DELETE", "/v1/deployments/{}"), ("GET", "/v1/deployments/{}/logs"),
             ("GET", "/v1/deployments/{}/health"), ("POST", "/v1/deployments/{}/stop"),
             ("GET", "/v1/credentials/{}"), ("DELETE", "/v1/credentials/{}"), ("POST", "/v1/credentials/{}/default"),
             ("GET", "/v1/deployments/{}/webhook-deliveries"),
             ("POST", "/v1/deployments/dep_x/webhook-deliveries/{}/redeliver")]  # fmt: skip
    for method, path in calls:
        resp = server.client.request(method, path.format(quoted), headers=server.auth)
        assert resp.status_code == 404 and set(resp.json()) == ERROR_KEYS, (method, path, resp.text)
    for method, path in [("GET", "/admin/tenants/{}"), ("DELETE", "/admin/tenants/{}"),
                         ("GET", "/admin/tenants/{}/api-keys"), ("DELETE", "/admin/api-keys/{}")]:  # fmt: skip
        resp = server.admin(method, path.format(quoted))
        assert resp.status_code == 404 and set(resp.json()) == ERROR_KEYS, (method, path, resp.text)
    key = server.admin("POST", "/admin/api-keys", json={"tenant_id": bad_id, "name": "k"})
    assert key.status_code == 404 and set(key.json()) == ERROR_KEYS, key.text
    cred = server.post("/v1/deployments", json={**BODY, "user_runpod_key": None, "credential_id": bad_id})
    assert cred.status_code in (404, 422) and set(cred.json()) == ERROR_KEYS, cred.text
    cursor = base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00.000000Z", bad_id]).encode()).decode()
    listing = server.get("/v1/deployments", params={"cursor": cursor.rstrip("=")})
    assert listing.status_code == 422 and set(listing.json()) == ERROR_KEYS, listing.text


def test_huge_replicas_are_a_422_on_firestore_and_leave_the_name_free(server) -> None:  # noqa: F811
    body = {**BODY, "min_replicas": 2**63, "max_replicas": 2**64, "deployment_name": "huge"}
    refused = server.post("/v1/deployments", json=body)
    assert refused.status_code == 422 and set(refused.json()) == ERROR_KEYS, refused.text
    accepted = server.post("/v1/deployments", json={**body, "min_replicas": 0, "max_replicas": 1})
    assert accepted.status_code == 202, accepted.text
