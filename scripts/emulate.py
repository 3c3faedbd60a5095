"""`make emulate`: the production adapters (ORCHESTRATOR_BACKEND=gcp) on this machine, no Google account.

Starts the official Firestore emulator (gcloud), the Cloud Tasks emulator (gcloud-tasks-emulator, in
its own `.venv-tasks-emulator`), then the whole API (`python -m functions.local`) pointed at both.
The Cloud Tasks emulator delivers step tasks to this same server. It sends no OIDC token, so the
adapter adds an HMAC token that is accepted only while CLOUD_TASKS_EMULATOR_HOST is set
(shared/clients/google_auth.py). Ctrl-C stops everything. Data lives in the emulator's memory only.

Ports and outside services can be overridden with the usual settings in the environment (PORT,
HF_ENDPOINT, RUNPOD_API_BASE, API_KEYS, ...), plus FIRESTORE_EMULATOR_PORT and TASKS_EMULATOR_PORT.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-orchestrator"
REGION = "us-central1"
QUEUE = "steps"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait(name: str, process: subprocess.Popen, ready, timeout: float = 90.0) -> None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if process.poll() is not None:
            raise SystemExit(f"emulate: the {name} exited with code {process.returncode}")
        try:
            if ready():
                print(f"emulate: {name} ready in {time.monotonic() - began:.1f}s", flush=True)
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"emulate: the {name} did not start within {timeout:.0f}s")


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    for process in reversed(processes):
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _start(name: str, command: list[str], env: dict[str, str], log: Path | None) -> subprocess.Popen:
    print(f"emulate: starting {name}: {' '.join(command)}" + (f"  (log: {log})" if log else ""), flush=True)
    out = open(log, "wb") if log else None  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def environment(api_port: int, firestore_port: int, tasks_port: int) -> dict[str, str]:
    """What the API process gets: the gcp backend, pointed at the emulators and at itself."""
    base = f"http://127.0.0.1:{api_port}"
    return {
        "ORCHESTRATOR_BACKEND": "gcp",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "REGION": REGION,
        "TASKS_QUEUE": QUEUE,
        "STEP_FUNCTION_URL": f"{base}/internal/steps",
        "RECONCILE_FUNCTION_URL": f"{base}/internal/reconcile",
        "TASKS_INVOKER_SA": f"tasks-invoker@{PROJECT}.iam.gserviceaccount.com",
        "PUBLIC_BASE_URL": base,
        "HOST": "127.0.0.1",
        "PORT": str(api_port),
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore_port}",
        "CLOUD_TASKS_EMULATOR_HOST": f"127.0.0.1:{tasks_port}",
        "INTERNAL_SECRET": secrets.token_urlsafe(32),
        "ENCRYPTION_KEYS": "emulate1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "API_KEYS": "do_emulate_" + secrets.token_urlsafe(18),
        "ALLOW_PRIVATE_WEBHOOKS": "true",
        "DATA_DIR": str(ROOT / ".data" / "emulate"),
    }


def main(argv: list[str]) -> int:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise SystemExit("emulate: needs gcloud with the Firestore emulator (google-cloud-cli-firestore-emulator)")
    sys.path.insert(0, str(ROOT))
    from scripts.side_venv import ensure

    tasks_python = ensure("tasks-emulator")
    api_port = int(os.environ.get("PORT", "8080"))
    firestore_port = int(os.environ.get("FIRESTORE_EMULATOR_PORT", "8681"))
    tasks_port = int(os.environ.get("TASKS_EMULATOR_PORT", "8682"))
    for port in (api_port, firestore_port, tasks_port):
        if not _port_free(port):
            raise SystemExit(f"emulate: port {port} is taken (set PORT, FIRESTORE_EMULATOR_PORT, TASKS_EMULATOR_PORT)")
    logs = ROOT / ".data" / "emulate"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**environment(api_port, firestore_port, tasks_port), **_overrides()}
    queue_path = f"projects/{PROJECT}/locations/{REGION}/queues/{QUEUE}"
    processes: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        fs = _start(
            "Firestore emulator",
            [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{firestore_port}", "--quiet"],
            dict(os.environ),
            logs / "firestore-emulator.log",
        )
        processes.append(fs)
        tasks = _start(
            "Cloud Tasks emulator",
            [str(tasks_python), "-W", "ignore", str(ROOT / "scripts/tasks_emulator.py"), str(tasks_port), queue_path],
            dict(os.environ),
            logs / "tasks-emulator.log",
        )
        processes.append(tasks)
        _wait("Firestore emulator", fs, lambda: httpx.get(f"http://127.0.0.1:{firestore_port}/", timeout=1).is_success)
        _wait("Cloud Tasks emulator", tasks, lambda: not _port_free(tasks_port))
        shown = {k: ("<generated>" if k in ("INTERNAL_SECRET", "ENCRYPTION_KEYS") else v) for k, v in env.items()}
        print("emulate: API environment:\n" + "\n".join(f"  {k}={v}" for k, v in sorted(shown.items())), flush=True)
        api = _start("API", [sys.executable, "-m", "functions.local", *argv], {**os.environ, **env}, None)
        processes.append(api)
        _wait("API", api, lambda: httpx.get(f"http://127.0.0.1:{api_port}/readiness", timeout=2).is_success)
        print(f"emulate: ready: http://127.0.0.1:{api_port} (Ctrl-C stops everything)", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        dead = next(p for p in processes if p.poll() is not None)
        print(f"emulate: {dead.args[0]} exited ({dead.returncode}); stopping", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("emulate: stopping", flush=True)
        _stop(processes)


def _overrides() -> dict[str, str]:
    """Settings the user set in the environment win over the generated ones."""
    keep = ("API_KEYS", "HF_ENDPOINT", "RUNPOD_API_BASE", "RUNPOD_RUNTIME_BASE", "HF_TOKEN", "RATE_LIMIT_PER_MINUTE")
    return {k: os.environ[k] for k in keep if os.environ.get(k)}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
