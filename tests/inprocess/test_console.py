"""The web console's routes: its pages carry a 'self'-only CSP and nosniff, assets come with their types,
nothing outside its folder can be reached, no secret ships in it; and GET /v1/gpu-pools behind the form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.console import FILES, TYPES
from scripts.build_source import sources
from tests.conftest import ADMIN_TOKEN, API_KEY, ROOT
from tests.e2e_support import HUGE, LLM, OFFLINE_BODY
from tests.inprocess.conftest import InProcess

ASSETS = sorted(p for p in FILES.iterdir() if p.is_file())
ERROR_KEYS = {"error", "message", "details"}


def _csp(headers: dict[str, str]) -> dict[str, list[str]]:
    policy = headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in policy.split(";")) if d}


def test_the_page_has_a_self_only_policy(app: InProcess) -> None:
    resp = app.open("GET", "/console")
    assert resp.status_code == 200
    assert resp.content_type == "text/html; charset=utf-8"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    csp = _csp(dict(resp.headers))
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    sources = " ".join(v for values in csp.values() for v in values)
    assert "unsafe" not in sources and "http" not in sources and "*" not in sources


@pytest.mark.parametrize("path", ASSETS, ids=lambda p: p.name)
def test_every_asset_is_served_with_its_type(app: InProcess, path: Path) -> None:
    resp = app.open("GET", f"/console/{path.name}")
    assert resp.status_code == 200
    assert resp.content_type == TYPES[path.suffix]
    assert resp.data == path.read_bytes()
    assert "Content-Security-Policy" in resp.headers and resp.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_loads_only_its_own_files(app: InProcess) -> None:
    html = app.open("GET", "/console").get_data(as_text=True)
    assert "<style" not in html and " style=" not in html and "javascript:" not in html
    for tag in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S):
        assert tag.strip() == "", "no inline script"
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/console/", "#")), url
        if url.startswith("/console/"):
            assert app.open("GET", url).status_code == 200, url
    for path in ASSETS:
        if path.suffix == ".js":
            text = path.read_text()
            assert not re.search(r"\beval\(|new Function|innerHTML|outerHTML|insertAdjacentHTML", text), path.name
            assert "localStorage" not in text, path.name  # the key lives in sessionStorage only
            for module in re.findall(r'from "([^"]+)"', text):
                assert module.startswith("./") and (FILES / module[2:]).is_file(), (path.name, module)


@pytest.mark.parametrize(
    "path",
    [
        "/console/..%2Fconsole.py",
        "/console/%2e%2e%2fmain.py",
        "/console/../main.py",
        "/console/console.py",
        "/console/sub/app.js",
        "/console/.app.js",
        "/console/app.js%00",
        "/console/app.js.map",
        "/console/%5c..%5cmain.py",
        "/console/nope.css",
    ],
)
def test_nothing_outside_the_console_folder(app: InProcess, path: str) -> None:
    resp = app.open("GET", path)
    assert resp.status_code == 404, (path, resp.status_code)
    assert set(resp.json) == ERROR_KEYS
    assert b"import" not in resp.data


def test_no_secret_ships_in_the_console(app: InProcess) -> None:
    secrets = [API_KEY, ADMIN_TOKEN, OFFLINE_BODY["user_runpod_key"], *(p.name for p in ROOT.glob(".data/*"))]
    settings = app.svc.settings
    for name in ("encryption_keys", "admin_token", "hf_token"):
        value = getattr(settings, name, None)
        secret = getattr(value, "get_secret_value", lambda v=value: v)()
        if isinstance(secret, str) and len(secret) >= 8:
            secrets.append(secret)
    for path in ASSETS:
        body = app.open("GET", f"/console/{path.name}").get_data(as_text=True)
        for secret in secrets:
            assert secret not in body, path.name
        assert not re.search(r"\b(rpa|sk|hf)_[A-Za-z0-9]{16,}", body), path.name


def test_the_console_is_routed_but_not_documented(app: InProcess) -> None:
    assert not [p for p in app.open("GET", "/openapi.json").json["paths"] if p.startswith("/console")]
    gateway = (ROOT / "infra" / "gateway" / "openapi.yaml.tftpl").read_text()
    assert '"/console":' in gateway and '"/console/{filename}":' in gateway


def test_the_console_ships_in_the_function_bundle() -> None:
    shipped = {p.relative_to(ROOT).as_posix() for p in sources()}
    assert {f"functions/console_files/{p.name}" for p in ASSETS} <= shipped


def test_gpu_pools_without_a_model(app: InProcess) -> None:
    body = app.get("/v1/gpu-pools").json
    assert body["required_vram_gb"] is None and body["data"]
    assert all(o["fits"] and o["gpu_count"] == 1 for o in body["data"])
    prices = [o["price_per_hour"] for o in body["data"] if o["price_per_hour"] is not None]
    assert prices == sorted(prices)


def test_gpu_pools_needs_a_key_and_a_repo_id(app: InProcess) -> None:
    assert app.open("GET", "/v1/gpu-pools").status_code == 401
    bad = app.get("/v1/gpu-pools?model_id=../etc")
    assert bad.status_code == 422 and set(bad.json) == ERROR_KEYS


def test_gpu_pools_for_a_model(live: InProcess) -> None:
    small = live.get(f"/v1/gpu-pools?model_id={LLM}").json
    assert 0 < small["required_vram_gb"] < 4 and small["estimate_error"] is None
    first = small["data"][0]
    assert first["fits"] and first["gpu_count"] == 1 and first["price_per_hour"] > 0
    huge = live.get(f"/v1/gpu-pools?model_id={HUGE}").json
    assert huge["required_vram_gb"] > 1000 and not any(o["fits"] for o in huge["data"])
    missing = live.get("/v1/gpu-pools?model_id=acme/no-such-model").json
    assert missing["required_vram_gb"] is None and "not found" in missing["estimate_error"]


def test_list_rows_show_phase_progress_and_cost(app: InProcess) -> None:
    dep_id = app.create()
    row = next(r for r in app.get("/v1/deployments").json["data"] if r["deployment_id"] == dep_id)
    assert row["phase"] == "queued" and row["progress"] == 0
    assert "cost" in row
