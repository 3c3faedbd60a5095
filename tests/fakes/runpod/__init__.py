"""FakeRunpod: Runpod's REST v2 management API and the serverless runtime API on one local server.

Give the product the same `base_url` as RUNPOD_API_BASE and RUNPOD_RUNTIME_BASE. One state
(`state.RunpodState`: endpoints, jobs, workers, accounts, faults, and the test controls over them)
is served by three sets of handlers:

- `management`: every request is checked against the vendored OpenAPI spec (`spec`): unknown paths,
  wrong methods and request bodies that fail the operation's JSON schema are answered 400/404/405 and
  appended to `fake.violations`, so a test can end with `assert fake.violations == []`.
- `runtime`: not in that spec, checked by hand (paths, methods, an `input` object).
  `attach_worker(endpoint_id, url)` forwards that endpoint's run/runsync/status to a real worker
  serving the Runpod SDK's local API (`--rp_serve_api`).
- `vllm`: Runpod's vLLM worker on `/v2/{id}/openai/v1/...` (chat/completions, completions, models;
  `"stream": true` answers SSE; `openai_next` scripts vLLM's errors, which come back with HTTP 200).

`faults` holds what can go wrong (`FaultPlan`, `fail_next`, `hold_next`).
"""

from tests.fakes.runpod.faults import FAULT_KINDS, FaultPlan, Hold
from tests.fakes.runpod.server import FakeRunpod
from tests.fakes.runpod.spec import load_spec, spec_routes, spec_validator
from tests.fakes.runpod.state import DEFAULT_GPUS, WORKER_STATES, problem

__all__ = [
    "DEFAULT_GPUS",
    "FAULT_KINDS",
    "WORKER_STATES",
    "FakeRunpod",
    "FaultPlan",
    "Hold",
    "load_spec",
    "problem",
    "spec_routes",
    "spec_validator",
]
