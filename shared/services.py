"""The composition root: builds the store, queue and clients from settings, once per process.

Handlers call `services()`; tests and the chaos build install their own with `install()`.
Google clients are imported only when the gcp backend is configured.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.platform.clock import utcnow
from shared.platform.crypto import Cipher
from shared.platform.settings import ConfigError, Settings, load_settings
from shared.queue import TaskQueue
from shared.store import DocumentStore

if TYPE_CHECKING:
    from shared.clients.runpod import RunpodClient


@dataclass
class Services:
    settings: Settings
    store: DocumentStore
    queue: TaskQueue
    cipher: Cipher
    clock: Callable[[], datetime] = utcnow
    # Turns a decrypted Runpod key into a client; tests may point it elsewhere.
    runpod_factory: Callable[[str], RunpodClient] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def runpod(self, api_key: str) -> RunpodClient:
        if self.runpod_factory is not None:
            return self.runpod_factory(api_key)
        # Imported here: keeps httpx off cold paths that never call Runpod (authentication, reads).
        from shared.clients.runpod import RunpodClient, RunpodConfig

        s = self.settings
        return RunpodClient(api_key, RunpodConfig(s.runpod_api_base, s.runpod_runtime_base, s.http_timeout_seconds))

    def now(self) -> datetime:
        return self.clock()


_lock = threading.Lock()
_services: Services | None = None


def build(settings: Settings) -> Services:
    if settings.encryption_keys is None:  # load_settings generates it (local) or requires it (gcp)
        raise ConfigError("invalid configuration: ENCRYPTION_KEYS is not set")
    # Each backend's modules are imported only when it is the one configured (Google's clients are heavy).
    if settings.orchestrator_backend == "gcp":
        # Firestore and Cloud Tasks clients are heavy: imported only for the gcp backend
        from shared.queue.cloudtasks import CloudTasksQueue
        from shared.store.firestore import FirestoreStore

        store: DocumentStore = FirestoreStore(settings)
        queue: TaskQueue = CloudTasksQueue(settings)
    else:
        # the embedded backend's modules: imported only when it is the one configured
        from shared.queue.local import LocalTaskQueue
        from shared.store.sqlite import SqliteStore

        store = SqliteStore(settings.database_path)
        queue = LocalTaskQueue(settings.data_dir / "queue.db")
    return Services(
        settings=settings,
        store=store,
        queue=queue,
        cipher=Cipher(settings.encryption_keys.get_secret_value()),
    )


def services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = build(load_settings())
    return _services


def install(svc: Services | None) -> None:
    global _services
    with _lock:
        _services = svc
