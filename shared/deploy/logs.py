"""A deployment's logs: the JSON listing, Runpod worker output, and the live event stream (SSE).

Log lines are ordered by (timestamp, id); a log event's id is "<timestamp>/<id>", a status event's
"<last log id>#<status digest>" and done's "<last log id>#done", so a client that reconnects with
Last-Event-ID (of any event) resumes exactly after the last line it saw and gets a status only if it
changed. While following a live deployment, lines younger than LIVE_LAG are held back a moment: a
writer that took its timestamp earlier may still be committing, and emitting past it would open a gap.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from shared.accounts.credentials import deployment_runpod
from shared.clients.runpod import RunpodError
from shared.deploy import records
from shared.deploy.progress import phase_of
from shared.platform.clock import iso, parse
from shared.platform.errors import ValidationError
from shared.schemas.states import SERVING, SETTLED, Status
from shared.schemas.stored import Deployment, LogLine
from shared.services import Services
from shared.store import Query, Where
from shared.store.base import Doc

LIVE_LAG = timedelta(seconds=1.0)
PAGE = 500
HEARTBEAT_SECONDS = 15.0
START = "-"  # the log cursor of a status sent before any log line
Event = tuple[str, str | None, dict[str, Any] | None]  # (event name, id, data); name ":" is a heartbeat


def event_id(line: LogLine) -> str:
    return f"{iso(line.timestamp)}/{line.id}"


def _cursor_text(cursor: tuple[str, str] | None) -> str:
    return f"{cursor[0]}/{cursor[1]}" if cursor else START


def status_event_id(cursor: tuple[str, str] | None, status: dict[str, Any]) -> str:
    """`<last log line's id>#<digest of the status>`: a resume from it continues after that line and
    does not repeat a status the client already has; a status that changed meanwhile is sent."""
    text = json.dumps(status, sort_keys=True, separators=(",", ":"), default=str)
    return f"{_cursor_text(cursor)}#{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def parse_event_id(value: str) -> tuple[tuple[str, str] | None, str | None]:
    """(log cursor, status digest) from a Last-Event-ID this stream sent (a log, status or done id)."""
    invalid = ValidationError("Last-Event-ID is not one this stream sent", {"header": "Last-Event-ID"})
    cursor_text, _, digest = value.partition("#")
    if cursor_text == START:
        return None, digest or None
    ts, sep, doc_id = cursor_text.partition("/")
    try:
        ts = iso(parse(ts))  # the stored form, so the keyset comparison matches exactly
    except ValueError:
        raise invalid from None
    if not sep or not doc_id:
        raise invalid
    return (ts, doc_id), digest or None


def _line(doc_id: str, doc: Doc) -> LogLine:
    return LogLine(id=doc_id, **{k: v for k, v in doc.items() if k in LogLine.model_fields and k != "id"})


def read(
    svc: Services,
    deployment_id: str,
    *,
    tail: int | None = None,
    since: str | None = None,
    after: tuple[str, str] | None = None,
    until: str | None = None,
    limit: int = PAGE,
) -> list[LogLine]:
    """Lines in time order: the last `tail`, or those after `since` (a time) or `after` (an event id)."""
    coll = records.logs_of(deployment_id)
    where: list[Where] = []
    if since:
        try:
            since = iso(parse(since))
        except ValueError:
            raise ValidationError("since must be an ISO-8601 time", {"field": "since"}) from None
        where.append(Where("timestamp", ">", since))
    if until:
        where.append(Where("timestamp", "<=", until))
    if tail is not None and after is None:
        rows = svc.store.query(Query(coll, where=tuple(where), order_by=(("timestamp", "desc"),), limit=tail))
        return [_line(i, d) for i, d in reversed(rows)]
    rows = svc.store.query(
        Query(
            coll,
            where=tuple(where),
            order_by=(("timestamp", "asc"),),
            limit=limit,
            start_after=(after[0],) if after else None,
            start_after_id=after[1] if after else None,
        )
    )
    return [_line(i, d) for i, d in rows]


def tail_start(svc: Services, deployment_id: str, tail: int) -> str | None:
    """The Last-Event-ID a stream starts from to send the last `tail` lines first (None: from the start)."""
    lines = read(svc, deployment_id, tail=tail + 1)
    return event_id(lines[0]) if len(lines) > tail else None


def worker_lines(svc: Services, dep: Deployment, tail: int) -> tuple[list[LogLine], str | None]:
    """Runpod worker stdout/stderr, labelled by worker, where Runpod has them (best effort)."""
    if not dep.runpod_endpoint_id or dep.status in (Status.DELETED,):
        return [], None
    out: list[LogLine] = []
    try:
        with deployment_runpod(svc, dep) as client:
            workers = client.list_workers(dep.runpod_endpoint_id).get("workers") or []
            for worker in workers[:5]:
                for i, entry in enumerate(client.worker_logs(dep.runpod_endpoint_id, worker["id"], tail, 2.0)):
                    ts = entry.get("ts") or iso(svc.now())
                    out.append(
                        LogLine(
                            id=f"{worker['id']}-{i}",
                            timestamp=parse(ts),
                            level="INFO",
                            message=str(entry.get("line", "")),
                            source=f"worker:{worker['id']}",
                        )
                    )
    except RunpodError as exc:
        return out, f"worker logs unavailable: {exc.message}"
    out.sort(key=lambda x: x.timestamp)
    return out, None


def status_event(dep: Deployment) -> dict[str, Any]:
    phase, progress = phase_of(dep)
    return {
        "status": dep.status.value,
        "phase": phase,
        "progress": progress,
        "message": dep.worker_message,
        "error": dep.error.model_dump() if dep.error else None,
        "sandbox": dep.sandbox,
        "update": _update_phase(dep),
    }


def _update_phase(dep: Deployment) -> dict[str, Any] | None:
    """A green update's phase: the stream carries it while the deployment itself stays ready."""
    u = dep.update
    if u is None:
        return None
    return {
        "task_id": u.task_id,
        "state": u.state,
        "phase": u.phase,
        "progress": u.progress,
        "generation": u.generation,
    }


def stream(
    svc: Services, deployment_id: str, last_event_id: str | None, follow: bool, poll_seconds: float = 0.25
) -> Iterator[Event]:
    """log, status and done events until the deployment settles (or, with follow, until it is deleted)."""
    cursor, last_digest = parse_event_id(last_event_id) if last_event_id else (None, None)
    last_sent = time.monotonic()
    settled_seen = False
    while True:
        dep = records.load(svc, deployment_id)
        if dep is None:
            return
        # A green update in progress keeps the stream open until it ends (its phases are status events).
        updating = dep.update is not None and dep.status in SERVING
        settled = dep.status in SETTLED and not updating and not (follow and dep.status != Status.DELETED)
        # The line that goes with a final move is written just after it commits: read once more first.
        final_pass, settled_seen = settled and settled_seen, settled
        until = None if settled else iso(svc.now() - LIVE_LAG)
        lines = read(svc, deployment_id, after=cursor, until=until)
        for line in lines:
            cursor = (iso(line.timestamp), line.id)
            yield "log", event_id(line), line.model_dump(mode="json")
            last_sent = time.monotonic()
        if len(lines) == PAGE:
            continue
        current = status_event(dep)
        status_id = status_event_id(cursor, current)
        digest = status_id.rpartition("#")[2]
        if digest != last_digest and not (last_digest == "done" and settled):  # "done": it had the last
            yield "status", status_id, current
            last_digest, last_sent = digest, time.monotonic()
        if final_pass:
            yield "done", f"{_cursor_text(cursor)}#done", {**current, "endpoint_url": dep.endpoint_url}
            return
        if time.monotonic() - last_sent > HEARTBEAT_SECONDS:
            yield ":", None, None
            last_sent = time.monotonic()
        time.sleep(poll_seconds)
