"""DELETE /v1/deployments/{id}: the cleanup step removes the endpoint (and verifies it gone); the
deployment's name is free at once."""

from __future__ import annotations

from shared.deploy import engine, records
from shared.deploy.deployment_names import release_name
from shared.schemas.stored import Deployment
from shared.services import Services


def delete(svc: Services, owner: str, deployment_id: str) -> None:
    request_deletion(svc, records.owned(svc, owner, deployment_id))


def request_deletion(svc: Services, dep: Deployment) -> None:
    """Also how a deleted tenant's deployments go (shared/deploy/tenant_cascade.py)."""
    engine.request_delete(svc, dep.deployment_id)
    release_name(svc, dep)
