"""One caller's failed authentications must not lock every tenant out.

Behind a proxy (Cloud Run's front end, API Gateway) every request may come from the same peer address,
and `TRUSTED_PROXY_HOPS` defaults to 0: the failure limit per client then counts everyone together.
Here every client is 127.0.0.1, the same situation: a guesser past the limit must not stop the tenants
whose keys are in use, while a key not in use still waits like a wrong one (a hit learns nothing).
"""

from __future__ import annotations

from tests.e2e_support import fresh_rate_window


def test_a_guesser_past_the_failure_limit_does_not_lock_out_keys_in_use(start_server) -> None:
    server = start_server(env={"AUTH_FAILURES_PER_MINUTE": "3", "HF_ENDPOINT": "http://127.0.0.1:9"})
    in_use = server.as_key(server.new_tenant_key("Busy"))
    idle = server.as_key(server.new_tenant_key("Idle"))
    fresh_rate_window()
    assert server.client.get("/v1/deployments", headers=in_use).status_code == 200
    guesses = [server.client.get("/v1/deployments", headers=server.as_key(f"guess-{i}")).status_code for i in range(4)]
    assert guesses == [401, 401, 401, 429], guesses
    assert server.client.get("/v1/deployments", headers=in_use).status_code == 200  # was 429: locked out
    assert server.client.get("/v1/credentials", headers=in_use).status_code == 200
    limited = server.client.get("/v1/deployments", headers=idle)
    assert limited.status_code == 429 and limited.json()["error"] == "RateLimitError"
