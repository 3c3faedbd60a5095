"""Green updates: what a generation is made of, and the green candidate the update steps work on.

A deployment serves one generation (`generation`, on `runpod_endpoint_id`). An update builds the next
one beside it: `update.config` is the configuration asked for, `update.fields` what the green steps
found (sizing, GPUs, image, its endpoint). `candidate` is the deployment as the green generation would
be, so the steps that size and create a deployment serve the green unchanged; the switch copies
SWITCHED fields onto the deployment in one write.
"""

from __future__ import annotations

from typing import Any

from shared.deploy.endpoint_names import GENERATION_SUFFIX, generation_name
from shared.schemas.stored import Deployment, GenerationRecord

# The configuration a generation is made of (Deployment field names), as an update may change it.
CONFIG_KEYS = (
    "model_id",
    "revision",
    "gpu_tier",
    "gpu_count_requested",
    "extra_env",
    "data_center_ids",
    "idle_timeout_seconds",
    "min_replicas",
    "max_replicas",
)
# Applied on the live endpoint without a new one (a PATCH of its workers and idle timeout).
IN_PLACE_KEYS = frozenset({"idle_timeout_seconds", "min_replicas", "max_replicas"})
# What sizing and endpoint creation find for a generation: moved onto the deployment at the switch.
FOUND_KEYS = (
    "model_vram_gb",
    "model_facts",
    "gpu_pools",
    "gpu_count",
    "gpu_reason",
    "placement",
    "worker",
    "price_per_gpu_hour",
    "price_source",
    "runpod_endpoint_id",
    "endpoint_url",
    "endpoint_created_at",
    "gpu_allocated",
)
SWITCHED = (*CONFIG_KEYS, *FOUND_KEYS)
# Facts that belong to one model's sizing: dropped when an update names another model or revision.
SIZED_FACTS = (
    "library_name",
    "pipeline_tag",
    "sha",
    "gated",
    "weights_gb",
    "required_vram_gb",
    "max_model_len",
    "estimate",
    "registry_vram_gb",
)
UPDATE_STEPS = frozenset(
    {
        "update_validate",
        "update_select_gpu",
        "update_create",
        "update_wait",
        "update_switch",
        "update_drain",
        "update_retire",
        "update_abort",
    }
)


def config_of(dep: Deployment) -> dict[str, Any]:
    return dep.model_dump(mode="json", include=set(CONFIG_KEYS))


def candidate(dep: Deployment) -> Deployment:
    """The deployment as the green generation of its running update would be."""
    u = dep.update
    assert u is not None, "only a deployment with an update has a green candidate"
    base = dep.model_dump(mode="json", exclude={"runpod_endpoint_id", "endpoint_url", "endpoint_created_at"})
    if (u.config.get("model_id"), u.config.get("revision")) != (dep.model_id, dep.revision):
        base["model_facts"] = {k: v for k, v in dep.model_facts.items() if k not in SIZED_FACTS}
    base["worker"] = {}
    base.update(u.config)
    base.update(u.fields)
    base["generation"] = u.generation
    base["endpoint_name"] = generation_name(dep.endpoint_name, u.generation)
    return Deployment.model_validate(base)


def found_fields(green: Deployment) -> dict[str, Any]:
    return green.model_dump(mode="json", include=set(FOUND_KEYS) - {"runpod_endpoint_id", "endpoint_url"})


def green_endpoint_ids(dep: Deployment) -> list[str]:
    """Endpoints of a running update besides the serving one: the green's, and the one being retired."""
    if dep.update is None:
        return []
    ids = [dep.update.fields.get("runpod_endpoint_id"), dep.update.old_endpoint_id]
    return [str(i) for i in ids if i]


def draining_endpoint(dep: Deployment) -> str | None:
    """The previous endpoint while a switched update drains it (its jobs may still be asked about)."""
    u = dep.update
    return u.old_endpoint_id if u is not None and u.state == "retiring" else None


def is_generation_of(dep: Deployment, name: str) -> bool:
    """True for the name of any generation's endpoint of this deployment."""
    if name == dep.endpoint_name:
        return True
    rest = name.removeprefix(dep.endpoint_name)
    return rest != name and GENERATION_SUFFIX.fullmatch(rest) is not None


def generation_record(dep: Deployment, task_id: str | None) -> GenerationRecord:
    """The serving generation as `generations[]` keeps it."""
    return GenerationRecord(
        generation=dep.generation,
        task_id=task_id,
        config=config_of(dep),
        runpod_endpoint_id=dep.runpod_endpoint_id,
        gpu_allocated=dep.gpu_allocated,
        gpu_count=dep.gpu_count,
        worker_image=dep.worker.get("image"),
        started_at=dep.endpoint_created_at or dep.created_at,
        serving_at=dep.ready_at,
    )
