"""GET /v1/models: what a caller can put in `model` now, and what it could deploy by name."""

from __future__ import annotations

from shared.catalog import model_registry
from shared.deploy.records import OPERATOR
from shared.proxy.routing import deployments_of
from shared.schemas.inference import DeployableName, ModelCard, ModelList
from shared.schemas.states import SERVING
from shared.services import Services
from shared.store import Where


def list_models(svc: Services, owner: str) -> ModelList:
    """Served models first (one per model: the newest deployment, which `model` routes to; the operator's
    nodes serve what the caller's own deployments do not), then the
    registry's models that can be deployed by name."""
    cards: dict[str, ModelCard] = {}
    for who in (owner, OPERATOR):  # then the operator's nodes (shared inference), without their ids
        serving_now = [d for status in SERVING for d in deployments_of(svc, who, Where("status", "==", str(status)))]
        serving_now.sort(key=lambda d: d.created_at, reverse=True)
        for dep in serving_now:
            if dep.runpod_endpoint_id and dep.model_id not in cards:
                since = dep.ready_at or dep.created_at
                shown = dep.deployment_id if who == owner else None
                cards[dep.model_id] = ModelCard(
                    id=dep.model_id, created=int(since.timestamp()), ready=True, deployment_id=shown
                )
    for entry in model_registry.entries(svc):
        card = cards.get(entry.hf_model_id)
        if card is None:
            created = int(entry.created_at.timestamp()) if entry.created_at else 0
            card = cards[entry.hf_model_id] = ModelCard(id=entry.hf_model_id, created=created, ready=False)
        provider = None if entry.provider == model_registry.ANY else entry.provider
        card.deployable_as.append(
            DeployableName(
                model_name=entry.name, provider=provider, task=entry.task, vram_required_gb=entry.vram_required_gb
            )
        )
    return ModelList(data=list(cards.values()))
