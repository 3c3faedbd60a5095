"""What the simulated Runpod works with: the product's store, queue, clock and cipher, seen by one tenant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.platform.crypto import Cipher
from shared.platform.settings import Settings
from shared.queue import TaskQueue
from shared.store import DocumentStore


@dataclass(frozen=True)
class World:
    store: DocumentStore
    queue: TaskQueue
    settings: Settings
    cipher: Cipher
    clock: Callable[[], datetime]
    # The tenant whose endpoints this view sees (the `sandbox` key is shared by everyone, so the
    # tenant plays the part of Runpod's account). None sees nothing (e.g. the reconciler's sweep).
    tenant_id: str | None

    def now(self) -> datetime:
        return self.clock()
