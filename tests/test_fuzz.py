"""Property-based fuzzing of every public operation from /openapi.json (schemathesis), authenticated.

Deterministic (derandomized Hypothesis, no example database): the same cases on every run. Checks:
no 5xx, and every documented response matches its published schema. Valid and invalid inputs both.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.conftest import ADMIN_TOKEN

CASES_PER_OPERATION_AND_MODE = 14  # ≈ 45 operations × 2 modes × 14 ≥ 1,000 cases
MIN_TOTAL_CASES = 1000
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]  # no 5xx; as published
# Admin operations run last: the fuzzer may suspend or delete tenants, which stops keys.
ORDER = ("/admin/",)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.conftest import launch

    # Hub and Runpod unreachable: creates are accepted and retry in the background; nothing leaves the box.
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "RUNPOD_API_BASE": "http://127.0.0.1:9",
           "RUNPOD_RUNTIME_BASE": "http://127.0.0.1:9", "HTTP_TIMEOUT_SECONDS": "0.5",
           "INFERENCE_TIMEOUT_SECONDS": "0.5",
           # Negative cases send wrong credentials; past the failed-authentication limit every request of this one
           # client would be a 429 and the rest of the run would test nothing (the limit has its own test).
           "AUTH_FAILURES_PER_MINUTE": "1000000"}  # fmt: skip
    srv = launch(tmp_path_factory.mktemp("fuzz") / "data", env)
    yield srv
    srv.stop()


def _operations(schema) -> list:
    ops = [result.ok() for result in schema.get_all_operations()]
    return sorted(ops, key=lambda op: (op.path.startswith(ORDER), op.path, op.method))


def _fuzz(op, mode, base_url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Run one operation's cases in one generation mode; (cases run, failure descriptions)."""
    label = f"{op.method.upper()} {op.path} [{mode.value}]"
    failures: list[str] = []
    count = 0

    @settings(max_examples=CASES_PER_OPERATION_AND_MODE, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case) -> None:
        nonlocal count
        count += 1
        try:
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)
        except (AssertionError, FailureGroup) as exc:  # keep going: report every distinct failure at the end
            failures.append(f"{label}: {str(exc)[:1500]}")

    try:
        run()
    except Unsatisfiable:  # an operation without inputs has no invalid ones
        assert mode == schemathesis.GenerationMode.NEGATIVE, label
    return count, failures


def test_fuzz_every_operation_no_server_error_and_schema_conformance(server) -> None:
    raw = httpx.get(f"{server.base_url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    headers = {"Authorization": f"Bearer {server.api_key}", "X-Admin-Token": ADMIN_TOKEN}
    failures: list[str] = []
    count = 0
    for op in _operations(schema):
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            ran, failed = _fuzz(op, mode, server.base_url, headers)
            count += ran
            failures += failed
    print(f"fuzz: {count} cases, {len(failures)} failures")
    assert count >= MIN_TOTAL_CASES, count
    distinct = list(dict.fromkeys(failures))
    assert not distinct, f"{len(distinct)} failures in {count} cases:\n" + "\n\n".join(distinct[:200])
