"""`estimated_ready_at` learned from this install's history.

Each deployment that becomes ready leaves one sample (collection `eta_samples`, id = deployment id, so a
repeated ready records once): the seconds each bring-up step took, keyed by its pool and VRAM bucket.
While a deployment of the same pool and bucket is brought up, its ETA is the start of its current step
plus that step's median, plus the medians of the steps after it. With fewer than MIN_SAMPLES samples, or
before a pool is chosen, the static estimate (shared/deploy/progress.py) applies; sandbox deployments keep
their simulated timeline. Reading is bounded (the newest MAX_SAMPLES of one key) and cached per process
for CACHE_TTL_SECONDS (a sample recorded by this process refreshes its key at once).
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import datetime, timedelta

from shared.deploy import progress
from shared.platform.clock import iso
from shared.schemas.eta import EtaInfo
from shared.schemas.states import WAITING_FOR_WORKER
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where

COLLECTION = "eta_samples"
BRINGUP = ("validate", "select_gpu", "create_endpoint", "wait_ready")  # wait_ready: endpoint created -> ready
MIN_SAMPLES = 3
MAX_SAMPLES = 25
CACHE_TTL_SECONDS = 60.0
VRAM_BUCKETS_GB = (8, 16, 24, 48, 80, 141)

Medians = tuple[dict[str, float], int]


def history_key(dep: Deployment) -> str | None:
    """`<pool>|<VRAM bucket>`: deployments that should take alike; None before a pool is chosen."""
    if dep.sandbox or not dep.gpu_pools:
        return None
    need = dep.model_vram_gb or 0
    bucket = next((b for b in VRAM_BUCKETS_GB if need <= b), None)
    return f"{dep.gpu_pools[0]}|{bucket if bucket is not None else 'more'}"


def step_seconds(dep: Deployment) -> dict[str, float]:
    """Seconds each bring-up step took (first start to last end); wait_ready ends at ready_at."""
    out: dict[str, float] = {}
    for name in BRINGUP[:-1]:
        runs = [s for s in dep.steps if s.name == name]
        ends = [s.finished_at for s in runs if s.finished_at is not None]
        if runs and len(ends) == len(runs):
            out[name] = (max(ends) - min(s.started_at for s in runs)).total_seconds()
    created = _endpoint_created(dep)
    if dep.ready_at is not None and created is not None:
        out["wait_ready"] = max(0.0, (dep.ready_at - created).total_seconds())
    return out


def record(svc: Services, dep: Deployment) -> None:
    """Keep a ready deployment's step durations (once: the deployment id is the sample's id)."""
    key = history_key(dep)
    seconds = step_seconds(dep)
    if key is None or dep.ready_at is None or set(seconds) != set(BRINGUP):
        return
    svc.store.create(COLLECTION, dep.deployment_id, {"key": key, "at": iso(dep.ready_at), "steps": seconds})
    CACHE.forget(key)


def estimate(svc: Services, dep: Deployment, now: datetime) -> tuple[datetime | None, EtaInfo | None]:
    """The ETA and which estimate it came from (None for both once ready, or when nothing is estimated)."""
    static = progress.estimated_ready_at(dep, now, svc.settings.sandbox_time_scale)
    if dep.ready_at is not None or static is None:
        return static, None
    if dep.sandbox:
        return static, EtaInfo(source="sandbox", samples=0)
    key = history_key(dep)
    medians, samples = CACHE.medians(svc, key) if key is not None else ({}, 0)
    if samples < MIN_SAMPLES:
        return static, EtaInfo(source="static", samples=samples)
    current = _current_step(dep)
    start = _step_start(dep, current) or now
    at = max(now, start + timedelta(seconds=medians[current]))
    later = sum(medians[name] for name in BRINGUP[BRINGUP.index(current) + 1 :])
    return at + timedelta(seconds=later), EtaInfo(source="history", samples=samples, step_seconds=medians)


def _current_step(dep: Deployment) -> str:
    if dep.step in BRINGUP:
        return dep.step
    return "wait_ready" if dep.status in WAITING_FOR_WORKER else BRINGUP[0]


def _step_start(dep: Deployment, name: str) -> datetime | None:
    if name == "wait_ready":
        return _endpoint_created(dep)
    starts = [s.started_at for s in dep.steps if s.name == name]
    return min(starts) if starts else None


def _endpoint_created(dep: Deployment) -> datetime | None:
    ends = [s.finished_at for s in dep.steps if s.name == "create_endpoint" and s.finished_at is not None]
    return max(ends) if ends else dep.endpoint_created_at


class MedianCache:
    """Per process: the medians of each key's newest samples, for CACHE_TTL_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Medians]] = {}

    def medians(self, svc: Services, key: str) -> Medians:
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and time.monotonic() - hit[0] < CACHE_TTL_SECONDS:
            return hit[1]
        found = _read(svc, key)
        with self._lock:
            self._entries[key] = (time.monotonic(), found)
        return found

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


def _read(svc: Services, key: str) -> Medians:
    query = Query(COLLECTION, where=(Where("key", "==", key),), order_by=(("at", "desc"),), limit=MAX_SAMPLES)
    rows = [doc.get("steps") for _, doc in svc.store.query(query)]
    usable = [r for r in rows if isinstance(r, dict) and all(isinstance(r.get(n), int | float) for n in BRINGUP)]
    if not usable:
        return {}, 0
    return {n: round(statistics.median(float(r[n]) for r in usable), 3) for n in BRINGUP}, len(usable)


CACHE = MedianCache()
