from __future__ import annotations

import pytest

from tests.gcp import emulators


@pytest.fixture
def firestore_emulator() -> emulators.FirestoreEmulator:
    """The worker's Firestore emulator, emptied for this test."""
    emulator = emulators.firestore()
    emulator.reset()
    return emulator


def pytest_sessionfinish(session, exitstatus) -> None:
    emulators.stop_all()
