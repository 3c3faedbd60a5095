"""The network-volume model cache: the tenant's Runpod volume created (or reused, or adopted after a lost
answer) in a data center with the chosen GPUs, attached to the endpoint, the HF cache pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import launch
from tests.e2e_support import TEST_INSTALL_ID, Fakes, create_body, running_fakes, wait_until


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as f:
        yield f
        assert f.runpod.violations == [], f.runpod.violations


@pytest.fixture(scope="module")
def server(tmp_path_factory, fakes):
    srv = launch(tmp_path_factory.mktemp("model_cache") / "data", fakes.env())
    yield srv
    srv.stop()


def deploy(server, fakes: Fakes, key: str, status: str = "ready", **overrides) -> dict:
    body = create_body(fakes, model_cache="network_volume", **overrides)
    resp = server.post("/v1/deployments", json=body, headers=server.as_key(key))
    assert resp.status_code == 202, resp.text
    return wait_status(server, key, resp.json()["deployment_id"], status)


def wait_status(server, key: str, dep_id: str, status: str) -> dict:
    view: dict = {}

    def reached() -> bool:
        nonlocal view
        view = server.get(f"/v1/deployments/{dep_id}", headers=server.as_key(key)).json()
        return view["status"] == status

    wait_until(reached, timeout=60, message=f"{dep_id} never became {status}")
    return view


def created_endpoint(fakes: Fakes, endpoint_id: str) -> dict:
    return next(e for e in fakes.runpod.created if e["id"] == endpoint_id)


def test_the_tenants_volume_is_created_attached_and_reused(server, fakes) -> None:
    key = server.new_tenant_key("Cache")
    first = deploy(server, fakes, key)
    (volume,) = fakes.runpod.volumes_created
    assert volume["name"].startswith(f"do-{TEST_INSTALL_ID}-cache-") and volume["size"] >= 50
    info = first["network_volume"]
    assert first["model_cache"] == "network_volume"
    assert (info["id"], info["data_center"], info["created"]) == (volume["id"], volume["dataCenter"], True)
    endpoint = created_endpoint(fakes, first["runpod_endpoint_id"])
    assert endpoint["networkVolumes"] == [volume["id"]] and endpoint["dataCenterIds"] == [volume["dataCenter"]]
    assert endpoint["env"]["HF_HOME"] == "/runpod-volume/huggingface"

    second = deploy(server, fakes, key)
    assert len(fakes.runpod.volumes_created) == 1  # reused, not a second volume
    assert second["network_volume"]["id"] == volume["id"] and second["network_volume"]["created"] is False
    assert created_endpoint(fakes, second["runpod_endpoint_id"])["networkVolumes"] == [volume["id"]]

    assert server.delete(f"/v1/deployments/{first['deployment_id']}", headers=server.as_key(key)).status_code in (
        202,
        204,
    )
    wait_status(server, key, first["deployment_id"], "deleted")
    assert volume["id"] in fakes.runpod.volumes and fakes.runpod.volumes_deleted == []  # kept for reuse

    plain = server.post("/v1/deployments", json=create_body(fakes), headers=server.as_key(key))
    plain_dep = wait_status(server, key, plain.json()["deployment_id"], "ready")
    assert plain_dep["network_volume"] is None and plain_dep["model_cache"] == "none"
    assert created_endpoint(fakes, plain_dep["runpod_endpoint_id"])["networkVolumes"] == []


def test_the_volume_goes_where_the_gpus_are(server, fakes) -> None:
    key = server.new_tenant_key("Stock")
    fakes.runpod.set_availability("AMPERE_48", "", data_centers={"EU-RO-1": "NONE", "US-KS-2": "LOW"})
    try:
        dep = deploy(server, fakes, key)
    finally:
        fakes.runpod.availability.clear()
    assert dep["network_volume"]["data_center"] == "US-KS-2"  # with stock in both, EU-RO-1 would come first
    assert created_endpoint(fakes, dep["runpod_endpoint_id"])["dataCenterIds"] == ["US-KS-2"]


def test_a_lost_create_answer_is_adopted_by_name(server, fakes) -> None:
    key = server.new_tenant_key("Lost")
    before = len(fakes.runpod.volumes_created)
    fakes.runpod.fail_next("POST", "/v2/network-volumes", "lost_create")
    dep = deploy(server, fakes, key)
    made = fakes.runpod.volumes_created[before:]
    assert len(made) == 1 and dep["network_volume"]["id"] == made[0]["id"]
    assert created_endpoint(fakes, dep["runpod_endpoint_id"])["networkVolumes"] == [made[0]["id"]]


def test_a_refusing_volume_api_fails_the_deployment_with_its_code(server, fakes) -> None:
    key = server.new_tenant_key("Refused")
    before = len(fakes.runpod.created)
    fakes.runpod.fail_next("POST", "/v2/network-volumes", "status", status=400)
    dep = deploy(server, fakes, key, status="failed")
    assert dep["error"]["code"] == "network_volume_failed" and "network volume" in dep["error"]["message"]
    assert len(fakes.runpod.created) == before  # no endpoint without its cache


def test_the_sandbox_refuses_a_model_cache(server, fakes) -> None:
    body = {"hf_model_id": "acme/any", "sandbox": True, "model_cache": "network_volume"}
    resp = server.post("/v1/deployments", json=body)
    assert resp.status_code == 422 and resp.json()["details"]["field"] == "model_cache", resp.text
