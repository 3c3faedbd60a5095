"""Cold start of each Cloud Function: "import main + first request served" in fresh processes, beside a bare
functions-framework hello-world measured in the same run (rounds interleave them, so load drifts hit both).

Each sample is one new interpreter running `functions_framework.create_app(target)` and its test client's
first request, timed from process start to the answer's arrival (interpreter start-up included for both).
The first requests are the ones each function exists for, authenticated as their callers would be: reads
of a deployment that exists, a create that is accepted, the worker's log line, a step task (a stale one,
so it calls no upstream) and a reconcile run.

Backend: the embedded default (SQLite store, local queue), which needs no cloud; the Google backend is not
measured (its clients' imports are the price of that backend, paid by a bare Firestore function too).
Before timing, every function serves once: the store holds its bootstrap tenant and one deployment, and
bytecode is compiled, as pip compiles the dependencies' at install. Runpod and the Hub point at a closed
local port: nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-cold-start-key"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdefghij"
NOWHERE = "http://127.0.0.1:9"  # the discard port: closed, so an upstream call fails at once
CREATE = {"hf_model_id": "bench/cold-start", "user_runpod_key": "rpa_bench", "user_webhook_url": f"{NOWHERE}/hook"}

# entry point -> its first request: method, path ({dep}: the seeded deployment), credentials, JSON body
FIRST_REQUEST: dict[str, tuple[str, str, str, dict | None]] = {
    "health": ("GET", "/health", "", None),
    "api": ("GET", "/health", "", None),
    "get_deployment": ("GET", "/v1/deployments/{dep}", "key", None),
    "list_deployments": ("GET", "/v1/deployments?limit=10", "key", None),
    "create_deployment": ("POST", "/v1/deployments", "key", CREATE),
    "manage_deployment": ("POST", "/v1/deployments/{dep}/scale", "key", {"min_replicas": 0, "max_replicas": 1}),
    "stream_logs": ("GET", "/v1/deployments/{dep}/logs/stream", "key", None),
    "delete_deployment": ("DELETE", "/v1/deployments/dep_2026_cold", "key", None),
    "deployment_ready": ("POST", "/internal/deployment-logs/{dep}", "worker", {"level": "info", "message": "hi"}),
    "run_step": ("POST", "/internal/steps", "task", {"deployment_id": "{dep}", "step": "validate", "seq": 0}),
    "reconcile": ("POST", "/internal/reconcile", "task", None),
    "account": ("GET", "/v1/credentials", "key", None),
    "admin": ("GET", "/admin/tenants", "admin", None),
    "inference": ("GET", "/v1/models", "key", None),
}

CHILD = """
import json, sys, time
import functions_framework
target, source, method, path, headers, body = sys.argv[1:7]
client = functions_framework.create_app(target=target, source=source).test_client()
answer = client.open(path, method=method, headers=json.loads(headers), json=json.loads(body))
print("served", answer.status_code, time.process_time(), flush=True)
"""

# Untimed: the deployment the first requests read, and the credentials of the worker and of the queue.
SEED = """
import json, sys
import functions_framework
from functions.security import local_task_token
from shared.platform.crypto import callback_secret
from shared.services import services
client = functions_framework.create_app(target="api", source="main.py").test_client()
key = {"Authorization": "Bearer " + sys.argv[2]}
answer = client.post("/v1/deployments", json=json.loads(sys.argv[1]), headers=key)
assert answer.status_code == 202, answer.get_data(as_text=True)
dep = answer.get_json()["deployment_id"]
svc = services()
worker = callback_secret(svc.settings.internal_secret.get_secret_value(), dep)
print(json.dumps({"dep": dep, "worker": worker, "task": local_task_token(svc)}))
"""

HELLO = """import functions_framework


@functions_framework.http
def hello(request):
    return "hello"
"""

# A second yardstick: the same hello-world answering through one pydantic model, the floor of any function
# that validates or shapes a body with pydantic.
HELLO_PYDANTIC = """import functions_framework
from pydantic import BaseModel


class Hello(BaseModel):
    name: str = "world"


@functions_framework.http
def hello(request):
    return Hello.model_validate(request.args.to_dict()).model_dump_json()
"""


def sample(env: dict[str, str], argv: list[str]) -> tuple[float, float, str]:
    """Seconds from spawning the interpreter to the first response's status on its stdout, the CPU seconds
    the process had used by then (steadier than wall time on a shared machine), and the status."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    served: list[bytes] = []
    for line in proc.stdout:  # log lines may come first (the function logs to stdout)
        if line.startswith(b"served "):
            served = line.split()
            break
    elapsed = time.perf_counter() - start
    proc.stdout.read()
    proc.wait(60)
    if not served:
        raise RuntimeError(f"{argv[0]} served nothing")
    return elapsed, float(served[2]), served[1].decode()


def request_argv(target: str, seeded: dict[str, str]) -> list[str]:
    method, path, auth, body = FIRST_REQUEST[target]
    headers = {
        "key": {"Authorization": f"Bearer {API_KEY}"},
        "admin": {"X-Admin-Token": ADMIN_TOKEN},
        "worker": {"X-Visgate-Internal-Secret": seeded["worker"]},
        "task": {"Authorization": f"Bearer {seeded['task']}"},
    }.get(auth, {})
    dep = seeded["dep"]
    text = json.dumps(body).replace("{dep}", dep)
    return [target, str(ROOT / "main.py"), method, path.replace("{dep}", dep), json.dumps(headers), text]


def bench_env(data_dir: Path) -> dict[str, str]:
    drop = ("RUNPOD_", "HF_", "API_KEYS", "ADMIN_TOKEN", "ORCHESTRATOR", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | {
        "DATA_DIR": str(data_dir),
        "API_KEYS": API_KEY,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ORCHESTRATOR_BACKEND": "local",
        "RUNPOD_API_BASE": NOWHERE,
        "RUNPOD_RUNTIME_BASE": NOWHERE,
        "HF_ENDPOINT": NOWHERE,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per entry point (at least 10)")
    parser.add_argument("--only", nargs="*", default=list(FIRST_REQUEST), help="entry points to measure")
    args = parser.parse_args()
    runs = max(10, args.runs)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    references = {}
    for name, source in (("hello-world (bare)", HELLO), ("hello-world + pydantic", HELLO_PYDANTIC)):
        folder = tmp / f"hello{len(references)}"
        folder.mkdir()
        (folder / "main.py").write_text(source)
        references[name] = ["hello", str(folder / "main.py"), "GET", "/", "{}", "null"]
    env = bench_env(tmp / "data")
    seed = subprocess.run(
        [sys.executable, "-c", SEED, json.dumps(CREATE), API_KEY], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if seed.returncode != 0:
        raise RuntimeError(f"seeding the store failed:\n{seed.stderr[-3000:]}")
    seeded = json.loads(seed.stdout.strip().splitlines()[-1])
    argvs = references | {target: request_argv(target, seeded) for target in args.only}
    for argv in argvs.values():  # warm-up, untimed: bytecode compiled, files in the page cache
        sample(env, argv)
    load_before = os.getloadavg()[0]
    wall: dict[str, list[float]] = {name: [] for name in argvs}
    cpu: dict[str, list[float]] = {name: [] for name in argvs}
    statuses: dict[str, str] = {}
    for _ in range(runs):
        for name, argv in argvs.items():
            seconds, cpu_seconds, statuses[name] = sample(env, argv)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    bare = statistics.median(wall["hello-world (bare)"])
    bare_cpu = statistics.median(cpu["hello-world (bare)"])
    print(f"cold start: median of {runs} fresh processes, import main + first request served (embedded backend)")
    print(f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, {os.cpu_count()} CPUs")
    print(f"{'entry point':<23} {'first request':<52} {'wall':>7} {'vs bare':>7} {'CPU':>7} {'vs bare':>7}")
    for name in argvs:
        method, path, _, _ = FIRST_REQUEST.get(name, ("GET", "/", "", None))
        median, median_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
        first = f"{method} {path} -> {statuses[name]}"
        print(
            f"{name:<23} {first:<52} {median * 1000:5.0f}ms {median / bare:6.2f}x"
            f" {median_cpu * 1000:5.0f}ms {median_cpu / bare_cpu:6.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
