"""The reconciler's sweep of leftover endpoints: this install's endpoints whose deployment is deleted,
failed and cleaned up, or unknown to this store for longer than ORPHAN_GRACE_SECONDS.

Only an endpoint whose name carries this install's identity (shared/deploy/endpoint_names.py) is ever
considered; every deletion is logged with its reason, and RECONCILE_DRY_RUN only reports.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from shared.accounts.credentials import deployment_key
from shared.clients.runpod import RunpodError
from shared.deploy import records
from shared.deploy.endpoint_names import parse_name
from shared.platform.clock import iso, later, parse
from shared.reconcile.run import Budget, rotated, save_cursor, saved_cursor
from shared.sandbox.keys import is_sandbox_key
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where

log = logging.getLogger(__name__)

KEY_LOOKBACK_DAYS = 30
SIGHTINGS = "orphan_sightings"  # first time the sweep saw an endpoint that carries no createdAt
SIGHTING_TTL_DAYS = 30


def sweep_orphans(svc: Services, budget: Budget, stats: Counter[str]) -> None:
    """Delete this install's endpoints whose deployment is gone, failed and cleaned, or unknown."""
    if not svc.settings.install_id:
        stats["sweep_skipped_no_install_id"] += 1
        return
    keys = dict(_account_keys(svc, svc.now()))
    order = rotated(sorted(keys), saved_cursor(svc, "account"))
    for n, account in enumerate(order):
        if n >= svc.settings.reconcile_max_accounts or budget.spent():
            stats["accounts_deferred"] += len(order) - n
            break
        _sweep_account(svc, keys[account], stats)
        save_cursor(svc, "account", account)


def _account_keys(svc: Services, now: datetime) -> Iterator[tuple[str, str]]:
    """(a hash naming the account, its key) for every Runpod key used in the last days, once each."""
    since = iso(now - timedelta(days=KEY_LOOKBACK_DAYS))
    seen: set[str] = set()
    for _, doc in svc.store.query(Query(records.DEPLOYMENTS, where=(Where("created_at", ">=", since),))):
        try:
            key = deployment_key(svc, Deployment.model_validate(doc))
        except Exception as exc:  # one unreadable record must not stop the sweep of the others
            log.warning("reconciler: no usable Runpod key on %s (%s)", doc.get("deployment_id"), type(exc).__name__)
            continue
        if is_sandbox_key(key):
            continue  # the simulated Runpod's endpoints go with their deployments; nothing to sweep at Runpod
        account = hashlib.sha256(key.encode()).hexdigest()
        if account not in seen:
            seen.add(account)
            yield account, key


def _sweep_account(svc: Services, key: str, stats: Counter[str]) -> None:
    s = svc.settings
    try:
        with svc.runpod(key) as client:
            for endpoint in client.list_endpoints():
                ours = parse_name(s.endpoint_name_prefix, str(endpoint.get("name") or ""))
                if ours is None or ours.install_id != s.install_id:
                    continue  # not made by this install: never touched
                reason = _orphan_reason(svc, ours.deployment_id, endpoint)
                if reason is None:
                    continue
                if s.reconcile_dry_run:
                    stats["orphans_would_delete"] += 1
                    _report(svc, ours.deployment_id, endpoint, reason, "would delete (dry run)")
                elif client.delete_endpoint(endpoint["id"]):
                    stats["orphans_deleted"] += 1
                    _report(svc, ours.deployment_id, endpoint, reason, "deleted")
                    svc.store.delete(SIGHTINGS, endpoint["id"])
    except RunpodError as exc:
        stats["accounts_unreachable"] += 1
        log.warning("reconciler: cannot sweep a Runpod account: %s", exc.message)


def _orphan_reason(svc: Services, deployment_id: str, endpoint: dict[str, Any]) -> str | None:
    """Why this install's endpoint must go, or None when it must stay."""
    dep = records.load(svc, deployment_id)
    if dep is not None:
        if dep.status == Status.DELETED:
            return f"its deployment {deployment_id} is deleted"
        if dep.status == Status.FAILED and dep.endpoint_deleted_at is not None:
            return f"its deployment {deployment_id} failed and was cleaned up"
        return None  # a live deployment: its own steps manage its endpoint
    age = _age_seconds(svc, endpoint)
    grace = svc.settings.orphan_grace_seconds
    if age < grace:
        return None
    return f"its deployment {deployment_id} is unknown to this install (endpoint {age:.0f}s old, grace {grace:.0f}s)"


def _age_seconds(svc: Services, endpoint: dict[str, Any]) -> float:
    """From Runpod's createdAt; without one, from the first time this sweep saw the endpoint."""
    now = svc.now()
    try:
        created = parse(str(endpoint["createdAt"]))
        if created.tzinfo is not None:
            return (now - created).total_seconds()
    except (KeyError, ValueError):
        pass
    first = {"first_seen": iso(now), "expire_at": iso(later(now, SIGHTING_TTL_DAYS * 86400))}
    svc.store.create(SIGHTINGS, str(endpoint["id"]), first)
    seen = svc.store.get(SIGHTINGS, str(endpoint["id"])) or first
    return (now - parse(seen["first_seen"])).total_seconds()


def _report(svc: Services, deployment_id: str, endpoint: dict[str, Any], reason: str, what: str) -> None:
    message = f"Reconciler: {what} leftover endpoint {endpoint['id']} ({endpoint.get('name')}): {reason}"
    log.warning("%s", message)
    if records.load(svc, deployment_id) is not None:
        records.log(svc, deployment_id, "WARNING", message)
