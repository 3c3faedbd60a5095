"""Typed access to deployments and their logs on top of the document store."""

from __future__ import annotations

from collections.abc import Callable

from shared.deploy.progress import phase_of
from shared.platform.clock import iso, later
from shared.platform.crypto import same
from shared.platform.errors import DeploymentNotFoundError
from shared.schemas.stored import DEPLOYMENTS as DEPLOYMENTS  # re-exported: the collection these records live in
from shared.schemas.stored import Deployment, LogEntry, LogLevel
from shared.services import Services
from shared.store import Query
from shared.store.base import Doc

LOG_RETENTION_DAYS = 30
# The owner of the operator's own nodes (an admin launch for no tenant): no tenant id has a colon.
OPERATOR = "operator:fleet"


def logs_of(deployment_id: str) -> str:
    return f"{DEPLOYMENTS}/{deployment_id}/logs"


def load(svc: Services, deployment_id: str) -> Deployment | None:
    doc = svc.store.get(DEPLOYMENTS, deployment_id)
    return Deployment.model_validate(doc) if doc else None


def owned(svc: Services, owner: str, deployment_id: str) -> Deployment:
    """The caller's deployment; another owner's is a 404 like a missing one (its existence is not told)."""
    dep = load(svc, deployment_id) if len(deployment_id) <= 128 else None
    if dep is None or not same(dep.owner, owner):
        raise DeploymentNotFoundError(f"Deployment {deployment_id} not found", {"deployment_id": deployment_id})
    return dep


def insert(svc: Services, dep: Deployment) -> bool:
    return svc.store.create(DEPLOYMENTS, dep.deployment_id, dep.model_dump(mode="json"))


def mutate(
    svc: Services, deployment_id: str, change: Callable[[Deployment], Deployment | None]
) -> tuple[Deployment | None, bool]:
    """Atomically apply `change` to a copy of the stored deployment; it returns None to decline."""

    def on_doc(doc: Doc | None) -> Doc | None:
        if doc is None:
            return None
        new = change(Deployment.model_validate(doc))
        if new is None:
            return None
        new.updated_at = svc.now()
        return new.model_dump(mode="json")

    doc, changed = svc.store.update(DEPLOYMENTS, deployment_id, on_doc)
    return (Deployment.model_validate(doc) if doc else None), changed


def log(svc: Services, deployment_id: str, level: LogLevel, message: str, at: Deployment | None = None) -> None:
    """Append a log line; with `at` (the deployment as it now stands) it records the phase and progress."""
    now = svc.now()
    entry: Doc = {
        "timestamp": iso(now),
        "level": level,
        "message": message,
        "expire_at": iso(later(now, LOG_RETENTION_DAYS * 86400)),
    }
    if at is not None:
        entry["phase"], entry["progress"] = phase_of(at)
        entry["status"] = at.status.value
    svc.store.add(logs_of(deployment_id), entry)


def recent_logs(svc: Services, deployment_id: str, limit: int = 200) -> list[LogEntry]:
    rows = svc.store.query(Query(logs_of(deployment_id), order_by=(("timestamp", "desc"),), limit=limit))
    return [LogEntry.model_validate(doc) for _, doc in reversed(rows)]
