"""The embedded default: every collection in one SQLite table, JSON documents, WAL mode.

Safe for many threads and several processes on one machine: every write is a short
`BEGIN IMMEDIATE` transaction, so read-modify-write cannot lose an update.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.store.base import Doc, Mutation, Query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_owner_created ON docs (
    collection, json_extract(doc, '$.owner'), json_extract(doc, '$.created_at')
);
"""


def private_db_file(path: Path) -> None:
    """DATA_DIR holds secrets: its directory is made 0700 when this creates it, and a database (with its
    -wal and -shm files, which SQLite creates with the database's mode) is 0600, never world-readable."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)  # made world-readable by an earlier version


_OPS = {"==": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class SqliteStore:
    def __init__(self, path: Path, timeout_seconds: float = 10.0):
        self.path = Path(path)
        private_db_file(self.path)
        self._timeout = timeout_seconds
        self._local = threading.local()
        # One writer at a time within the process: SQLite's own busy handler sleeps in coarse steps,
        # which turns thread contention into 100 ms stalls. Other processes still use busy_timeout.
        self._write = threading.Lock()
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def ping(self) -> None:
        self._conn.execute("SELECT 1 FROM docs LIMIT 1").fetchall()

    def get(self, collection: str, doc_id: str) -> Doc | None:
        row = self._conn.execute("SELECT doc FROM docs WHERE collection=? AND id=?", (collection, doc_id)).fetchone()
        return json.loads(row[0]) if row else None

    def create(self, collection: str, doc_id: str, doc: Doc) -> bool:
        with self._write:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO docs (collection, id, doc) VALUES (?, ?, ?)",
                (collection, doc_id, json.dumps(doc)),
            )
        return cur.rowcount == 1

    def add(self, collection: str, doc: Doc) -> str:
        doc_id = secrets.token_hex(10)
        self.create(collection, doc_id, doc)
        return doc_id

    def update(self, collection: str, doc_id: str, mutate: Mutation) -> tuple[Doc | None, bool]:
        with self._write:
            return self._update(collection, doc_id, mutate)

    def _update(self, collection: str, doc_id: str, mutate: Mutation) -> tuple[Doc | None, bool]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT doc FROM docs WHERE collection=? AND id=?", (collection, doc_id)).fetchone()
            current = json.loads(row[0]) if row else None
            new = mutate(json.loads(row[0]) if row else None)
            if new is None:
                conn.execute("COMMIT")
                return current, False
            conn.execute(
                "INSERT INTO docs (collection, id, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (collection, id) DO UPDATE SET doc=excluded.doc",
                (collection, doc_id, json.dumps(new)),
            )
            conn.execute("COMMIT")
            return new, True
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def delete(self, collection: str, doc_id: str) -> None:
        with self._write:
            self._conn.execute("DELETE FROM docs WHERE collection=? AND id=?", (collection, doc_id))

    def query(self, query: Query) -> list[tuple[str, Doc]]:
        sql = ["SELECT id, doc FROM docs WHERE collection=?"]
        args: list[Any] = [query.collection]
        for w in query.where:
            sql.append(f"AND json_extract(doc, ?) {_OPS[w.op]} ?")
            args += [f"$.{w.field}", w.value]
        order = list(query.order_by)
        if query.start_after is not None:
            sql.append("AND " + _after_clause(order, args, query.start_after, query.start_after_id))
        if order:
            terms = [f"json_extract(doc, '$.{f}') {d.upper()}" for f, d in order]
            terms.append(f"id {order[-1][1].upper()}")
            sql.append("ORDER BY " + ", ".join(terms))
        if query.limit is not None:
            sql.append("LIMIT ?")
            args.append(query.limit)
        rows = self._conn.execute(" ".join(sql), args).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    def increment(self, collection: str, doc_id: str, field: str, by: int, defaults: Doc) -> int:
        def bump(doc: Doc | None) -> Doc:
            doc = dict(defaults) if doc is None else doc
            doc[field] = int(doc.get(field, 0)) + by
            return doc

        doc, _ = self.update(collection, doc_id, bump)
        assert doc is not None  # bump never declines
        return int(doc[field])


def _after_clause(
    order: Sequence[tuple[str, str]], args: list[Any], values: tuple[Any, ...], after_id: str | None
) -> str:
    """Keyset pagination: rows strictly after (values..., id) in the given order."""
    keys = [(f"json_extract(doc, '$.{f}')", d, v) for (f, d), v in zip(order, values, strict=True)]
    if after_id is not None:
        keys.append(("id", order[-1][1] if order else "asc", after_id))
    clauses = []
    for i, (expr, direction, _) in enumerate(keys):
        op = ">" if direction == "asc" else "<"
        eqs = [f"{e} = ?" for e, _, _ in keys[:i]]
        clauses.append("(" + " AND ".join([*eqs, f"{expr} {op} ?"]) + ")")
    for i in range(len(keys)):
        args.extend(v for _, _, v in keys[:i])
        args.append(keys[i][2])
    return "(" + " OR ".join(clauses) + ")"
