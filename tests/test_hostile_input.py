"""Hostile input (issue 10.5, 10.7, 10.8, 11.9): every bad input is a 4xx in the documented shape, never a 500."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e_support import OFFLINE_BODY as BODY

ERROR_KEYS = {"error", "message", "details"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.conftest import launch

    env = {
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "RUNPOD_API_BASE": "http://127.0.0.1:9",
        "TZ": "America/New_York",  # naive times must still be read as UTC
    }
    srv = launch(tmp_path_factory.mktemp("hostile") / "data", env)
    yield srv
    srv.stop()


def _is_error(resp: httpx.Response, status: int | set[int]) -> dict:
    wanted = {status} if isinstance(status, int) else status
    assert resp.status_code in wanted, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert set(body) == ERROR_KEYS, body
    return body


def _deployment(server) -> str:
    resp = server.post("/v1/deployments", json=BODY)
    assert resp.status_code == 202, resp.text
    return resp.json()["deployment_id"]


def _raw(server, method: str, path: str, content: bytes) -> httpx.Response:
    headers = {**server.auth, "Content-Type": "application/json"}
    return server.client.request(method, path, content=content, headers=headers)


@pytest.mark.parametrize("path", ["/v1/deployments", "/v1/deployments/dep_x/scale", "/v1/chat/completions",
                                  "/v1/credentials", "/v1/deployments/dep_x/run"])  # fmt: skip
def test_deeply_nested_json_is_a_422(server, path) -> None:
    deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    _is_error(_raw(server, "POST", path, deep), {404, 422})
    moderately = b'{"hf_model_id":' + b"[" * 100 + b"]" * 100 + b"}"  # under the recursion limit, over ours
    _is_error(_raw(server, "POST", path, moderately), {404, 422})


def test_deep_json_on_create_is_a_422_not_a_404(server) -> None:
    deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert _is_error(_raw(server, "POST", "/v1/deployments", deep), 422)["error"] == "ValidationError"


def test_lone_surrogate_in_openai_model_is_a_422(server) -> None:
    _is_error(_raw(server, "POST", "/v1/chat/completions", b'{"model": "\\ud800", "messages": []}'), 422)
    _is_error(_raw(server, "POST", "/v1/deployments", b'{"hf_model_id": "a/\\udfff"}'), 422)


@pytest.mark.parametrize("value", [None, 7, "x", ["\ud800", "dep_x"], ["2026-01-01T00:00:00Z", ".."], {}, [1, 2]])
def test_bad_cursors_are_a_422(server, value) -> None:
    text = json.dumps(value)  # lone surrogates stay \u escapes, as a forged cursor would carry them
    cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    _is_error(server.get("/v1/deployments", params={"cursor": cursor}), 422)


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "not a time"])
def test_since_at_the_edges_of_time_is_a_422(server, since) -> None:
    dep = _deployment(server)
    _is_error(server.get(f"/v1/deployments/{dep}/logs", params={"since": since}), 422)


def test_since_at_the_start_of_time_lists_everything(server) -> None:
    dep = _deployment(server)
    resp = server.get(f"/v1/deployments/{dep}/logs", params={"since": "0001-01-02T00:00:00Z"})
    assert resp.status_code == 200 and resp.json()["data"], resp.text


def test_since_without_a_zone_is_utc_not_server_local_time(server) -> None:
    """The server runs with TZ=America/New_York: a naive time must still mean UTC (issue 11.9)."""
    dep = _deployment(server)
    first = datetime.fromisoformat(server.deployment(dep)["logs"][0]["timestamp"].replace("Z", "+00:00"))
    before = (first - timedelta(seconds=1)).astimezone(UTC)
    naive = before.replace(tzinfo=None).isoformat()
    zoned = before.isoformat().replace("+00:00", "Z")
    with_zone = server.get(f"/v1/deployments/{dep}/logs", params={"since": zoned}).json()["data"]
    without_zone = server.get(f"/v1/deployments/{dep}/logs", params={"since": naive}).json()["data"]
    assert with_zone and without_zone  # later lines may arrive between the calls: compare the first
    assert without_zone[0]["id"] == with_zone[0]["id"]


@pytest.mark.parametrize("bad_id", [".", "..", "__x__", "__.__"])
def test_ids_that_cannot_name_a_document_are_a_404(server, bad_id) -> None:
    quoted = bad_id.replace(".", "%2E")  # keep the client from resolving dot segments
    for method, path in [("GET", "/v1/deployments/{}"), ("DELETE", "/v1/deployments/{}"),
                         ("GET", "/v1/deployments/{}/logs"), ("GET", "/v1/credentials/{}"),
                         ("POST", "/v1/credentials/{}/validate"),
                         ("POST", "/v1/deployments/dep_x/webhook-deliveries/{}/redeliver")]:  # fmt: skip
        resp = server.client.request(method, path.format(quoted), headers=server.auth)
        _is_error(resp, 404)
    admin = server.admin("GET", f"/admin/tenants/{quoted}")
    _is_error(admin, 404)


@pytest.mark.parametrize("field", ["min_replicas", "max_replicas"])
def test_huge_replicas_are_a_422_and_claim_no_name(server, field) -> None:
    body = {**BODY, field: 2**63, "deployment_name": f"huge-{field.replace('_', '-')}"}
    _is_error(server.post("/v1/deployments", json=body), 422)
    again = server.post("/v1/deployments", json={**body, field: 1})
    assert again.status_code == 202, again.text  # the name was not left claimed
    _is_error(server.post(f"/v1/deployments/{again.json()['deployment_id']}/scale",
                          json={"min_replicas": 0, "max_replicas": 2**63}), 422)  # fmt: skip


def test_non_ascii_webhook_url_is_stored_encoded(server) -> None:
    resp = server.post("/v1/deployments", json={**BODY, "user_webhook_url": "https://bücher.example/hook/ä?q=ü"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["webhook_url"] == "https://xn--bcher-kva.example/hook/%C3%A4?q=%C3%BC"
    _is_error(server.post("/v1/deployments", json={**BODY, "user_webhook_url": "https://exa mple.com/"}), 422)


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def test_chunked_oversized_body_is_refused_without_buffering_it(start_server) -> None:
    """A 12 MiB chunked body (no Content-Length) is over both limits (64 KiB and 10 MiB): the server reads
    no more than the limit before its 413, so its peak memory does not grow by the body's size. A fresh,
    idle server (no deployments, so no background steps loading modules while we measure)."""
    server = start_server()
    size, piece = 12 * 1024 * 1024, b" " * (256 * 1024)

    def body(total: int):
        for _ in range(total // len(piece)):
            yield piece

    headers = {**server.auth, "Content-Type": "application/json"}
    for path in ("/v1/deployments", "/v1/chat/completions"):
        warm = server.client.post(path, content=b"{}", headers=headers)  # loads the code paths, small
        assert warm.status_code < 500
        before = _peak_rss_kib(server.process.pid)
        resp = server.client.post(path, content=body(size), headers=headers)
        assert _is_error(resp, 413)["error"] == "PayloadTooLargeError"
        grown_mib = (_peak_rss_kib(server.process.pid) - before) / 1024
        assert grown_mib < 6, f"{path}: peak RSS grew by {grown_mib:.1f} MiB for a 12 MiB body"


def test_data_files_are_private(tmp_path) -> None:
    """DATA_DIR holds secrets: created 0700, and every file in it (databases, WAL/SHM, keys) 0600."""
    from tests.conftest import launch

    data_dir = tmp_path / "fresh" / "data"  # not created beforehand: the server makes it
    srv = launch(tmp_path / "launch", {"DATA_DIR": str(data_dir)})
    try:
        assert srv.post("/v1/deployments", json=BODY).status_code == 202  # writes to both databases
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        files = [p for p in data_dir.iterdir() if p.is_file()]
        names = {p.name for p in files}
        assert {"orchestrator.db", "queue.db"} <= names, names
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path.name} is {oct(path.stat().st_mode)}"
    finally:
        srv.stop()


@pytest.mark.parametrize("path", ["/v1/deployments/a%0Ab", "/x%0A", "/internal/deployment-logs/a%0A"])
def test_paths_no_url_rule_matches_get_the_documented_404(server, path) -> None:
    """A newline in a path escapes the framework's catch-all rule: still JSON, never its HTML page."""
    assert _is_error(server.client.get(path, headers=server.auth), 404)["error"] == "NotFoundError"


def test_openapi_documents_query_parameters_and_naive_times_as_utc(server) -> None:
    spec = server.client.get("/openapi.json").json()
    logs = spec["paths"]["/v1/deployments/{deployment_id}/logs"]["get"]
    since = next(p for p in logs["parameters"] if p["name"] == "since")
    assert since["in"] == "query" and "UTC" in since["schema"]["description"]
    assert "404" in logs["responses"] and "413" in spec["paths"]["/v1/deployments"]["post"]["responses"]
    listing = spec["paths"]["/v1/deployments"]["get"]["parameters"]
    assert {p["name"] for p in listing} == {"status", "model_id", "limit", "cursor"}
