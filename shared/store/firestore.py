"""The Firestore backend of the document store (ORCHESTRATOR_BACKEND=gcp).

Collections are slash paths, so `deployments/{id}/logs` is a real subcollection (collection group
`logs`). `update` is a compare-and-set on the document's update time, retried when another writer
got there first; exhausted retries become `Contention`, which the API answers with 503 so Cloud
Tasks retries instead of losing an update.
`expire_at` is stored as a Timestamp, because TTL policies only act on Timestamps, and read back as
the ISO string every other field uses, so documents round-trip identically across backends.

Firestore refuses empty map keys and arrays directly inside arrays; documents here have neither.

The Google client is imported and created on first use and shared by every store in the process
(it is thread-safe), so functions that never touch the store do not pay for it.
"""

from __future__ import annotations

import copy
import os
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal

from shared.platform.clock import iso, parse
from shared.platform.errors import Contention, NotFoundError
from shared.platform.retry import store_policy
from shared.store.base import Doc, Mutation, Query, valid_doc_id

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

    from shared.platform.settings import Settings

TTL_FIELD = "expire_at"
EMULATOR_ENV = "FIRESTORE_EMULATOR_HOST"

Direction = Literal["ASCENDING", "DESCENDING"]


@dataclass(frozen=True)
class CompositeIndex:
    """A composite index: equality fields (ascending), then ordered fields; `__name__` goes last."""

    collection_group: str
    equalities: tuple[str, ...]
    order: tuple[tuple[str, Direction], ...]

    def key(self) -> tuple[str, frozenset[str], tuple[tuple[str, Direction], ...]]:
        """What makes two indexes interchangeable: the equality fields may come in any order."""
        return self.collection_group, frozenset(self.equalities), self.order

    def fields(self) -> list[tuple[str, Direction]]:
        """The `fields` blocks of its `google_firestore_index`, in order."""
        last = self.order[-1][1] if self.order else "ASCENDING"
        return [*((f, "ASCENDING") for f in self.equalities), *self.order, ("__name__", last)]


def _listing(*equalities: str) -> CompositeIndex:
    return CompositeIndex("deployments", ("owner", *equalities), (("created_at", "DESCENDING"),))


def _fleet_listing() -> tuple[CompositeIndex, ...]:
    """The operator's fleet (GET /admin/deployments): any of its filters, newest first; those of the owner's
    own listing are above."""
    filters = ("owner", "status", "model_id", "gpu_allocated")
    combos = (c for n in range(1, len(filters) + 1) for c in combinations(filters, n))
    order: tuple[tuple[str, Direction], ...] = (("created_at", "DESCENDING"),)
    return tuple(CompositeIndex("deployments", c, order) for c in combos if "gpu_allocated" in c or c[0] != "owner")


# Every composite index a query in the code needs; infra/firestore.tf declares exactly these
# (tests/test_infra.py checks), and on the emulator a query needing any other one fails loudly.
# The deployment listing: owner, optionally status and/or model_id, newest first.
COMPOSITE_INDEXES: tuple[CompositeIndex, ...] = (
    _listing(),
    _listing("status"),
    _listing("model_id"),
    _listing("status", "model_id"),
    *_fleet_listing(),
    # shared/deploy/learned_eta.py: one pool and VRAM bucket's newest samples.
    CompositeIndex("eta_samples", ("key",), (("at", "DESCENDING"),)),
)


class MissingIndexError(RuntimeError):
    """A query needs a composite index that COMPOSITE_INDEXES (and so Terraform) does not declare."""


def collection_group(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def required_index(query: Query) -> CompositeIndex | None:
    """The composite index Firestore needs for `query`, or None when single-field indexes serve it."""
    order: list[tuple[str, Direction]] = [(f, "DESCENDING" if d == "desc" else "ASCENDING") for f, d in query.order_by]
    # A range filter on a field that is not ordered by explicitly orders by it implicitly.
    for w in query.where:
        if w.op != "==" and w.field not in {f for f, _ in order}:
            order.append((w.field, "ASCENDING"))
    ordered = {f for f, _ in order}
    equalities = tuple(sorted({w.field for w in query.where if w.op == "==" and w.field not in ordered}))
    if len(order) + len(equalities) <= 1 or not order:
        return None  # one field has its own index; equality filters alone merge single-field indexes
    return CompositeIndex(collection_group(query.collection), equalities, tuple(order))


_client_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Client] = {}


def shared_client(project: str) -> Client:
    """One sync client per project (and emulator host) for the whole process."""
    key = (project, os.environ.get(EMULATOR_ENV))
    client = _clients.get(key)
    if client is None:
        with _client_lock:
            client = _clients.get(key)
            if client is None:
                # google-cloud clients are heavy: imported only on the gcp backend, when first used
                from google.cloud import firestore

                client = _clients[key] = firestore.Client(project=project)
    return client


class FirestoreStore:
    def __init__(
        self,
        settings: Settings,
        client: Client | None = None,
        indexes: Iterable[CompositeIndex] = COMPOSITE_INDEXES,
        check_indexes: bool | None = None,
        update_attempts: int | None = None,
    ):
        """`update_attempts` replaces STORE_UPDATE_ATTEMPTS (races lost in a row before `Contention`)."""
        self._project = settings.google_cloud_project or ""
        self._client = client
        self._indexes = {index.key() for index in indexes}
        retry = store_policy(settings)
        self._retry = retry if update_attempts is None else retry.with_max_attempts(update_attempts)
        # The emulator serves any query; production needs the index. Fail here, not in production.
        self._check_indexes = bool(os.environ.get(EMULATOR_ENV)) if check_indexes is None else check_indexes

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = shared_client(self._project)
        return self._client

    def _ref(self, collection: str, doc_id: str) -> DocumentReference:
        if not valid_doc_id(doc_id):  # "." / ".." / "__x__" would make Firestore answer InvalidArgument
            raise NotFoundError("No such document", {"id": "invalid"})
        return self.client.collection(collection).document(doc_id)

    def ping(self) -> None:
        self.client.collection("_ping").document("ping").get(timeout=5)

    def get(self, collection: str, doc_id: str) -> Doc | None:
        if not valid_doc_id(doc_id):  # Firestore would refuse the path: no such document can exist
            return None
        snap = self._ref(collection, doc_id).get()
        return from_firestore(snap.to_dict()) if snap.exists else None

    def create(self, collection: str, doc_id: str, doc: Doc) -> bool:
        # google-cloud clients are heavy: imported only on the gcp backend, when first used
        from google.api_core.exceptions import AlreadyExists

        try:
            self._ref(collection, doc_id).create(to_firestore(doc))
        except AlreadyExists:
            return False
        return True

    def add(self, collection: str, doc: Doc) -> str:
        while True:  # 20 random characters: a collision is practically impossible, but harmless
            doc_id = secrets.token_hex(10)
            if self.create(collection, doc_id, doc):
                return doc_id

    def update(self, collection: str, doc_id: str, mutate: Mutation) -> tuple[Doc | None, bool]:
        """Compare-and-set: read, mutate, write only if the document is still the one read.

        Optimistic preconditions rather than a transaction: no locks are held between read and
        write, so writers never wait on each other (the emulator resolves lock conflicts between
        transactions only by timing out, about a second each). A lost race re-reads and re-runs
        `mutate`, after a short jittered wait (STORE_*); after STORE_UPDATE_ATTEMPTS races in a row the
        answer is `Contention` (a 503).
        """
        # google-cloud clients are heavy: imported only on the gcp backend, when first used
        from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound

        ref = self._ref(collection, doc_id)
        lost = 0
        while True:
            snap = ref.get()
            current = from_firestore(snap.to_dict()) if snap.exists else None
            new = mutate(copy.deepcopy(current))
            if new is None:
                return current, False
            try:
                if snap.exists:
                    self._replace(ref, current or {}, new, snap.update_time)
                else:
                    ref.create(to_firestore(new))
                return new, True
            except (AlreadyExists, FailedPrecondition, NotFound):
                lost += 1
                if self._retry.exhausted(lost):
                    raise Contention(f"{collection}/{doc_id} is contended") from None
                time.sleep(self._retry.delay(lost))

    def _replace(self, ref: DocumentReference, current: Doc, new: Doc, read_at: datetime) -> None:
        """Write `new` whole, on condition that the document was last written at `read_at`."""
        # google-cloud clients are heavy: imported only on the gcp backend, when first used
        from google.cloud.firestore_v1 import DELETE_FIELD
        from google.cloud.firestore_v1.field_path import FieldPath

        fields: dict[str, Any] = {FieldPath(k).to_api_repr(): v for k, v in to_firestore(new).items()}
        fields.update({FieldPath(k).to_api_repr(): DELETE_FIELD for k in current if k not in new})
        if fields:  # an empty document replaced by an empty one: nothing to write
            ref.update(fields, option=self.client.write_option(last_update_time=read_at))

    def delete(self, collection: str, doc_id: str) -> None:
        self._ref(collection, doc_id).delete()

    def query(self, query: Query) -> list[tuple[str, Doc]]:
        # google-cloud clients are heavy: imported only on the gcp backend, when first used
        from google.cloud.firestore import FieldFilter

        self._check_index(query)
        q: Any = self.client.collection(query.collection)
        for w in query.where:
            q = q.where(filter=FieldFilter(w.field, w.op, _value(w.field, w.value)))
        for f, d in query.order_by:
            q = q.order_by(f, direction="DESCENDING" if d == "desc" else "ASCENDING")
        if query.order_by and (query.start_after is not None or query.start_after_id is not None):
            q = q.order_by("__name__", direction="DESCENDING" if query.order_by[-1][1] == "desc" else "ASCENDING")
        if query.start_after is not None:
            cursor = {f: _value(f, v) for (f, _), v in zip(query.order_by, query.start_after, strict=True)}
            if query.start_after_id is not None:
                cursor["__name__"] = query.start_after_id
            q = q.start_after(cursor)
        if query.limit is not None:
            q = q.limit(query.limit)
        return [(snap.id, from_firestore(snap.to_dict())) for snap in q.stream()]

    def _check_index(self, query: Query) -> None:
        needed = required_index(query)
        if self._check_indexes and needed is not None and needed.key() not in self._indexes:
            raise MissingIndexError(
                f"this query needs a composite index on {needed.collection_group} {needed.fields()}: "
                "declare it in shared/store/firestore.py COMPOSITE_INDEXES and infra/firestore.tf"
            )

    def increment(self, collection: str, doc_id: str, field: str, by: int, defaults: Doc) -> int:
        """One write, no transaction: a server-side Increment (or a create from `defaults`)."""
        # google-cloud clients are heavy: imported only on the gcp backend, when first used
        from google.api_core.exceptions import AlreadyExists, NotFound
        from google.cloud.firestore import Increment

        ref = self._ref(collection, doc_id)
        for _ in range(self._retry.max_attempts or 1):
            try:
                result = ref.update({field: Increment(by)})
                return int(result.transform_results[0].integer_value)
            except NotFound:
                start = int(defaults.get(field, 0)) + by
                try:
                    ref.create(to_firestore({**defaults, field: start}))
                    return start
                except AlreadyExists:
                    continue  # another writer created it first: increment theirs
        raise Contention(f"{collection}/{doc_id} is contended")


def _value(field: str, value: Any) -> Any:
    return parse(value) if field == TTL_FIELD and isinstance(value, str) else value


def to_firestore(doc: Doc) -> Doc:
    """Store `expire_at` as a Timestamp, so TTL policies can delete the document."""
    if isinstance(doc.get(TTL_FIELD), str):
        return {**doc, TTL_FIELD: parse(doc[TTL_FIELD])}
    return doc


def from_firestore(doc: Doc | None) -> Doc:
    doc = doc or {}
    if isinstance(doc.get(TTL_FIELD), datetime):
        doc[TTL_FIELD] = iso(doc[TTL_FIELD])
    return doc
