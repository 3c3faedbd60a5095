"""One Runpod key's HTTP connection, shared by the management and the runtime clients.

It adds the key, gives every call a timeout, and turns whatever goes wrong (no answer, an error
answer, a body that is not JSON) into a `RunpodError` through the one error map.
"""

from __future__ import annotations

from typing import Any

import httpx

from shared.clients.header_tokens import UnsafeToken, bearer
from shared.clients.runpod.config import RunpodConfig
from shared.clients.runpod.errors import RunpodError, error_from
from shared.platform import tally


class Connection:
    def __init__(self, api_key: str, config: RunpodConfig, http: httpx.Client | None = None) -> None:
        self._config = config
        self._http = http or httpx.Client(timeout=config.timeout_seconds)
        try:
            self._auth: dict[str, str] | None = bearer(api_key)
        except UnsafeToken:
            self._auth = None  # every call answers "unauthorized": no header can carry this key

    def close(self) -> None:
        self._http.close()

    def _headers(self) -> dict[str, str]:
        if self._auth is None:
            raise RunpodError("unauthorized", "the Runpod API key holds characters no HTTP header can carry")
        return self._auth

    def _request(self, method: str, url: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """The decoded JSON body of a successful answer ({} when empty)."""
        headers = self._headers()
        try:
            resp = self._http.request(
                method, url, headers=headers, timeout=timeout or self._config.timeout_seconds, **kwargs
            )
        except httpx.HTTPError as exc:
            raise counted(transport_error(exc)) from None
        if not resp.is_success:
            raise counted(error_from(resp))
        tally.count(UPSTREAM_CALLS, service="runpod", outcome="ok")
        return decode(resp)

    def _open_stream(self, method: str, url: str, *, timeout: httpx.Timeout, **kwargs: Any) -> httpx.Response:
        """A successful answer whose body is not read yet (the caller closes it); RunpodError otherwise."""
        headers = self._headers()
        try:
            request = self._http.build_request(method, url, headers=headers, timeout=timeout, **kwargs)
            resp = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise counted(transport_error(exc)) from None
        if resp.is_success:
            tally.count(UPSTREAM_CALLS, service="runpod", outcome="ok")
            return resp
        read_all(resp)
        raise counted(error_from(resp))


UPSTREAM_CALLS = "upstream_calls"  # /metrics: calls by service and outcome ("ok" or the error's kind)


def counted(err: RunpodError) -> RunpodError:
    tally.count(UPSTREAM_CALLS, service="runpod", outcome=err.kind)
    return err


def transport_error(exc: httpx.HTTPError) -> RunpodError:
    """No usable answer came: a timeout, a refused or broken connection."""
    if isinstance(exc, httpx.TimeoutException):
        return RunpodError("timeout", "Runpod did not answer in time")
    return RunpodError("unavailable", f"Cannot reach Runpod ({type(exc).__name__})")


def read_all(resp: httpx.Response) -> None:
    """Read the rest of a streamed answer, then close it."""
    try:
        resp.read()
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None
    finally:
        resp.close()


def decode(resp: httpx.Response) -> Any:
    if resp.status_code == 204 or not resp.content:
        return {}
    try:
        return resp.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's json can follow
        raise RunpodError(
            "invalid_response", "Runpod answered with a body that is not JSON", resp.status_code
        ) from None
