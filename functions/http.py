"""Request parsing and response shaping shared by every handler."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Request, Response
from werkzeug.exceptions import HTTPException

from shared.platform.errors import (
    ApiError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

if TYPE_CHECKING:
    import pydantic

M = TypeVar("M", bound="pydantic.BaseModel")
MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 64
_READ_CHUNK = 64 * 1024
_RAW_KEY = "orchestrator.body"
_JSON_KEY = "orchestrator.json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    dump = getattr(body, "model_dump_json", None)  # a pydantic model (pydantic is not imported on cold paths)
    if dump is not None:
        text = dump()
    else:
        text = json.dumps(body, separators=(",", ":"))
    return Response(text, status=status, headers=headers or {}, mimetype="application/json")


def error_response(err: ApiError) -> Response:
    return json_response(err.body(), err.status, err.headers)


_FRAMEWORK_NAMES = {404: "NotFoundError", 405: "MethodNotAllowedError", 413: "PayloadTooLargeError"}


def framework_error_response(exc: HTTPException) -> Response:
    """An error the web framework raised before our router ran (a path no URL rule matches, such as one
    holding a newline), in the documented error shape instead of an HTML page."""
    status = exc.code or 500
    name = _FRAMEWORK_NAMES.get(status) or "".join(w.capitalize() for w in (exc.name or "Http").split()) + "Error"
    body = {"error": name, "message": exc.description or exc.name or "error", "details": {}}
    headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
    return json_response(body, status, headers)


def read_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, read at most `max_bytes` + 1 bytes at a time: an oversized body (chunked or not) is
    refused with a 413 as soon as it passes the limit, never buffered whole. Read once per request."""
    cached = request.environ.get(_RAW_KEY)
    if cached is not None:
        return cached
    if request.content_length and request.content_length > max_bytes:
        raise PayloadTooLargeError(f"request body larger than {max_bytes} bytes")
    stream = request.stream  # bounded by Content-Length, or terminated by the server (chunked)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(f"request body larger than {max_bytes} bytes")
    raw = b"".join(chunks)
    request.environ[_RAW_KEY] = raw
    return raw


def read_json(request: Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object, refusing oversized, non-JSON, too deeply nested and non-object bodies,
    and strings that are not valid Unicode (lone surrogates), with a 4xx."""
    cached = request.environ.get(_JSON_KEY)
    if cached is not None:
        return cached
    raw = read_body(request, max_bytes)
    mimetype = request.mimetype or "application/json"
    if raw and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError("send the body as application/json")
    try:
        data = json.loads(raw or b"{}", parse_constant=_no_constant)
    except RecursionError:
        raise ValidationError(f"request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        raise ValidationError("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    check_json_value(data)
    request.environ[_JSON_KEY] = data
    return data


def check_json_value(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse nesting deeper than `max_depth` and strings that cannot be UTF-8 (lone surrogates):
    both would fail far from here (recursion in validation or re-encoding, a store write)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                raise ValidationError("request body holds a string that is not valid Unicode (lone surrogate)")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise ValidationError(f"request body nests deeper than {max_depth} levels")
        if isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        else:
            stack.extend((v, depth + 1) for v in item)


def is_unicode(text: str) -> bool:
    """False for text holding lone surrogates (valid in JSON escapes and Python, not in UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(request: Request, model: type[M]) -> M:
    return validated(model, read_json(request))


def validated(model: type[M], data: Any) -> M:
    """`data` as `model`, or a 422 listing what is wrong (without the values)."""
    import pydantic  # imported here: /health answers without loading pydantic (cold start); free once a model exists

    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError("invalid request body", {"errors": validation_errors(exc)}) from None


def int_arg(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    """A query parameter as an integer in [low, high] (422 otherwise); `default` when absent."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer", {"field": name}) from None
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}", {"field": name})
    return value


def bool_arg(request: Request, name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def validation_errors(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors without the input values (they may hold secrets)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"].removeprefix("Value error, ")
        out.append({"field": loc, "message": msg})
    return out
