"""The network-volume model cache (`model_cache: "network_volume"`): one Runpod network volume per tenant
and data center, holding the Hugging Face cache, so a restart or a new worker does not download the
weights again.

The volume is found or created by its name, `<prefix><install id>-cache-<tenant tag>-<data center>`, so a
create whose answer was lost is adopted on the retry (never a second volume), and the product only ever
uses (and would only ever change) volumes named so: a volume of the user's own is never touched. Volumes
are kept when deployments are deleted: the tenant's next deployment in that data center reuses the
weights already there (deleting one is the operator's or the user's call). The data center is the one
where the deployment's chosen pools have the best live stock (Runpod's catalog), preferring one where
the tenant already has a volume; the endpoint is then pinned to it (`dataCenterIds`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from shared.catalog.availability import rank, type_level
from shared.catalog.worker_image import MIN_CUDA_VERSION
from shared.clients.runpod import RunpodError
from shared.platform.faults import Fault
from shared.schemas.model_cache import NetworkVolumeInfo
from shared.schemas.stored import Deployment
from shared.services import Services

if TYPE_CHECKING:  # the client module brings httpx: kept off the cold path of functions that only read
    from shared.clients.runpod import RunpodClient

ERROR_CODE = "network_volume_failed"
MOUNT = "/runpod-volume"
HF_HOME = f"{MOUNT}/huggingface"  # worker-vllm reads HF_HOME; the inference container finds the volume itself
MIN_SIZE_GB = 50  # room for a few models of the tenant
MAX_SIZE_GB = 4096  # Runpod's limit
CATALOG_TIMEOUT_SECONDS = 5.0


def volume_name(svc: Services, owner: str, data_center: str) -> str:
    tag = hashlib.sha256(owner.encode()).hexdigest()[:12]  # the tenant, without showing its id to Runpod
    return f"{svc.settings.endpoint_name_prefix}{svc.settings.install_id or ''}-cache-{tag}-{data_center.lower()}"


def size_needed(dep: Deployment) -> int:
    weights = float(dep.model_facts.get("weights_gb") or 10)
    return min(MAX_SIZE_GB, max(MIN_SIZE_GB, math.ceil(weights * 2) + 10))


def provision(svc: Services, client: RunpodClient, dep: Deployment) -> NetworkVolumeInfo:
    """The tenant's volume in a data center that has the deployment's GPUs: reused, adopted or created."""
    try:
        return _provision(svc, client, dep)
    except RunpodError as exc:
        if exc.kind == "unauthorized":
            raise  # the key itself: the deployment's usual error
        raise Fault(
            ERROR_CODE,
            f"Runpod's network volume API failed ({exc.message}); deploy without model_cache or retry",
            transient=exc.transient,
            retry_after=exc.retry_after,
        ) from None


def _provision(svc: Services, client: RunpodClient, dep: Deployment) -> NetworkVolumeInfo:
    volumes = client.list_network_volumes()
    mine = {v.get("dataCenter"): v for v in volumes if v.get("name", "").startswith(volume_name(svc, dep.owner, ""))}
    gpus = client.gpu_stock(MIN_CUDA_VERSION, timeout=CATALOG_TIMEOUT_SECONDS)
    levels = data_center_levels(gpus, dep.gpu_pools, dep.data_center_ids)
    data_center = choose(levels, mine)
    if data_center is None:
        raise Fault(
            ERROR_CODE,
            f"No data center has {', '.join(dep.gpu_pools)} in stock for a network volume; retried until some has",
            transient=True,
        )
    name, need = volume_name(svc, dep.owner, data_center), size_needed(dep)
    found = next((v for v in volumes if v.get("name") == name and v.get("dataCenter") == data_center), None)
    if found is None:
        found = client.create_network_volume({"name": name, "size": need, "dataCenter": data_center})
        created = True
    else:
        created = False
        if int(found.get("size") or 0) < need:  # a bigger model than the volume was made for
            found = client.update_network_volume(str(found["id"]), {"size": need})
    return NetworkVolumeInfo(
        id=str(found["id"]), name=name, data_center=data_center, size_gb=int(found.get("size") or need), created=created
    )


def data_center_levels(gpus: Iterable[Mapping[str, Any]], pools: list[str], allowed: list[str]) -> dict[str, str]:
    """Data center -> the best catalog level of the pools' GPU types there (only `allowed` ones, when given)."""
    levels: dict[str, str] = {}
    for gpu in gpus:
        if gpu.get("pool") not in pools:
            continue
        for dc in gpu.get("dataCenters") or []:
            dc_id = dc.get("id")
            if not dc_id or (allowed and dc_id not in allowed):
                continue
            level = type_level(gpu, [dc_id])
            if rank(level) > rank(levels.get(dc_id, "NONE")) or dc_id not in levels:
                levels[dc_id] = level
    return levels


def choose(levels: Mapping[str, str], tenant_volumes: Mapping[Any, Any]) -> str | None:
    """A data center with stock: where the tenant already has a volume first, then the best stocked."""
    stocked = [dc for dc, level in levels.items() if level != "NONE"]
    if not stocked:
        return None
    return max(sorted(stocked), key=lambda dc: (dc in tenant_volumes, rank(levels[dc])))


def endpoint_fields(volume: NetworkVolumeInfo) -> dict[str, Any]:
    """What the endpoint body gets: the volume attached, and its workers pinned to its data center."""
    return {"networkVolumes": [volume.id], "dataCenterIds": [volume.data_center]}
