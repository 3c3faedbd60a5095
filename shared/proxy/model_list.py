"""GET /v1/models: what a caller can put in `model` now, and what it could deploy by name."""

from __future__ import annotations

from shared.catalog import model_registry
from shared.proxy.routing import deployments_of
from shared.schemas.inference import DeployableName, ModelCard, ModelList
from shared.schemas.states import SERVING
from shared.services import Services
from shared.store import Where


def list_models(svc: Services, owner: str) -> ModelList:
    """Served models first (one per model: the newest deployment, which `model` routes to), then the
    registry's models that can be deployed by name."""
    serving_now = [d for status in SERVING for d in deployments_of(svc, owner, Where("status", "==", str(status)))]
    serving_now.sort(key=lambda d: d.created_at, reverse=True)
    cards: dict[str, ModelCard] = {}
    for dep in serving_now:
        if dep.runpod_endpoint_id and dep.model_id not in cards:
            since = dep.ready_at or dep.created_at
            cards[dep.model_id] = ModelCard(
                id=dep.model_id, created=int(since.timestamp()), ready=True, deployment_id=dep.deployment_id
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
