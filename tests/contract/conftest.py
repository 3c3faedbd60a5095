"""Stores and queues under contract: every backend must pass the same tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.platform.settings import Settings
from shared.store.base import DocumentStore
from shared.store.firestore import COMPOSITE_INDEXES, CompositeIndex, FirestoreStore
from shared.store.sqlite import SqliteStore
from tests.gcp import emulators

# The composite indexes this suite's own queries need (declared like the product's).
CONTRACT_INDEXES = (
    CompositeIndex("things", ("group",), (("n", "ASCENDING"),)),
    CompositeIndex("things", ("group",), (("n", "DESCENDING"),)),
    CompositeIndex("things", ("group",), (("rank", "DESCENDING"), ("n", "ASCENDING"))),
    CompositeIndex("things", (), (("rank", "DESCENDING"), ("n", "ASCENDING"))),
    CompositeIndex("things", (), (("rank", "ASCENDING"), ("n", "DESCENDING"))),
)


def make_store(kind: str, tmp_path: Path) -> DocumentStore:
    if kind == "sqlite":
        return SqliteStore(tmp_path / "store.db")
    emulator = emulators.firestore()
    emulator.reset()
    settings = Settings(google_cloud_project=emulator.project)
    return FirestoreStore(settings, indexes=(*COMPOSITE_INDEXES, *CONTRACT_INDEXES), check_indexes=True)


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.emulator)])
def store(request, tmp_path) -> Iterator[DocumentStore]:
    yield make_store(request.param, tmp_path)


def pytest_sessionfinish(session, exitstatus) -> None:
    emulators.stop_all()
