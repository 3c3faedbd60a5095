"""The emulated Google Cloud for tests: the official Firestore emulator and gcloud-tasks-emulator.

Each pytest process (each xdist worker) starts at most one of each, on free ports, the first time
a test asks, and stops them when the session ends. Each worker also uses its own project id, so
nothing is shared between workers. A missing `gcloud` fails the tests that need it: never a skip.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 90.0
REGION = "us-central1"
QUEUE = "steps"


def worker_project() -> str:
    """A project id per xdist worker (`demo-` ids are the emulators' convention for no real project)."""
    return f"demo-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@dataclass
class Emulator:
    name: str
    command: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    started_in: float = 0.0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, ready: Callable[[Emulator], bool]) -> None:
        began = time.monotonic()
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,  # its own process group: stop() ends the JVM under gcloud too
        )
        while time.monotonic() - began < STARTUP_TIMEOUT_SECONDS:
            if self.process.poll() is not None:
                break
            if ready(self):
                self.started_in = time.monotonic() - began
                return
            time.sleep(0.1)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        pytest.fail(f"the {self.name} did not start (command: {' '.join(self.command)}):\n{tail}", pytrace=False)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _http_ok(emulator: Emulator) -> bool:
    try:
        return httpx.get(f"http://{emulator.host}/", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _port_open(emulator: Emulator) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", emulator.port)) == 0


class FirestoreEmulator:
    def __init__(self) -> None:
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            pytest.fail(
                "gcloud is not installed, so the Firestore emulator cannot run. Install the Google Cloud CLI "
                "with its Firestore emulator (Debian: google-cloud-cli google-cloud-cli-firestore-emulator, "
                "and Java 17+). These tests never skip.",
                pytrace=False,
            )
        port = free_port()
        self.project = worker_project()
        self.emulator = Emulator(
            "Firestore emulator",
            [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"],
            port,
            Path(tempfile.gettempdir()) / f"firestore-emulator-{port}.log",
        )
        self.emulator.start(_http_ok)

    @property
    def host(self) -> str:
        return self.emulator.host

    def reset(self) -> None:
        url = f"http://{self.host}/emulator/v1/projects/{self.project}/databases/(default)/documents"
        httpx.delete(url, timeout=10.0).raise_for_status()


class TasksEmulator:
    def __init__(self, project: str) -> None:
        sys.path.insert(0, str(ROOT))
        from scripts.side_venv import ensure

        python = ensure("tasks-emulator")
        port = free_port()
        self.queue_path = f"projects/{project}/locations/{REGION}/queues/{QUEUE}"
        self.emulator = Emulator(
            "Cloud Tasks emulator",
            [str(python), "-W", "ignore", str(ROOT / "scripts" / "tasks_emulator.py"), str(port), self.queue_path],
            port,
            Path(tempfile.gettempdir()) / f"tasks-emulator-{port}.log",
        )
        self.emulator.start(_port_open)

    @property
    def host(self) -> str:
        return self.emulator.host


_lock = threading.Lock()
_firestore: FirestoreEmulator | None = None
_tasks: TasksEmulator | None = None


def firestore() -> FirestoreEmulator:
    """This process's Firestore emulator, started on first use; points the Google client at it."""
    global _firestore
    with _lock:
        if _firestore is None:
            _firestore = FirestoreEmulator()
            os.environ["FIRESTORE_EMULATOR_HOST"] = _firestore.host
        return _firestore


def tasks() -> TasksEmulator:
    global _tasks
    with _lock:
        if _tasks is None:
            _tasks = TasksEmulator(worker_project())
        return _tasks


def stop_all() -> None:
    global _firestore, _tasks
    with _lock:
        for emulator in (_firestore, _tasks):
            if emulator is not None:
                emulator.emulator.stop()
        if _firestore is not None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        _firestore = _tasks = None


atexit.register(stop_all)  # a run that dies before sessionfinish still leaves no emulator behind
