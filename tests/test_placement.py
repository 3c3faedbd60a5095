"""Placement: pools ranked by fit, then Runpod's live availability, then price, and the decision shown.

End to end against the fake Runpod, whose catalog serves `include=AVAILABILITY&product=SERVERLESS` per
its spec with the per-pool stock a test sets; the ranking itself also as pure domain logic.
"""

from __future__ import annotations

import pytest

from shared.catalog import gpu_pools
from shared.catalog.availability import Stock, pool_levels
from tests.e2e_support import SDXL, create_body

CATALOG = "/v2/catalog/gpus"


def gpu(pool: str, availability: str, data_centers: dict[str, str], cuda: list[str] | None = None) -> dict:
    listed = {"id": f"{pool} card", "pool": pool, "availability": availability}
    listed["dataCenters"] = [{"id": dc, "name": dc, "availability": lv} for dc, lv in data_centers.items()]
    if cuda is not None:
        listed["cudaVersions"] = [{"version": v, "available": True} for v in cuda]
    return listed


def test_a_pools_availability_is_the_best_of_its_types_in_the_allowed_data_centers() -> None:
    gpus = [
        gpu("AMPERE_48", "HIGH", {"US-KS-2": "HIGH", "EU-RO-1": "LOW"}),
        gpu("AMPERE_48", "MEDIUM", {"EU-RO-1": "MEDIUM"}),
        gpu("ADA_24", "HIGH", {"US-KS-2": "HIGH"}),
        gpu("AMPERE_80", "HIGH", {"US-KS-2": "HIGH"}, cuda=[]),  # nothing at the CUDA floor
    ]
    assert pool_levels(gpus) == {"AMPERE_48": "HIGH", "ADA_24": "HIGH", "AMPERE_80": "NONE"}
    assert pool_levels(gpus, ["EU-RO-1"]) == {"AMPERE_48": "MEDIUM", "ADA_24": "NONE", "AMPERE_80": "NONE"}


def test_ranking_is_fit_then_availability_then_price() -> None:
    stock = Stock({"AMPERE_16": "NONE", "AMPERE_24": "LOW", "ADA_24": "HIGH", "AMPERE_48": "HIGH"})
    choice = gpu_pools.select(20.0, stock=stock)  # 20 GB: AMPERE_16 is too small anyway
    assert choice.pools[:2] == ["ADA_24", "AMPERE_48"] and choice.gpu_count == 1
    by_pool = {c["pool"]: c for c in choice.candidates}
    assert by_pool["AMPERE_16"]["skipped"] and "too small" in by_pool["AMPERE_16"]["reason"]
    assert by_pool["ADA_24"]["chosen"] and by_pool["ADA_24"]["availability"] == "HIGH"

    out = Stock({"AMPERE_24": "NONE", "ADA_24": "HIGH"})
    choice = gpu_pools.select(20.0, stock=out)
    assert choice.pools[0] == "ADA_24" and "AMPERE_24" not in choice.pools
    skipped = {c["pool"]: c for c in choice.candidates}["AMPERE_24"]
    assert skipped["skipped"] and not skipped["chosen"] and "no stock" in skipped["reason"]


def test_without_the_catalog_pools_rank_by_price_and_say_why() -> None:
    choice = gpu_pools.select(20.0, stock=Stock({}, error="timed out"))
    assert choice.pools == gpu_pools.select(20.0).pools == ["AMPERE_24", "ADA_24", "AMPERE_48"]
    assert "live availability unknown: timed out" in choice.reason
    assert all(c["availability"] is None for c in choice.candidates)


@pytest.fixture
def server(start_server, fakes):
    return start_server(env=fakes.env())


def _deploy(server, fakes) -> tuple[dict, dict]:
    resp = server.post("/v1/deployments", json=create_body(fakes, hf_model_id=SDXL, gpu_tier="auto"))
    assert resp.status_code == 202, resp.text
    body = server.wait_status(resp.json()["deployment_id"], "ready")
    (created,) = [e for e in fakes.runpod.created if e["id"] == body["runpod_endpoint_id"]]
    return body, created


def test_unavailable_pools_are_skipped_and_the_decision_is_shown(server, fakes) -> None:
    for pool in gpu_pools.pools():
        fakes.runpod.set_availability(pool.id, "LOW")
    fakes.runpod.set_availability("AMPERE_16", "NONE")  # the cheapest that fits: out of stock
    fakes.runpod.set_availability("AMPERE_80", "HIGH", {"US-KS-2": "HIGH", "EU-RO-1": "NONE"})
    body, created = _deploy(server, fakes)

    placement = body["placement"]
    assert placement["availability_source"] == "runpod_catalog" and placement["required_vram_gb"] > 0
    assert created["gpu"]["pools"] == placement["chosen"] == body["gpu_pools"]
    # HIGH first despite its price, then the LOW ones by price; the cheapest pool is out of stock.
    assert placement["chosen"] == ["AMPERE_80", "AMPERE_24", "ADA_24"]
    by_pool = {c["pool"]: c for c in placement["candidates"]}
    assert by_pool["AMPERE_16"]["availability"] == "NONE" and by_pool["AMPERE_16"]["skipped"]
    assert "no stock" in by_pool["AMPERE_16"]["reason"]
    assert by_pool["AMPERE_80"]["chosen"] and by_pool["AMPERE_80"]["price_per_gpu_hour"] == 2.74
    # The image's CUDA floor goes on the endpoint and scopes the catalog read.
    assert created["gpu"]["minCudaVersion"] == placement["min_cuda_version"] == "12.8"
    (read,) = fakes.runpod.requests_to("GET", CATALOG)
    assert read.query == {"include": "AVAILABILITY", "product": "SERVERLESS", "minCudaVersion": "12.8"}


def test_pools_without_the_images_cuda_version_are_skipped(server, fakes) -> None:
    # The two cheapest pools that fit only run hosts older than the images' CUDA floor (12.8).
    fakes.runpod.pool_cuda_versions = {"AMPERE_16": ["12.4"], "AMPERE_24": ["12.2", "12.4"]}
    body, created = _deploy(server, fakes)
    by_pool = {c["pool"]: c for c in body["placement"]["candidates"]}
    for pool in ("AMPERE_16", "AMPERE_24"):
        assert by_pool[pool]["availability"] == "NONE" and by_pool[pool]["skipped"], pool
        assert pool not in created["gpu"]["pools"]
    assert created["gpu"]["pools"][0] == "ADA_24" and by_pool["ADA_24"]["availability"] == "HIGH"


def test_catalog_failure_falls_back_to_price_with_the_reason(server, fakes) -> None:
    fakes.runpod.fail_next("GET", CATALOG, "status", count=20, status=500)
    body, created = _deploy(server, fakes)
    placement = body["placement"]
    assert placement["availability_source"].startswith("unavailable: Runpod's catalog did not answer")
    assert created["gpu"]["pools"] == gpu_pools.select(placement["required_vram_gb"]).pools
    assert "live availability unknown" in body["gpu_reason"]
    assert body["cost"]["price_source"] == "shipped_table"
