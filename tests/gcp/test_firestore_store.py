"""What only the Firestore store does: Timestamps for TTL, contention, and declared indexes."""

from __future__ import annotations

import pytest

from shared.platform.errors import Contention
from shared.platform.settings import Settings
from shared.store import Query, Where
from shared.store.firestore import (
    COMPOSITE_INDEXES,
    CompositeIndex,
    FirestoreStore,
    MissingIndexError,
    required_index,
)


def listing(*filters: str) -> Query:
    """The deployment listing query (shared/deploy/records.py, coming with the list endpoint)."""
    where = (Where("owner", "==", "key_x"), *(Where(f, "==", "v") for f in filters))
    return Query("deployments", where=where, order_by=(("created_at", "desc"),), limit=20, start_after=("t",))


@pytest.fixture
def store(firestore_emulator) -> FirestoreStore:
    return FirestoreStore(Settings(google_cloud_project=firestore_emulator.project), check_indexes=True)


@pytest.mark.emulator
def test_expire_at_is_a_timestamp_in_firestore_so_ttl_can_delete(store):
    from datetime import datetime

    store.add("deployments/d1/logs", {"message": "hi", "expire_at": "2026-02-03T04:05:06.070809Z"})
    [raw] = [snap.to_dict() for snap in store.client.collection("deployments/d1/logs").stream()]
    assert isinstance(raw["expire_at"], datetime)
    assert raw["expire_at"].isoformat() == "2026-02-03T04:05:06.070809+00:00"


@pytest.mark.emulator
def test_endless_contention_becomes_a_retryable_error(store):
    store.create("deployments", "hot", {"n": 0})
    raw = store.client.collection("deployments").document("hot")

    def always_overtaken(doc):
        raw.set({"n": doc["n"] + 100})  # another writer commits between our read and our write
        return {"n": doc["n"] + 1}

    hot = FirestoreStore(Settings(google_cloud_project=store._project), update_attempts=3)
    with pytest.raises(Contention):
        hot.update("deployments", "hot", always_overtaken)
    assert store.get("deployments", "hot") == {"n": 300}


@pytest.mark.emulator
def test_queries_needing_an_undeclared_index_fail_on_the_emulator(store):
    with pytest.raises(MissingIndexError, match="COMPOSITE_INDEXES"):
        store.query(Query("deployments", where=(Where("owner", "==", "x"),), order_by=(("updated_at", "desc"),)))
    for filters in ((), ("status",), ("model_id",), ("status", "model_id"), ("model_id", "status")):
        assert store.query(listing(*filters)) == []


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (Query("deployments/d/logs", order_by=(("timestamp", "desc"),), limit=200), None),
        (Query("deployments", where=(Where("status", "==", "ready"),)), None),
        (Query("deployments", where=(Where("status", "==", "ready"), Where("owner", "==", "o"))), None),
        (Query("rate_limits", where=(Where("expire_at", "<", "t"),), order_by=(("expire_at", "asc"),)), None),
        (listing(), CompositeIndex("deployments", ("owner",), (("created_at", "DESCENDING"),))),
        (
            listing("status", "model_id"),
            CompositeIndex("deployments", ("model_id", "owner", "status"), (("created_at", "DESCENDING"),)),
        ),
        (
            Query("things", where=(Where("a", "==", 1), Where("b", ">", 2))),
            CompositeIndex("things", ("a",), (("b", "ASCENDING"),)),
        ),
        (
            Query("deployments/d/logs", order_by=(("level", "asc"), ("timestamp", "desc"))),
            CompositeIndex("logs", (), (("level", "ASCENDING"), ("timestamp", "DESCENDING"))),
        ),
    ],
)
def test_required_index(query, index):
    assert required_index(query) == index


def test_every_declared_index_ends_with_the_document_name():
    for index in COMPOSITE_INDEXES:
        assert index.fields()[-1] == ("__name__", index.order[-1][1])
        if index.collection_group == "deployments":  # the listing's indexes are per tenant
            assert index.fields()[0] == ("owner", "ASCENDING")
