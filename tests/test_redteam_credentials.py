"""A new Runpod key must reach the endpoints it is given to manage.

A key of another Runpod account sees none of this account's endpoints: Runpod answers 404 for them.
Given to a deployment (POST /v1/deployments/{id}/credential, or PUT on the credential it uses), its
cleanup would take that 404 for "already gone", report the deployment deleted and leave the endpoint
billing in the first account, out of anyone's reach. Such a key is refused with a 409 naming the
deployments; a key of the same account (a rotation) is taken as before.
"""

from __future__ import annotations

import threading

import pytest

from tests.e2e_support import create_body, wait_until


@pytest.fixture
def server(start_server, fakes):
    fakes.runpod.valid_keys |= {"rpa_other", "rpa_rotated"}
    fakes.runpod.accounts = {"rpa_other": "second-account"}  # rpa_test, rpa_valid, rpa_rotated: the first one
    return start_server(env=fakes.env())


def _ready(server, dep_id: str) -> str:
    finalized = lambda: any(s["name"] == "finalize" and s["state"] == "succeeded"  # noqa: E731
                            for s in server.deployment(dep_id)["steps"])  # fmt: skip
    wait_until(finalized)
    return server.wait_status(dep_id, "ready")["runpod_endpoint_id"]


def test_a_deployment_is_not_given_a_key_of_another_account(server, fakes) -> None:
    dep_id = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
    endpoint = _ready(server, dep_id)
    path = f"/v1/deployments/{dep_id}/credential"
    refused = server.post(path, json={"user_runpod_key": "rpa_other"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["details"]["deployment_ids"] == [dep_id] and "rpa_other" not in refused.text
    cred = server.post("/v1/credentials", json={"api_key": "rpa_other"}).json()
    assert server.post(path, json={"credential_id": cred["id"]}).status_code == 409
    # The deployment kept its key: its DELETE really removes the endpoint.
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    assert endpoint not in fakes.runpod.endpoints
    # A rotation within the same account is taken as before.
    other = server.post("/v1/deployments", json=create_body(fakes)).json()["deployment_id"]
    _ready(server, other)
    assert server.post(f"/v1/deployments/{other}/credential", json={"user_runpod_key": "rpa_rotated"}).status_code \
        == 200  # fmt: skip


def test_a_stored_credential_is_not_replaced_by_a_key_of_another_account(server, fakes) -> None:
    cred = server.post("/v1/credentials", json={"api_key": "rpa_valid"}).json()
    body = create_body(fakes, user_runpod_key=None, credential_id=cred["id"])
    dep_id = server.post("/v1/deployments", json=body).json()["deployment_id"]
    endpoint = _ready(server, dep_id)
    put = lambda key: server.client.put(  # noqa: E731
        f"/v1/credentials/{cred['id']}", json={"api_key": key}, headers=server.auth
    )
    refused = put("rpa_other")
    assert refused.status_code == 409, refused.text
    assert refused.json()["details"]["deployment_ids"] == [dep_id]
    assert server.get(f"/v1/credentials/{cred['id']}").json()["masked_key"] == "rpa_****alid"  # unchanged
    assert server.delete(f"/v1/deployments/{dep_id}").status_code == 204
    server.wait_status(dep_id, "deleted")
    assert endpoint not in fakes.runpod.endpoints
    assert put("rpa_other").status_code == 200  # no deployment holds an endpoint with it any more


def test_a_credential_is_never_deleted_under_a_deployment_being_created(server, fakes) -> None:
    """Creates naming a credential race DELETEs of it. A delete that wins leaves no deployment acting with the
    deleted credential (the create is refused, 422); a create that wins makes the delete a 409. Never both."""
    rounds, per_round = 6, 6
    accepted: list[tuple[str, str]] = []
    deleted: set[str] = set()
    odd: list[str] = []
    for _ in range(rounds):
        cred = server.post("/v1/credentials", json={"api_key": "rpa_valid"}).json()["id"]
        start = threading.Barrier(per_round + 1)

        def create(cred_id: str = cred, start: threading.Barrier = start) -> None:
            start.wait()
            body = create_body(fakes, user_runpod_key=None, credential_id=cred_id)
            resp = server.post("/v1/deployments", json=body)
            if resp.status_code == 202:
                accepted.append((resp.json()["deployment_id"], cred_id))
            elif resp.status_code != 422:
                odd.append(f"create {resp.status_code} {resp.text}")

        def delete(cred_id: str = cred, start: threading.Barrier = start) -> None:
            start.wait()
            for _ in range(per_round):
                resp = server.delete(f"/v1/credentials/{cred_id}")
                if resp.status_code in (200, 204):
                    deleted.add(cred_id)
                    return
                if resp.status_code != 409:
                    odd.append(f"delete {resp.status_code} {resp.text}")

        threads = [threading.Thread(target=create) for _ in range(per_round)] + [threading.Thread(target=delete)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not odd, odd
    orphaned = [dep_id for dep_id, cred_id in accepted if cred_id in deleted]
    assert not orphaned, f"deployments accepted with a credential deleted under them: {orphaned}"
    for dep_id, _ in accepted:  # every accepted deployment still acts with its key: it can be deleted
        server.delete(f"/v1/deployments/{dep_id}")
    for dep_id, _ in accepted:
        server.wait_status(dep_id, "deleted")
