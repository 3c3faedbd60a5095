"""Cold start of each Cloud Function: "import main + first request served" in fresh processes, beside a bare
functions-framework hello-world measured in the same run (rounds interleave them, so load drifts hit both).

Each sample is one new interpreter running `functions_framework.create_app(target)` and its test client's
first request, timed from process start to the answer's arrival (interpreter start-up included for both).
The store is the embedded default and already initialised (an install that has served before).
"""

from __future__ import annotations

import argparse
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
DEP = "/v1/deployments/dep_2026_cold"

# entry point -> its first request (method, path, credentials)
FIRST_REQUEST: dict[str, tuple[str, str, str]] = {
    "health": ("GET", "/health", ""),
    "api": ("GET", "/health", ""),
    "get_deployment": ("GET", DEP, "key"),
    "list_deployments": ("GET", "/v1/deployments", "key"),
    "create_deployment": ("POST", "/v1/deployments", "key"),
    "manage_deployment": ("POST", f"{DEP}/stop", "key"),
    "stream_logs": ("GET", f"{DEP}/logs/stream", "key"),
    "delete_deployment": ("DELETE", DEP, "key"),
    "deployment_ready": ("POST", f"/internal/deployment-ready/{DEP.rsplit('/', 1)[1]}", ""),
    "run_step": ("POST", "/internal/steps", ""),
    "reconcile": ("POST", "/internal/reconcile", ""),
    "account": ("GET", "/v1/credentials", "key"),
    "admin": ("GET", "/admin/tenants", "admin"),
    "inference": ("GET", "/v1/models", "key"),
}

CHILD = """
import sys
import functions_framework
target, source, method, path, auth, key, admin = sys.argv[1:8]
headers = {"key": {"Authorization": "Bearer " + key}, "admin": {"X-Admin-Token": admin}}.get(auth, {})
client = functions_framework.create_app(target=target, source=source).test_client()
answer = client.open(path, method=method, headers=headers, json={} if method == "POST" else None)
print(answer.status_code, flush=True)
"""

HELLO = """import functions_framework


@functions_framework.http
def hello(request):
    return "hello"
"""


def sample(env: dict[str, str], target: str, source: str, method: str, path: str, auth: str) -> tuple[float, str]:
    """Seconds from spawning the interpreter to the first response's status line on its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, target, source, method, path, auth, API_KEY, ADMIN_TOKEN],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    status = proc.stdout.readline().strip()
    elapsed = time.perf_counter() - start
    proc.wait(60)
    if not status:
        raise RuntimeError(f"{target} served nothing")
    return elapsed, status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per entry point (at least 10)")
    parser.add_argument("--only", nargs="*", default=list(FIRST_REQUEST), help="entry points to measure")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    (tmp / "hello").mkdir()
    hello_main = tmp / "hello" / "main.py"
    hello_main.write_text(HELLO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "HF_", "API_KEYS", "ORCHESTRATOR"))}
    env |= {"DATA_DIR": str(tmp / "data"), "API_KEYS": API_KEY, "ADMIN_TOKEN": ADMIN_TOKEN,
            "ORCHESTRATOR_BACKEND": "local", "PYTHONDONTWRITEBYTECODE": "0"}  # fmt: skip
    main_py = str(ROOT / "main.py")
    sample(env, "get_deployment", main_py, "GET", DEP, "key")  # initialise the store: bootstrap tenant, secrets
    times: dict[str, list[float]] = {"hello-world": []}
    statuses: dict[str, str] = {}
    for _ in range(max(10, args.runs)):
        times["hello-world"].append(sample(env, "hello", str(hello_main), "GET", "/", "")[0])
        for target in args.only:
            method, path, auth = FIRST_REQUEST[target]
            seconds, statuses[target] = sample(env, target, main_py, method, path, auth)
            times.setdefault(target, []).append(seconds)
    bare = statistics.median(times["hello-world"])
    print(f"cold start: median of {max(10, args.runs)} fresh processes, import main + first request served")
    print(f"{'entry point':<20} {'first request':<44} {'median':>9} {'vs bare':>8}")
    print(f"{'hello-world (bare)':<20} {'GET /':<44} {bare * 1000:7.0f}ms {1:7.2f}x")
    for target in args.only:
        method, path, _ = FIRST_REQUEST[target]
        median = statistics.median(times[target])
        first = f"{method} {path} -> {statuses[target]}"
        print(f"{target:<20} {first:<44} {median * 1000:7.0f}ms {median / bare:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
