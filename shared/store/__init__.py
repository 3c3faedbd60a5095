"""Document storage: one interface, an embedded SQLite backend and a Firestore backend."""

from shared.store.base import DocumentStore, Query, Where, valid_doc_id

__all__ = ["DocumentStore", "Query", "Where", "valid_doc_id"]
