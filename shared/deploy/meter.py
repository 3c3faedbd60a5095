"""Metering: GPU-seconds from the billable workers the product observes, priced at selection.

Each sample asks Runpod's runtime health and worker list how many workers are up (initializing, idle,
running or unhealthy: Runpod bills a worker from its cold start on; throttled ones wait for a GPU and do
not bill). The count observed at one sample holds until the next: the interval between them is stored as
one document keyed by (deployment, start of the window), written once. A sample older than or equal to the
last one taken (a duplicate, or a slow run that lost the race) changes nothing, so nothing counts twice.
Samples come from the reconciler's pass and from start/stop events (ready, pause, resume). The endpoint's
verified removal (cleanup) closes the last window: the count last observed is billed up to that moment, and
a duplicate cleanup's later close finds 0 GPUs held and adds nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared.accounts.credentials import deployment_runpod
from shared.clients.runpod import RunpodError
from shared.deploy.health import worker_counts
from shared.platform.clock import iso, parse
from shared.platform.crypto import CryptoError
from shared.schemas.states import PROVISIONING, Status
from shared.schemas.stored import Deployment
from shared.services import Services

log = logging.getLogger(__name__)

METERS = "usage_meters"  # deployment id -> the last sample (time, GPUs up)
INTERVALS = "usage_intervals"  # "<deployment id>:<window start>" -> GPUs held over [start, end)
BILLED = ("initializing", "unhealthy")  # besides the ready ones (idle and running)


def observed(svc: Services, dep: Deployment) -> dict[str, int] | None:
    """GPUs up at Runpod now (workers x GPUs per worker), ready and unhealthy workers; None: no answer."""
    if not dep.runpod_endpoint_id or dep.status == Status.DELETED or dep.endpoint_deleted_at is not None:
        return {"gpus": 0}  # no endpoint (yet, or any more): nothing bills
    try:
        with deployment_runpod(svc, dep) as client:
            runtime = client.endpoint_health(dep.runpod_endpoint_id)
            listed = client.list_workers(dep.runpod_endpoint_id)
    except RunpodError as exc:
        return {"gpus": 0} if exc.kind == "not_found" else None
    except CryptoError:
        return None
    counts = worker_counts(runtime, listed)
    gpus = (counts["ready"] + sum(counts[k] for k in BILLED)) * max(dep.gpu_count, 0)
    return {"gpus": gpus, "ready": counts["ready"], "unhealthy": counts["unhealthy"]}


def sample(svc: Services, dep: Deployment) -> bool:
    """Observe `dep`'s workers now and close the interval since the last sample; False when not counted."""
    if dep.status in PROVISIONING and not dep.runpod_endpoint_id:
        return False
    seen = observed(svc, dep)
    if seen is None:
        return False  # unknown: the last count keeps holding until a sample succeeds
    return record(svc, dep, seen["gpus"], svc.now(), seen)


def record(svc: Services, dep: Deployment, gpus: int, at: datetime, seen: dict[str, int] | None = None) -> bool:
    """Store a sample of `gpus` at `at`; the window since the previous sample is billed at its count."""
    previous: dict[str, Any] = {}

    def take(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        previous.clear()
        if doc and parse(doc["at"]) >= at:
            return None  # a duplicate or late sample: already covered
        previous.update(doc or {})
        return {**(seen or {}), "at": iso(at), "gpus": gpus, "deployment_id": dep.deployment_id}

    _, taken = svc.store.update(METERS, dep.deployment_id, take)
    if not taken:
        return False
    if previous and previous["gpus"] > 0:
        _write_interval(svc, dep, parse(previous["at"]), at, int(previous["gpus"]))
    return True


def price_of(dep: Deployment) -> float:
    """USD per GPU-hour recorded when the GPU was selected; the sandbox is free."""
    if dep.sandbox or dep.price_per_gpu_hour is None:
        return 0.0
    return float(dep.price_per_gpu_hour)


def _write_interval(svc: Services, dep: Deployment, start: datetime, end: datetime, gpus: int) -> None:
    seconds = (end - start).total_seconds() * gpus
    price = price_of(dep)
    doc = {
        "deployment_id": dep.deployment_id,
        "tenant_id": dep.owner,
        "model_id": dep.model_id,
        "pool": dep.gpu_pools[0] if dep.gpu_pools else None,
        "start": iso(start),
        "end": iso(end),
        "gpus": gpus,
        "gpu_seconds": seconds,
        "price_per_gpu_hour": price,
        "usd": seconds / 3600 * price,
    }
    # Keyed by the window: a replay of the same window finds the document there and adds nothing.
    svc.store.create(INTERVALS, f"{dep.deployment_id}:{iso(start)}", doc)


def close_at_removal(svc: Services, dep: Deployment, at: datetime) -> bool:
    """The endpoint was verified gone at `at`: bill the window since the last sample, then nothing more."""
    try:
        return record(svc, dep, 0, at, {"gpus": 0})
    except Exception:  # the reconciler's next sample of the gone endpoint closes it (a little later)
        log.warning("metering: closing %s at its removal failed", dep.deployment_id, exc_info=True)
        return False


def sample_quietly(svc: Services, dep: Deployment | None) -> bool:
    """A sample that never fails the request or the reconciler pass that takes it."""
    if dep is None:
        return False
    try:
        return sample(svc, dep)
    except Exception:  # the next sample covers the window
        log.warning("metering: sample of %s failed", dep.deployment_id, exc_info=True)
        return False
