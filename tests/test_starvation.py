"""Long-lived requests cannot starve the server (issue 10.6): per-tenant and global caps on log streams,
runsync and the OpenAI proxy, below the server's thread count."""

from __future__ import annotations

from contextlib import ExitStack

import httpx

from tests.e2e_support import OFFLINE_BODY as BODY

PER_TENANT = 4  # LONG_REQUESTS_PER_TENANT's default
TOTAL = 16  # LONG_REQUESTS_MAX's default


OPEN: list = []  # the iterators of open streams: dropping one would close its connection


def _open_stream(stack: ExitStack, client: httpx.Client, key: str, dep: str) -> httpx.Response:
    resp = stack.enter_context(
        client.stream(
            "GET", f"/v1/deployments/{dep}/logs/stream", params={"follow": "true"},
            headers={"Authorization": f"Bearer {key}"},
        )
    )  # fmt: skip
    if resp.status_code == 200:
        chunks = resp.iter_raw()
        next(chunks)  # the server is inside the stream, holding its thread
        OPEN.append(chunks)
    else:
        resp.read()
    return resp


def _deployment(server, key: str) -> str:
    resp = server.client.post("/v1/deployments", json=BODY, headers=server.as_key(key))
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def test_long_streams_are_capped_per_tenant_and_in_all_and_short_requests_still_answer(start_server) -> None:
    # Hub and Runpod unreachable: the deployments stay in validating, so follow=true streams stay open.
    server = start_server(env={"HF_ENDPOINT": "http://127.0.0.1:9", "RUNPOD_API_BASE": "http://127.0.0.1:9"})
    keys = [server.api_key] + [server.new_tenant_key(f"T{i}") for i in range(4)]
    deps = [_deployment(server, key) for key in keys]
    client = httpx.Client(base_url=server.base_url, timeout=httpx.Timeout(10.0))
    with ExitStack() as stack:
        stack.callback(client.close)
        for _ in range(PER_TENANT):
            assert _open_stream(stack, client, keys[0], deps[0]).status_code == 200
        over = _open_stream(stack, client, keys[0], deps[0])
        assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
        assert set(over.json()) == {"error", "message", "details"} and over.json()["error"] == "RateLimitError"

        for key, dep in zip(keys[1:4], deps[1:4], strict=True):  # three more tenants: 16 streams in all
            for _ in range(PER_TENANT):
                assert _open_stream(stack, client, key, dep).status_code == 200
        busy = _open_stream(stack, client, keys[4], deps[4])  # a fifth tenant: over the global cap
        assert busy.status_code == 503 and "Retry-After" in busy.headers
        assert busy.json()["error"] == "ServiceUnavailableError"

        # With 16 streams open, short requests and other tenants still get a thread.
        short = httpx.Client(base_url=server.base_url, timeout=5.0)
        stack.callback(short.close)
        assert short.get("/health").status_code == 200
        assert short.get(f"/v1/deployments/{deps[4]}", headers=server.as_key(keys[4])).status_code == 200
        listing = short.get("/v1/deployments", headers=server.as_key(keys[0]))
        assert listing.status_code == 200 and listing.json()["data"]
    OPEN.clear()
