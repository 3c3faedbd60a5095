"""Where a deployment stands, for people: seed 004's phases, a progress percent, an ETA, the cost."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.catalog import gpu_pools
from shared.sandbox.phases import timeline as sandbox_timeline
from shared.schemas.states import Status
from shared.schemas.stored import Deployment

# (phase, progress at the start of the status, progress at its end)
PHASES: dict[Status, tuple[str, int | None, int | None]] = {
    Status.VALIDATING: ("validating", 5, 5),
    Status.SELECTING_GPU: ("provisioning", 10, 10),
    Status.CREATING_ENDPOINT: ("provisioning", 20, 30),
    Status.DOWNLOADING_MODEL: ("downloading", 30, 60),
    Status.LOADING_MODEL: ("loading", 65, 85),
    Status.READY: ("ready", 100, 100),
    Status.WEBHOOK_FAILED: ("ready", 100, 100),
    Status.PAUSED: ("paused", 100, 100),
    Status.FAILED: ("failed", None, None),
    Status.DELETING: ("deleting", None, None),
    Status.CLEANUP_FAILED: ("deleting", None, None),
    Status.DELETED: ("deleted", None, None),
}

BASE_SECONDS = 60.0  # image pull and worker start
DOWNLOAD_SECONDS_PER_GB = 6.0
LOAD_SECONDS_PER_GB = 2.0


def phase(status: Status, worker_progress: int | None = None, started: bool = True) -> tuple[str, int | None]:
    if status == Status.VALIDATING and not started:
        return "queued", 0
    name, low, high = PHASES[status]
    if status == Status.LOADING_MODEL and worker_progress is not None and worker_progress >= 100:
        return "health_check", 90
    if low is None or high is None or worker_progress is None:
        return name, low
    return name, low + round((high - low) * max(0, min(100, worker_progress)) / 100)


def phase_of(dep: Deployment) -> tuple[str, int | None]:
    return phase(dep.status, dep.worker_progress, bool(dep.steps))


def estimated_ready_at(dep: Deployment, now: datetime, sandbox_time_scale: float = 1.0) -> datetime | None:
    """created + an estimate from the model's size, pushed later while the remaining work is not done."""
    if dep.ready_at is not None:
        return dep.ready_at
    if dep.status not in PHASES or PHASES[dep.status][1] is None or dep.status == Status.PAUSED:
        return None
    base, download, load = durations(dep, float(dep.model_facts.get("weights_gb") or 5.0), sandbox_time_scale)
    remaining = {
        Status.VALIDATING: base + download + load,
        Status.SELECTING_GPU: base + download + load,
        Status.CREATING_ENDPOINT: base + download + load,
        Status.DOWNLOADING_MODEL: download * (1 - (dep.worker_progress or 0) / 100) + load,
        Status.LOADING_MODEL: load * (1 - (dep.worker_progress or 0) / 100),
    }.get(dep.status, 0.0)
    planned = dep.created_at + timedelta(seconds=base + download + load)
    return max(planned, now + timedelta(seconds=remaining))


def durations(dep: Deployment, weights_gb: float, sandbox_time_scale: float) -> tuple[float, float, float]:
    """Seconds to start a worker, download the weights and load them: the sandbox's own timeline for a
    simulated deployment (seconds, not minutes), a typical Runpod worker's otherwise."""
    if dep.sandbox:
        line = sandbox_timeline(dep.sandbox_scenario or "ok", weights_gb, sandbox_time_scale)
        return line.boot, line.download, line.load
    return BASE_SECONDS, weights_gb * DOWNLOAD_SECONDS_PER_GB, weights_gb * LOAD_SECONDS_PER_GB


def cost(dep: Deployment, now: datetime) -> dict[str, Any] | None:
    """Price per hour of one worker and what provisioning and warm workers have cost so far (estimate)."""
    if not dep.gpu_pools:
        return None
    pool = gpu_pools.pool_by_id(dep.gpu_pools[0])
    price = (
        dep.price_per_gpu_hour if dep.price_per_gpu_hour is not None else (pool.price_per_gpu_hour if pool else None)
    )
    if price is None:
        return {"gpu_pool": dep.gpu_pools[0], "gpu_count": dep.gpu_count, "price_per_gpu_hour": None,
                "price_per_hour": None, "price_source": "unknown", "estimated_cost_usd": None,
                "basis": "no list price is known for this pool"}  # fmt: skip
    per_hour = price * dep.gpu_count
    seconds = 0.0
    if dep.endpoint_created_at is not None:
        # One worker runs from endpoint creation until ready (workers.min = 1 while provisioning).
        until = dep.ready_at or dep.endpoint_deleted_at or now
        seconds += max(0.0, (until - dep.endpoint_created_at).total_seconds())
        if dep.ready_at is not None and dep.min_replicas > 0 and dep.status in (Status.READY, Status.WEBHOOK_FAILED):
            seconds += dep.min_replicas * max(0.0, (now - dep.ready_at).total_seconds())
    return {
        "gpu_pool": dep.gpu_pools[0],
        "gpu_count": dep.gpu_count,
        "price_per_gpu_hour": price,
        "price_per_hour": round(per_hour, 4),
        "price_source": dep.price_source or "shipped_table",
        "estimated_cost_usd": round(per_hour * seconds / 3600, 4),
        "basis": "provisioning worker time plus warm workers (min_replicas); on-demand job time is billed by Runpod "
        "per second and not included",
    }
