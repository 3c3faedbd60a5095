"""The document store interface.

Shaped after Firestore so that both backends are thin: collections of JSON documents addressed by
path (`deployments`, `deployments/{id}/logs`), atomic read-modify-write through `update`, equality
filters, ordering and cursors. Documents are plain JSON-able dicts; timestamps are ISO-8601 UTC
strings, which sort lexicographically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Doc = dict[str, Any]
Mutation = Callable[[Doc | None], Doc | None]


@dataclass(frozen=True)
class Where:
    field: str
    op: Literal["==", "<", "<=", ">", ">="]
    value: Any


@dataclass(frozen=True)
class Query:
    collection: str
    where: tuple[Where, ...] = ()
    order_by: tuple[tuple[str, Literal["asc", "desc"]], ...] = ()
    limit: int | None = None
    # Resume after the document with these values of the `order_by` fields (ties broken by id).
    start_after: tuple[Any, ...] | None = None
    start_after_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class DocumentStore(Protocol):
    def ping(self) -> None:
        """Raise when the store cannot be reached."""

    def get(self, collection: str, doc_id: str) -> Doc | None: ...

    def create(self, collection: str, doc_id: str, doc: Doc) -> bool:
        """Insert; False (and no change) when the id exists."""

    def add(self, collection: str, doc: Doc) -> str:
        """Insert with a random id and return it."""

    def update(self, collection: str, doc_id: str, mutate: Mutation) -> tuple[Doc | None, bool]:
        """Atomically apply `mutate` to the current document (None when missing).

        `mutate` returns the new document, or None to leave it as it is; it may run more than once
        under contention, so it must be pure. Returns (the document as stored afterwards, changed).
        Raises `shared.platform.errors.Contention` when retries are exhausted.
        """

    def delete(self, collection: str, doc_id: str) -> None: ...

    def query(self, query: Query) -> list[tuple[str, Doc]]: ...

    def increment(self, collection: str, doc_id: str, field: str, by: int, defaults: Doc) -> int:
        """Atomically add `by` to an integer field (creating the document from `defaults`)."""


MAX_ID_BYTES = 1500  # Firestore's limit for a document id


def valid_doc_id(doc_id: str) -> bool:
    """Whether `doc_id` can name a document on every backend (Firestore's rules: no "/", not "." or
    "..", not "__...__", at most 1500 bytes of UTF-8). Callers answer 404 for anything else."""
    if not doc_id or "/" in doc_id or doc_id in (".", "..") or (doc_id.startswith("__") and doc_id.endswith("__")):
        return False
    try:
        return len(doc_id.encode("utf-8")) <= MAX_ID_BYTES
    except UnicodeEncodeError:
        return False
