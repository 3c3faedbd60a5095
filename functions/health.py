"""Liveness, readiness and the service's front page."""

from __future__ import annotations

from flask import Response

from functions.http import json_response
from functions.routing import Call


def root(call: Call) -> Response:
    return json_response({"service": "deployment-orchestrator", "docs": "/docs"})


def health(call: Call) -> Response:
    return json_response({"status": "ok"})


def readiness(call: Call) -> Response:
    try:
        call.svc.store.ping()
    except Exception as exc:  # any failure to reach the store means "not ready"
        return json_response({"status": "unready", "error": f"store unreachable ({type(exc).__name__})"}, 503)
    return json_response({"status": "ready"})
