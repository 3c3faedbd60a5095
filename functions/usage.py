"""Handlers for GET /v1/usage (the caller's tenant) and GET /admin/usage (every tenant, or ?tenant_id=)."""

from __future__ import annotations

from flask import Response

from functions.http import json_response
from functions.routing import Call
from shared.deploy import usage
from shared.schemas.usage import UsageReport


def _report(call: Call, tenant_id: str | None, default_group: str) -> Response:
    args = call.request.args
    start, end = usage.period(call.svc, args.get("from"), args.get("to"))
    body = usage.report(call.svc, start, end, args.get("group_by") or default_group, tenant_id)
    return json_response(UsageReport.model_validate(body), 200, call.headers())


def tenant_usage(call: Call) -> Response:
    return _report(call, call.owner, "deployment")


def admin_usage(call: Call) -> Response:
    return _report(call, call.request.args.get("tenant_id") or None, "tenant")
