"""The one error map of both Runpod clients, and what the inference proxy shows a caller of each fault."""

from __future__ import annotations

import httpx
import pytest

from shared.clients.runpod.errors import RunpodError, error_from, problem_detail
from shared.proxy.upstream import caller_error
from shared.schemas.stored import Deployment

DEP = Deployment.model_construct(deployment_id="dep_x")


def answer(status: int, body: object = None, text: str | None = None, headers: dict[str, str] | None = None):
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "transient"),
    [
        (401, {"detail": "bad key"}, "unauthorized", "runpod_unauthorized", False),
        (403, {"detail": "no permission"}, "forbidden", "runpod_forbidden", False),
        (403, {"detail": "Worker quota exceeded"}, "quota", "runpod_quota_exceeded", False),
        (400, {"detail": "max workers above your limit"}, "quota", "runpod_quota_exceeded", False),
        (404, {"error": "endpoint gone"}, "not_found", "runpod_not_found", False),
        (413, {}, "too_large", "runpod_rejected", False),
        (429, {}, "rate_limited", "runpod_unavailable", True),
        (408, {}, "timeout", "runpod_unavailable", True),
        (504, {}, "timeout", "runpod_unavailable", True),
        (503, {}, "unavailable", "runpod_unavailable", True),
        (422, {"title": "Unprocessable"}, "bad_request", "runpod_rejected", False),
    ],
)
def test_every_answer_maps_to_one_kind_code_and_retry_verdict(status, body, kind, code, transient) -> None:
    err = error_from(answer(status, body))
    assert (err.kind, err.code, err.transient, err.status) == (kind, code, transient, status)


def test_retry_after_is_carried_on_rate_limits() -> None:
    err = error_from(answer(429, {}, headers={"Retry-After": "7"}))
    assert err.retry_after == 7


@pytest.mark.parametrize(
    ("resp", "detail"),
    [
        (answer(400, {"title": "Bad Request", "detail": "gpu missing", "errors": ["a", "b"]}), "gpu missing; a; b"),
        (answer(400, {"error": {"message": "nested", "code": 400}}), "nested"),
        (answer(400, {"message": "plain"}), "plain"),
        (answer(400, {"other": 1}), '{"other": 1}'),
        (answer(400, ["x"]), '["x"]'),
        (answer(502, text="<html>bad gateway</html>"), "<html>bad gateway</html>"),
        (answer(400, {}), ""),
    ],
)
def test_one_parser_reads_problem_details_runtime_errors_and_text(resp, detail) -> None:
    assert problem_detail(resp) == detail


@pytest.mark.parametrize(
    ("err", "job_id", "status", "name"),
    [
        (RunpodError("timeout", "Runpod did not answer in time"), None, 504, "GatewayTimeoutError"),
        (RunpodError("unavailable", "Cannot reach Runpod (ConnectError)"), None, 502, "BadGatewayError"),
        (error_from(answer(401, {})), None, 502, "BadGatewayError"),
        (error_from(answer(404, {})), None, 502, "BadGatewayError"),
        (error_from(answer(404, {})), "job-1", 404, "NotFoundError"),
        (error_from(answer(413, {})), None, 413, "PayloadTooLargeError"),
        (error_from(answer(429, {})), None, 429, "RateLimitError"),
        (error_from(answer(504, {})), None, 504, "GatewayTimeoutError"),
        (error_from(answer(500, {})), None, 502, "BadGatewayError"),
        (error_from(answer(400, {"detail": "no"})), None, 400, "BadRequestError"),
        (RunpodError("invalid_response", "Runpod answered with a body that is not JSON", 200), None, 502,
         "BadGatewayError"),
    ],
)  # fmt: skip
def test_the_proxy_shows_each_fault_as_the_status_it_means(err, job_id, status, name) -> None:
    shown = caller_error(err, DEP, job_id)
    assert (shown.status, type(shown).__name__) == (status, name)


def test_a_rate_limit_passes_on_whole_seconds() -> None:
    shown = caller_error(error_from(answer(429, {}, headers={"Retry-After": "1.2"})), DEP)
    assert shown.headers == {"Retry-After": "2"}
    assert caller_error(error_from(answer(429, {})), DEP).headers == {"Retry-After": "1"}
