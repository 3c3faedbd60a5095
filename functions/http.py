"""Request parsing and response shaping shared by every handler."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pydantic
from flask import Request, Response

from shared.errors import (
    ApiError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

M = TypeVar("M", bound=pydantic.BaseModel)
MAX_BODY_BYTES = 64 * 1024


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if isinstance(body, pydantic.BaseModel):
        text = body.model_dump_json()
    else:
        text = json.dumps(body, separators=(",", ":"))
    return Response(text, status=status, headers=headers or {}, mimetype="application/json")


def error_response(err: ApiError) -> Response:
    return json_response(err.body(), err.status, err.headers)


def read_json(request: Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object, refusing oversized, non-JSON and non-object bodies with a 4xx."""
    if request.content_length and request.content_length > max_bytes:
        raise PayloadTooLargeError(f"request body larger than {max_bytes} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"request body larger than {max_bytes} bytes")
    mimetype = request.mimetype or "application/json"
    if raw and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError("send the body as application/json")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ValidationError("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    return data


def parse_body(request: Request, model: type[M]) -> M:
    data = read_json(request)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError("invalid request body", {"errors": validation_errors(exc)}) from None


def validation_errors(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors without the input values (they may hold secrets)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"].removeprefix("Value error, ")
        out.append({"field": loc, "message": msg})
    return out
