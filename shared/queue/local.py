"""The embedded default's task queue: durable in SQLite, delivered over HTTP like Cloud Tasks.

`LocalTaskQueue.enqueue` only writes a row, so any process sharing DATA_DIR can enqueue; the local
server's `LocalDispatcher` (shared.queue.local_dispatcher) delivers the rows. A function that never
enqueues never opens the database (cold starts).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from shared.queue.base import Task, task_id
from shared.store.sqlite import private_db_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    headers TEXT NOT NULL,
    state TEXT NOT NULL,             -- pending | leased | done | dead
    run_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until REAL,
    last_status INTEGER,
    last_error TEXT,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (state, run_at);
"""


def open_queue_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.executescript(_SCHEMA)
    return conn


class LocalTaskQueue:
    """The enqueue side. Thread-safe; cheap to create."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        private_db_file(self.path)  # 0600, in a 0700 DATA_DIR
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None  # opened by the first enqueue
        self.wakeup = threading.Event()

    def enqueue(self, task: Task) -> bool:
        now = self._clock()
        with self._lock:
            if self._conn is None:
                self._conn = open_queue_db(self.path)
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO tasks (id, name, target, payload, headers, state, run_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    task_id(task.name),
                    task.name,
                    task.target,
                    json.dumps(task.payload),
                    json.dumps(task.headers),
                    now + max(0.0, task.delay_seconds),
                    now,
                ),
            )
        self.wakeup.set()
        return cur.rowcount == 1

    def stats(self) -> dict[str, int]:
        """Tasks by state (pending, leased, done, dead) and `retried`: tasks delivered more than once."""
        with self._lock:
            if self._conn is None:
                self._conn = open_queue_db(self.path)
            rows = self._conn.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state").fetchall()
            (retried,) = self._conn.execute("SELECT COUNT(*) FROM tasks WHERE attempts > 1").fetchone()
        return {**{"pending": 0, "leased": 0, "done": 0, "dead": 0}, **dict(rows), "retried": int(retried)}
