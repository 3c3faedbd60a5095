"""Runpod's REST v2 OpenAPI document, vendored: the fake checks every management request against it.

`runpod-openapi-v2.json` is a copy of /work/shared/reference/runpod-openapi-v2.json.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).with_name("runpod-openapi-v2.json")
SPEC_URI = "urn:runpod:openapi-v2"


@functools.cache
def load_spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


@functools.cache
def spec_validator(schema_name: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for `#/components/schemas/<schema_name>`, `$ref`s resolved in the whole spec."""
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry)


@dataclass(frozen=True)
class SpecRoute:
    template: str  # e.g. "/v2/serverless/{id}"
    pattern: re.Pattern[str]
    operations: dict[str, dict[str, Any]]  # "GET" -> operation object


@functools.cache
def spec_routes() -> list[SpecRoute]:
    routes = []
    for template, item in load_spec()["paths"].items():
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        ops = {m.upper(): op for m, op in item.items() if m in ("get", "put", "post", "patch", "delete")}
        routes.append(SpecRoute(template, re.compile(f"^{regex}$"), ops))
    # Literal segments win over parameters: /v2/registries/delegations before /v2/registries/{id}.
    return sorted(routes, key=lambda r: (r.template.count("{"), -len(r.template)))


def request_schema_name(operation: dict[str, Any]) -> str | None:
    ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def semantic_errors(body: dict[str, Any], creating: bool, schema: str = "CreateEndpointRequest") -> list[str]:
    """Rules the spec states in prose rather than in the schema (endpoint bodies only)."""
    if "Endpoint" not in schema:
        return []
    errors = []
    if creating and ("gpu" in body) == ("cpu" in body):
        errors.append("exactly one of `gpu` or `cpu` is required")
    gpu = body.get("gpu") if isinstance(body.get("gpu"), dict) else {}
    if gpu.get("allowedCudaVersions") and gpu.get("minCudaVersion"):
        errors.append("gpu.allowedCudaVersions (non-empty) and gpu.minCudaVersion are mutually exclusive")
    workers = body.get("workers") if isinstance(body.get("workers"), dict) else {}
    if isinstance(workers.get("min"), int) and isinstance(workers.get("max"), int) and workers["min"] > workers["max"]:
        errors.append("workers.min exceeds workers.max")
    return errors
