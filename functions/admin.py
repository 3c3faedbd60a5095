"""Handlers for /admin: tenants, their API keys, the model registry. Guarded by ADMIN_TOKEN."""

from __future__ import annotations

from flask import Response

from functions.http import json_response, parse_body
from functions.routing import Call
from shared.accounts import tenants
from shared.catalog import model_registry
from shared.deploy import tenant_cascade
from shared.platform.errors import ValidationError
from shared.schemas.accounts import ApiKeyCreate, ApiKeyList, TenantCreate, TenantList, TenantUpdate, TenantView
from shared.schemas.registry import RegistryEntryList, RegistryModel
from shared.schemas.stored_accounts import Tenant


def _view(t: Tenant) -> TenantView:
    return TenantView.model_validate(t.model_dump())


def create_tenant(call: Call) -> Response:
    svc, request = call.svc, call.request
    body = parse_body(request, TenantCreate)
    return json_response(_view(tenants.create_tenant(svc, body)), 201)


def list_tenants(call: Call) -> Response:
    svc = call.svc
    return json_response(TenantList(data=[_view(t) for t in tenants.list_tenants(svc)]))


def get_tenant(call: Call, tenant_id: str) -> Response:
    svc = call.svc
    return json_response(_view(tenants.get_tenant(svc, tenant_id)))


def update_tenant(call: Call, tenant_id: str) -> Response:
    svc, request = call.svc, call.request
    body = parse_body(request, TenantUpdate)
    return json_response(_view(tenant_cascade.update_tenant(svc, tenant_id, body)))


def delete_tenant(call: Call, tenant_id: str) -> Response:
    svc, request = call.svc, call.request
    force = request.args.get("force", "").lower() in ("1", "true", "yes")
    tenant_cascade.delete_tenant(svc, tenant_id, force)
    return Response(status=204)


def create_api_key(call: Call, tenant_id: str | None = None) -> Response:
    svc, request = call.svc, call.request
    body = parse_body(request, ApiKeyCreate)
    owner = tenant_id or body.tenant_id
    if not owner:
        raise ValidationError("tenant_id is required", {"field": "tenant_id"})
    return json_response(tenants.create_key(svc, owner, body.name), 201)


def list_api_keys(call: Call, tenant_id: str) -> Response:
    svc = call.svc
    tenants.get_tenant(svc, tenant_id)
    return json_response(ApiKeyList(data=tenants.list_keys(svc, tenant_id)))


def revoke_api_key(call: Call, key_id: str, tenant_id: str | None = None) -> Response:
    svc = call.svc
    tenants.revoke_key(svc, key_id, tenant_id)
    return Response(status=204)


def register_model(call: Call) -> Response:
    svc, request = call.svc, call.request
    body = parse_body(request, RegistryModel)
    return json_response(model_registry.upsert(svc, body), 201)


def list_models(call: Call) -> Response:
    svc = call.svc
    return json_response(RegistryEntryList(data=model_registry.entries(svc)))


def delete_model(call: Call, provider: str, name: str) -> Response:
    svc = call.svc
    model_registry.remove(svc, provider, name)
    return Response(status=204)
