"""One contract for every document store: the embedded SQLite one and Firestore (on its emulator)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.store import Query, Where
from shared.store.base import DocumentStore

NESTED = {
    "status": "ready",
    "count": 3,
    "ratio": 0.25,
    "flag": False,
    "nothing": None,
    "unicode": "naïve ☃ 模型",
    "created_at": "2026-05-01T12:00:00.123456Z",
    "expire_at": "2026-06-01T12:00:00.654321Z",
    "tags": ["a", "b"],
    "empty_list": [],
    "empty_map": {},
    "steps": [{"name": "validate", "attempts": 1, "error": None}, {"name": "plan", "facts": {"x.y": [1, 2.5]}}],
    "model_facts": {"sha": "abc", "nested": {"deeper": {"list": [True, None, "x"]}}},
}


def test_get_create_and_create_only_once(store: DocumentStore):
    assert store.get("things", "t1") is None
    assert store.create("things", "t1", {"v": 1}) is True
    assert store.create("things", "t1", {"v": 2}) is False
    assert store.get("things", "t1") == {"v": 1}


def test_documents_round_trip_identically(store: DocumentStore):
    store.create("things", "nested", NESTED)
    assert store.get("things", "nested") == NESTED
    after, changed = store.update("things", "nested", lambda d: {**d, "count": 4})
    assert changed and after == {**NESTED, "count": 4}
    assert store.get("things", "nested") == {**NESTED, "count": 4}
    [(doc_id, doc)] = store.query(Query("things"))
    assert (doc_id, doc) == ("nested", {**NESTED, "count": 4})


def test_add_gives_random_distinct_ids(store: DocumentStore):
    ids = {store.add("things", {"i": i}) for i in range(5)}
    assert len(ids) == 5
    assert all(len(i) >= 16 for i in ids)
    assert sorted(doc["i"] for _, doc in store.query(Query("things"))) == list(range(5))


def test_update_creates_replaces_and_removes_fields(store: DocumentStore):
    doc, changed = store.update("things", "u", lambda d: {"a": 1, "b": {"c": 2}} if d is None else None)
    assert (doc, changed) == ({"a": 1, "b": {"c": 2}}, True)
    doc, changed = store.update("things", "u", lambda d: {"b": {"d": 3}})
    assert (doc, changed) == ({"b": {"d": 3}}, True)
    assert store.get("things", "u") == {"b": {"d": 3}}  # a is gone, b replaced whole (not merged)


def test_a_declined_mutation_changes_nothing(store: DocumentStore):
    store.create("things", "d", {"n": 1, "inner": {"k": "v"}})

    def decline(doc):
        doc["n"] = 99  # scribbling on the copy it was given must not leak into the store
        doc["inner"]["k"] = "changed"
        return None

    assert store.update("things", "d", decline) == ({"n": 1, "inner": {"k": "v"}}, False)
    assert store.get("things", "d") == {"n": 1, "inner": {"k": "v"}}
    assert store.update("things", "missing", lambda d: None) == (None, False)
    assert store.get("things", "missing") is None


def test_concurrent_updates_lose_nothing(store: DocumentStore):
    store.create("things", "c", {"items": []})

    def append(item: str) -> None:
        store.update("things", "c", lambda d: {**d, "items": [*d["items"], item]})

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(append, [f"i{n}" for n in range(30)]))
    assert sorted(store.get("things", "c")["items"]) == sorted(f"i{n}" for n in range(30))


def test_concurrent_increments_are_atomic(store: DocumentStore):
    defaults = {"expire_at": "2026-01-01T00:01:00.000000Z", "window": 7}
    with ThreadPoolExecutor(max_workers=6) as pool:
        seen = list(pool.map(lambda _: store.increment("rate_limits", "k", "count", 1, defaults), range(40)))
    assert sorted(seen) == list(range(1, 41))  # every caller saw its own count
    assert store.get("rate_limits", "k") == {**defaults, "count": 40}
    assert store.increment("rate_limits", "k", "count", 5, defaults) == 45


def test_delete(store: DocumentStore):
    store.create("things", "x", {"v": 1})
    store.delete("things", "x")
    store.delete("things", "never-was")
    assert store.get("things", "x") is None
    assert store.create("things", "x", {"v": 2}) is True


def _seed(store: DocumentStore) -> None:
    for n in range(12):
        store.create(
            "things",
            f"t{n:02d}",
            {"group": "ab"[n % 2], "n": n, "rank": n // 4, "at": f"2026-01-01T00:00:{n:02d}.000000Z"},
        )


def test_query_filters_order_and_limit(store: DocumentStore):
    _seed(store)
    rows = store.query(Query("things", where=(Where("group", "==", "a"),), order_by=(("n", "desc"),), limit=3))
    assert [doc["n"] for _, doc in rows] == [10, 8, 6]
    assert [doc_id for doc_id, _ in rows] == ["t10", "t08", "t06"]
    rows = store.query(Query("things", where=(Where("n", ">=", 3), Where("n", "<", 6)), order_by=(("n", "asc"),)))
    assert [doc["n"] for _, doc in rows] == [3, 4, 5]
    rows = store.query(Query("things", where=(Where("at", ">", "2026-01-01T00:00:09.000000Z"),)))
    assert sorted(doc["n"] for _, doc in rows) == [10, 11]
    assert store.query(Query("things", where=(Where("group", "==", "zz"),))) == []


@pytest.mark.parametrize(
    "order",
    [(("rank", "desc"), ("n", "asc")), (("rank", "asc"), ("n", "desc"))],
    ids=["desc-asc", "asc-desc"],
)
def test_keyset_pagination_has_no_gaps_or_duplicates(store: DocumentStore, order):
    _seed(store)
    everything = [doc_id for doc_id, _ in store.query(Query("things", order_by=order))]
    assert len(everything) == 12
    pages: list[str] = []
    after = after_id = None
    while True:
        page = store.query(Query("things", order_by=order, limit=5, start_after=after, start_after_id=after_id))
        if not page:
            break
        pages += [doc_id for doc_id, _ in page]
        last_id, last = page[-1]
        after, after_id = tuple(last[f] for f, _ in order), last_id
    assert pages == everything


def test_pagination_by_id_breaks_ties_on_equal_sort_values(store: DocumentStore):
    for n in range(7):
        store.create("things", f"same{n}", {"group": "a", "n": 1})
    seen: list[str] = []
    after_id = None
    while True:
        query = Query(
            "things",
            where=(Where("group", "==", "a"),),
            order_by=(("n", "desc"),),
            limit=3,
            start_after=None if after_id is None else (1,),
            start_after_id=after_id,
        )
        page = store.query(query)
        if not page:
            break
        seen += [doc_id for doc_id, _ in page]
        after_id = page[-1][0]
    assert seen == [f"same{n}" for n in reversed(range(7))]


def test_subcollections_are_separate_from_each_other_and_their_parent(store: DocumentStore):
    store.create("deployments", "a", {"owner": "o"})
    store.add("deployments/a/logs", {"message": "for a", "timestamp": "2026-01-01T00:00:00.000000Z"})
    store.add("deployments/b/logs", {"message": "for b", "timestamp": "2026-01-01T00:00:01.000000Z"})
    store.create("deployments/a/logs", "fixed", {"message": "also a", "timestamp": "2026-01-01T00:00:02.000000Z"})
    a_logs = store.query(Query("deployments/a/logs", order_by=(("timestamp", "desc"),), limit=10))
    assert [doc["message"] for _, doc in a_logs] == ["also a", "for a"]
    assert [doc["message"] for _, doc in store.query(Query("deployments/b/logs"))] == ["for b"]
    assert [doc_id for doc_id, _ in store.query(Query("deployments"))] == ["a"]
    assert store.get("deployments/a/logs", "fixed")["message"] == "also a"
    assert store.get("deployments/b/logs", "fixed") is None


def test_expire_at_round_trips_and_compares_as_time(store: DocumentStore):
    for n, stamp in enumerate(["2026-01-01T00:00:00.000001Z", "2026-01-01T00:00:00.500000Z", "2027-01-01T00:00:00Z"]):
        store.create("rate_limits", f"r{n}", {"expire_at": stamp if n < 2 else "2027-01-01T00:00:00.000000Z"})
    assert store.get("rate_limits", "r0") == {"expire_at": "2026-01-01T00:00:00.000001Z"}
    rows = store.query(Query("rate_limits", where=(Where("expire_at", "<", "2026-01-01T00:00:00.500000Z"),)))
    assert [doc_id for doc_id, _ in rows] == ["r0"]
    rows = store.query(Query("rate_limits", order_by=(("expire_at", "desc"),), limit=1))
    assert rows == [("r2", {"expire_at": "2027-01-01T00:00:00.000000Z"})]


def test_ping(store: DocumentStore):
    store.ping()


def test_update_runs_mutate_again_when_it_loses_a_race(store: DocumentStore):
    """Two writers interleave: the loser's mutate sees the winner's write before it commits."""
    store.create("things", "race", {"n": 0})
    inside = threading.Event()
    proceed = threading.Event()
    calls = []

    def slow(doc):
        calls.append(doc["n"])
        if len(calls) == 1:
            inside.set()
            proceed.wait(5)
        return {"n": doc["n"] + 1}

    worker = threading.Thread(target=lambda: store.update("things", "race", slow))
    worker.start()
    assert inside.wait(5)
    # SQLite serializes writers, so the competing write waits instead of racing; either way no loss.
    competing = threading.Thread(target=lambda: store.update("things", "race", lambda d: {"n": d["n"] + 10}))
    competing.start()
    competing.join(0.5)
    proceed.set()
    worker.join(10)
    competing.join(10)
    assert store.get("things", "race") == {"n": 11}
