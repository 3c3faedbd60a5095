"""Delivers the embedded default's task queue over HTTP, as Cloud Tasks would; run by the local server.

`LocalDispatcher` leases due rows and POSTs them to the step function with Cloud Tasks' headers; 2xx
ends a task, anything else backs off exponentially (honouring `Retry-After`). A lease that outlives
its holder (a crash) expires and the task runs again, so a restart loses nothing. Finished names are
remembered for an hour for de-duplication. Apart from the enqueue side (shared.queue.local), so
that a Cloud Function, which only enqueues, never imports httpx for it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from shared.platform.retry import RetryPolicy, parse_retry_after
from shared.queue.local import LocalTaskQueue, open_queue_db

log = logging.getLogger(__name__)

DEDUP_WINDOW_SECONDS = 3600.0
Row = tuple[str, str, str, str, str, int]  # a leased task: id, name, target, payload, headers, attempts


@dataclass(frozen=True)
class DispatchPolicy:
    max_attempts: int = 100
    min_backoff: float = 0.5
    max_backoff: float = 60.0
    dispatch_deadline: float = 120.0
    workers: int = 8
    poll_interval: float = 0.25

    @property
    def retry(self) -> RetryPolicy:
        """When a delivery that was not 2xx is attempted again (QUEUE_*; no jitter, as before)."""
        return RetryPolicy(base=self.min_backoff, cap=self.max_backoff, max_attempts=self.max_attempts)


class LocalDispatcher:
    """Delivers due tasks over HTTP. One per queue database; run by the local server."""

    def __init__(
        self,
        queue: LocalTaskQueue,
        targets: dict[str, str],
        policy: DispatchPolicy,
        auth_header: Callable[[str], dict[str, str]] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._queue = queue
        self._targets = targets
        self._policy = policy
        self._auth_header = auth_header or (lambda target: {})
        self._clock = clock
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=policy.workers, thread_name_prefix="task")
        self._slots = threading.Semaphore(policy.workers)
        self._conn = open_queue_db(queue.path)
        self._db = threading.Lock()  # one connection, used by the loop and the delivery threads
        self._http = httpx.Client(timeout=policy.dispatch_deadline)
        self._thread = threading.Thread(target=self._loop, name="task-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.wakeup.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def _loop(self) -> None:
        last_sweep = 0.0
        while not self._stop.is_set():
            try:
                now = self._clock()
                if now - last_sweep > 30:
                    self._sweep(now)
                    last_sweep = now
                leased = self._lease_due(now)
            except sqlite3.Error:
                log.exception("task queue: cannot read the queue")
                leased = []
            for row in leased:
                self._pool.submit(self._deliver, row)
            if not leased:
                self._queue.wakeup.wait(self._next_wait())
                self._queue.wakeup.clear()

    def _next_wait(self) -> float:
        with self._db:
            row = self._conn.execute("SELECT MIN(run_at) FROM tasks WHERE state='pending'").fetchone()
        due: float | None = row[0]
        if due is None:
            return self._policy.poll_interval * 4
        return min(max(0.0, due - self._clock()), self._policy.poll_interval)

    def _lease_due(self, now: float) -> list[Row]:
        free = 0
        while free < self._policy.workers and self._slots.acquire(blocking=False):
            free += 1
        if not free:
            time.sleep(0.01)
            return []
        lease_until = now + self._policy.dispatch_deadline + 5
        with self._db:
            rows = self._lease_rows(now, free, lease_until)
        for _ in range(free - len(rows)):
            self._slots.release()
        return rows

    def _lease_rows(self, now: float, free: int, lease_until: float) -> list[Row]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # An expired lease means the delivering process died: the task is due again.
            rows = conn.execute(
                "SELECT id, name, target, payload, headers, attempts FROM tasks"
                " WHERE (state='pending' AND run_at<=?) OR (state='leased' AND lease_until<?)"
                " ORDER BY run_at LIMIT ?",
                (now, now, free),
            ).fetchall()
            for row in rows:
                conn.execute("UPDATE tasks SET state='leased', lease_until=? WHERE id=?", (lease_until, row[0]))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return rows

    def _deliver(self, row: Row) -> None:
        tid, name, _, _, _, attempts = row
        try:
            status, retry_after, error = self._post(row)
            self._settle(tid, attempts + 1, status, retry_after, error)
        except Exception:  # the dispatcher must outlive any single task
            log.exception("task queue: settling task %s failed", name)
        finally:
            self._slots.release()
            self._queue.wakeup.set()

    def _post(self, row: Row) -> tuple[int | None, float | None, str | None]:
        tid, _, target, payload, headers, attempts = row
        url = self._targets[target]
        hdrs = {
            "Content-Type": "application/json",
            "X-CloudTasks-QueueName": "local",
            "X-CloudTasks-TaskName": tid,
            "X-CloudTasks-TaskRetryCount": str(attempts),
            "X-CloudTasks-TaskExecutionCount": str(attempts),
            **json.loads(headers),
            **self._auth_header(target),
        }
        try:
            resp = self._http.post(url, content=payload, headers=hdrs)
        except httpx.HTTPError as exc:
            return None, None, f"{type(exc).__name__}: {exc}"
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        return resp.status_code, retry_after, None if resp.is_success else resp.text[:500]

    def _settle(
        self, tid: str, attempts: int, status: int | None, retry_after: float | None, error: str | None
    ) -> None:
        now = self._clock()
        with self._db:
            self._record(tid, attempts, status, retry_after, error, now)

    def _record(
        self, tid: str, attempts: int, status: int | None, retry_after: float | None, error: str | None, now: float
    ) -> None:
        if status is not None and 200 <= status < 300:
            self._conn.execute(
                "UPDATE tasks SET state='done', attempts=?, last_status=?, finished_at=?, lease_until=NULL WHERE id=?",
                (attempts, status, now, tid),
            )
            return
        retry = self._policy.retry
        if retry.exhausted(attempts):
            log.error("task queue: task %s gave up after %d attempts: %s", tid, attempts, error)
            state, run_at = "dead", now
        else:
            state, run_at = "pending", now + retry.delay(attempts, retry_after)
        self._conn.execute(
            "UPDATE tasks SET state=?, attempts=?, run_at=?, last_status=?, last_error=?, lease_until=NULL,"
            " finished_at=? WHERE id=?",
            (state, attempts, run_at, status, error, now if state == "dead" else None, tid),
        )

    def _sweep(self, now: float) -> None:
        with self._db:
            self._conn.execute(
                "DELETE FROM tasks WHERE state IN ('done', 'dead') AND finished_at < ?",
                (now - DEDUP_WINDOW_SECONDS,),
            )
