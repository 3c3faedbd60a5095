"""A tenant-wide budget (PATCH /admin/tenants/{id}): the spend of all its deployments against the limits.

Thresholds are kept on the tenant (once per period, as for a deployment's budget, shared/deploy/budgets.py);
each is announced as `deployment.budget_warning` / `deployment.budget_exceeded` on every live deployment of
the tenant, and at 100 % the action applies to all its serving ones (paused with reason `tenant_budget`).
A new budget from the admin starts over and resumes what the old one paused.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from typing import Any

from shared.accounts.tenants import TENANTS
from shared.deploy import budgets, notify, records, scaling, usage
from shared.platform import tally
from shared.schemas.budgets import Budget, BudgetState
from shared.schemas.states import GONE, Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where

log = logging.getLogger(__name__)

REASON = "tenant_budget"


def _deployments(svc: Services, tenant_id: str) -> list[Deployment]:
    rows = svc.store.query(Query(records.DEPLOYMENTS, where=(Where("owner", "==", tenant_id),)))
    return [d for d in (Deployment.model_validate(doc) for _, doc in rows) if d.status not in GONE]


def check_quietly(svc: Services, tenant_id: str) -> list[str]:
    try:
        return check(svc, tenant_id)
    except Exception:  # the reconciler's pass goes on; the next one checks again
        log.warning("budgets: check of tenant %s failed", tenant_id, exc_info=True)
        return []


def check(svc: Services, tenant_id: str) -> list[str]:
    """Announce the tenant's newly crossed thresholds and enforce its action at 100 %; the keys announced."""
    doc = svc.store.get(TENANTS, tenant_id)
    if not doc or not doc.get("budget"):
        return []
    budget, now = Budget.model_validate(doc["budget"]), svc.now()
    day = now.date().isoformat()
    total = usage.spent_usd(svc, "tenant_id", tenant_id)
    today = usage.spent_usd(svc, "tenant_id", tenant_id, datetime.combine(now.date(), time.min, UTC))
    crossed = budgets.crossed_thresholds(budget, today, total, day)
    fresh: list[tuple[str, int, str]] = []

    def apply(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if not d or d.get("budget") != doc["budget"]:
            return None
        state = BudgetState.model_validate(d.get("budget_state") or {})
        fresh[:] = [c for c in crossed if c[0] not in state.sent]
        kept = [k for k in state.sent if k.startswith(("total:", f"day:{day}:"))]
        state.sent = kept + [c[0] for c in fresh]
        state.spent_usd_today, state.spent_usd_total, state.updated_at = round(today, 6), round(total, 6), now
        over = [c for c in fresh if c[1] == 100]
        if over:
            state.exceeded, state.reason = True, f"Tenant budget reached: {over[0][2]}"
            state.action_taken = budget.action
        return {**d, "budget_state": state.model_dump(mode="json")}

    _, changed = svc.store.update(TENANTS, tenant_id, apply)
    if not changed or not fresh:
        return []
    deps = _deployments(svc, tenant_id)
    for key, pct, what in fresh:
        event = budgets.EXCEEDED if pct == 100 else budgets.WARNING
        for dep in deps:
            notify.announce(svc, dep, event, occurrence=f"tenant:{key}")
            records.log(svc, dep.deployment_id, "WARNING", f"Tenant budget {pct} %: {what}")
    budgets.count_crossings(budget.action, fresh)
    if any(pct == 100 for _, pct, _ in fresh):
        for dep in deps:
            budgets.enforce(svc, dep, budget.action, reason=REASON)
    return [c[0] for c in fresh]


def lift(svc: Services, tenant_id: str) -> None:
    """Resume the deployments the tenant's budget paused (the admin changed it)."""
    for dep in _deployments(svc, tenant_id):
        if dep.status == Status.PAUSED and dep.paused_reason == REASON:
            tally.count("budget_actions", action="pause", event="lifted")
            scaling.start(svc, dep)
