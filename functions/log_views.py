"""A deployment's logs as JSON and as a Server-Sent Events stream: one shape for the tenant's routes, the
operator's fleet and seed 004's node routes (which reshape the events: shared/deploy/nodes.node_event)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from flask import Response, stream_with_context

from functions import longcalls
from functions.http import bool_arg, int_arg, json_response
from functions.routing import Call
from shared.deploy import logs
from shared.schemas.deployments import LogsResponse
from shared.schemas.stored import Deployment

MAX_TAIL = 5000
Shape = Callable[[logs.Event], logs.Event]


def logs_response(call: Call, dep: Deployment) -> Response:
    """?tail=, ?since=, ?workers=true (Runpod worker output merged in)."""
    svc, request = call.svc, call.request
    tail = int_arg(request, "tail", None, 1, MAX_TAIL)
    since = request.args.get("since")
    lines = logs.read(svc, dep.deployment_id, tail=tail if tail else (None if since else 100), since=since)
    worker_error = None
    if bool_arg(request, "workers"):
        extra, worker_error = logs.worker_lines(svc, dep, tail or 100)
        lines = sorted([*lines, *extra], key=lambda line: line.timestamp)
    return json_response(LogsResponse(data=lines, worker_logs_error=worker_error), 200, call.headers())


def stream_response(call: Call, deployment_id: str, holder: str, shape: Shape | None = None) -> Response:
    """?follow=true, Last-Event-ID (or ?last_event_id=) resumes; ?tail=N starts N lines back. `holder`: whose
    long-request slot the stream takes."""
    svc, request = call.svc, call.request
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    tail = int_arg(request, "tail", None, 1, MAX_TAIL)
    if last is None and tail is not None:
        last = logs.tail_start(svc, deployment_id, tail)
    headers = {**call.headers(), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

    def respond() -> Response:
        events = logs.stream(svc, deployment_id, last, bool_arg(request, "follow"))
        first = next(events, None)  # validates Last-Event-ID before the 200 goes out
        return Response(stream_with_context(_sse(first, events, shape)), mimetype="text/event-stream", headers=headers)

    return longcalls.held(svc, holder, respond)


def _sse(first: logs.Event | None, rest: Iterator[logs.Event], shape: Shape | None) -> Iterator[str]:
    yield "retry: 2000\n\n"
    if first is None:
        return
    for event in _chain(first, rest):
        name, event_id, data = shape(event) if shape else event
        if name == ":":
            yield ": keep-alive\n\n"
            continue
        head = f"id: {event_id}\n" if event_id else ""
        yield f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _chain(first: logs.Event, rest: Iterator[logs.Event]) -> Iterator[logs.Event]:
    yield first
    yield from rest
