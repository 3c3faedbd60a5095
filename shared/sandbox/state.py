"""The simulated Runpod's records in the product's store: endpoints and jobs, each owned by one tenant.

Kept in the DocumentStore (not in memory) so that they survive a restart and every Cloud Functions
instance sees the same ones. A record of another tenant is treated as missing, as another Runpod
account's endpoint is at Runpod.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import Any

from shared.platform.clock import parse
from shared.sandbox import catalog
from shared.sandbox.phases import Phase, Timeline, phase_at, timeline
from shared.sandbox.world import World
from shared.store import Query, Where
from shared.store.base import Doc

ENDPOINTS = "sandbox_endpoints"
JOBS = "sandbox_jobs"
ID_CHARS = string.ascii_lowercase + string.digits


def new_id(prefix: str, length: int = 12) -> str:
    return prefix + "".join(secrets.choice(ID_CHARS) for _ in range(length))


def _mine(world: World, doc: Doc | None) -> Doc | None:
    if doc is None or world.tenant_id is None or doc.get("tenant_id") != world.tenant_id:
        return None
    return doc


def endpoint(world: World, endpoint_id: str) -> Doc | None:
    return _mine(world, world.store.get(ENDPOINTS, endpoint_id) if len(endpoint_id) <= 64 else None)


def endpoints(world: World) -> list[Doc]:
    if world.tenant_id is None:
        return []
    rows = world.store.query(Query(ENDPOINTS, where=(Where("tenant_id", "==", world.tenant_id),)))
    return sorted((doc for _, doc in rows), key=lambda d: str(d.get("createdAt")))


def job(world: World, job_id: str) -> Doc | None:
    return _mine(world, world.store.get(JOBS, job_id) if len(job_id) <= 64 else None)


def jobs_of(world: World, endpoint_id: str) -> list[Doc]:
    rows = world.store.query(Query(JOBS, where=(Where("endpoint_id", "==", endpoint_id),)))
    return [doc for _, doc in rows if _mine(world, doc) is not None]


def weights_gb(ep: Doc) -> float:
    """From the sandbox catalog when it lists the model, else from the disk asked for (weights x 1.5 + 10)."""
    listed = catalog.weights_gb(str(ep.get("model_id") or ""))
    if listed is not None:
        return listed
    return max(0.5, (float(ep.get("disk") or 20) - 10) / 1.5)


def line_of(world: World, ep: Doc) -> Timeline:
    return timeline(str(ep.get("scenario") or "ok"), weights_gb(ep), world.settings.sandbox_time_scale)


def age(world: World, ep: Doc, at: datetime | None = None) -> float:
    return ((at or world.now()) - parse(str(ep["createdAt"]))).total_seconds()


def phase(world: World, ep: Doc) -> Phase:
    return phase_at(line_of(world, ep), str(ep.get("scenario") or "ok"), age(world, ep))


def active(world: World, ep: Doc) -> bool:
    """A worker runs beyond workers.min: while provisioning, then for idleTimeout after the last job."""
    workers: dict[str, Any] = ep.get("workers") or {}
    idle = float(workers.get("idleTimeout") or 5)
    last = ep.get("last_job_at")
    if last is not None and (world.now() - parse(str(last))).total_seconds() < idle:
        return True
    return age(world, ep) < line_of(world, ep).ready_after + idle
