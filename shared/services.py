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
from shared.sandbox.keys import is_sandbox_key
from shared.sandbox.world import World
from shared.store import DocumentStore

if TYPE_CHECKING:
    import httpx

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

    def runpod(self, api_key: str, tenant_id: str | None = None) -> RunpodClient:
        """A client acting with `api_key`; the `sandbox` key's reaches the simulated Runpod of `tenant_id`."""
        # Imported here: keeps httpx off cold paths that never call Runpod (authentication, reads).
        from shared.clients.runpod import RunpodClient, RunpodConfig

        s = self.settings
        config = RunpodConfig(s.runpod_api_base, s.runpod_runtime_base, s.http_timeout_seconds)
        sandbox = self.sandbox_http(api_key, tenant_id)
        if sandbox is not None:
            return RunpodClient(api_key, config, sandbox)
        if self.runpod_factory is not None:
            return self.runpod_factory(api_key)
        return RunpodClient(api_key, config)

    def sandbox_http(self, api_key: str, tenant_id: str | None) -> httpx.Client | None:
        """For the `sandbox` key, an HTTP client whose requests the simulated Runpod answers (never the
        network, whatever the settings); None for any other key."""
        if not is_sandbox_key(api_key):
            return None
        # The simulated Runpod brings httpx: imported only when a sandbox deployment calls it
        from shared.sandbox.transport import sandbox_client

        return sandbox_client(self.sandbox_world(tenant_id), self.settings.http_timeout_seconds)

    def sandbox_world(self, tenant_id: str | None) -> World:
        return World(self.store, self.queue, self.settings, self.cipher, self.clock, tenant_id)

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
