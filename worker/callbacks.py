"""Reports to the orchestrator: progress callbacks and log lines. Retried with backoff; never raises.

A callback is `POST {ORCHESTRATOR_CALLBACK_URL}` with `X-Visgate-Internal-Secret` and
`{"status", "message"?, "progress"?, "metadata"?}`. Log lines go to the same URL with
`deployment-ready` replaced by `deployment-logs`; a 404 there means the orchestrator does not take
them (yet), so they stop being sent. Standard library only: the reporter must work even when the
heavy imports are what failed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Literal

log = logging.getLogger("worker.callbacks")

SECRET_HEADER = "X-Visgate-Internal-Secret"
MAX_MESSAGE = 3900  # the orchestrator accepts up to 4000 characters
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
Status = Literal["downloading_model", "loading_model", "ready", "failed"]
Level = Literal["info", "warning", "error"]


class Reporter:
    def __init__(
        self,
        url: str | None,
        secret: str | None,
        *,
        timeout: float = 10.0,
        attempts: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.secret = secret or ""
        self.timeout, self.attempts, self.backoff, self.max_backoff = timeout, attempts, backoff, max_backoff
        self._sleep = sleep
        self._lock = threading.Lock()  # one request at a time keeps reports in order
        self.logs_url = url.replace("/deployment-ready/", "/deployment-logs/") if url else None
        if self.logs_url == url:
            self.logs_url = None
        self.sent: list[dict[str, Any]] = []  # every report the orchestrator accepted, in order

    def report(
        self,
        status: Status,
        message: str | None = None,
        *,
        progress: int | None = None,
        metadata: dict[str, Any] | None = None,
        critical: bool = True,
    ) -> bool:
        """Send one status report; True when accepted. Non-critical reports (progress) are tried twice only."""
        body: dict[str, Any] = {"status": status}
        if message:
            body["message"] = _clip(message)
        if progress is not None:
            body["progress"] = max(0, min(100, int(progress)))
        if metadata:
            body["metadata"] = metadata
        log.info("report %s%s", status, f" ({message})" if message else "")
        ok = self._post(self.url, body, self.attempts if critical else min(2, self.attempts)) == "ok"
        if ok:
            self.sent.append(body)
        return ok

    def log_line(self, level: Level, message: str) -> bool:
        """Forward a warning or error line to the deployment's logs; tolerated when unsupported (404)."""
        getattr(log, level)(message)
        if self.logs_url is None:
            return False
        outcome = self._post(self.logs_url, {"level": level, "message": _clip(message)}, 2)
        if outcome == "unsupported":
            log.info("the orchestrator does not take log lines (%s); not sending more", self.logs_url)
            self.logs_url = None
        return outcome == "ok"

    # ---- plumbing ----

    def _post(self, url: str | None, body: dict[str, Any], attempts: int) -> str:
        """ "ok", "unsupported" (404/405), "refused" (another 4xx), "failed" (retries exhausted) or "off"."""
        if not url:
            return "off"
        try:
            with self._lock:
                return self._post_with_retries(url, body, attempts)
        except Exception:  # a reporter must never take the worker down
            log.exception("callback to %s failed unexpectedly", url)
            return "failed"

    def _post_with_retries(self, url: str, body: dict[str, Any], attempts: int) -> str:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", SECRET_HEADER: self.secret, "User-Agent": "visgate-worker"}
        delay = self.backoff
        for attempt in range(1, max(1, attempts) + 1):
            retry_after: float | None = None
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    resp.read()
                return "ok"
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 405):
                    return "unsupported"
                if exc.code not in RETRYABLE_STATUSES:
                    log.warning("callback refused with %s: %s", exc.code, _read(exc))
                    return "refused"
                retry_after = _seconds(exc.headers.get("Retry-After") if exc.headers else None)
                problem = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:  # URLError, timeouts, resets
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < attempts:
                wait = min(self.max_backoff, retry_after if retry_after is not None else delay)
                log.warning("callback attempt %d/%d failed (%s); retrying in %.1fs", attempt, attempts, problem, wait)
                self._sleep(wait)
                delay = min(self.max_backoff, delay * 2)
            else:
                log.error("callback gave up after %d attempts (%s)", attempts, problem)
        return "failed"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _read(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read(300).decode(errors="replace")
    except Exception:
        return ""


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
