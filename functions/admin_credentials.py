"""Handlers for /admin/credentials (seed 004): a tenant's stored credentials, managed by the operator.

The same encrypted store and rules as the tenant's own /v1/credentials (shared.accounts.credentials); the
tenant is `?tenant_id=` (the body's `tenant_id` on create), and a credential of another tenant is a 404."""

from __future__ import annotations

from flask import Response

from functions.http import json_response, parse_body
from functions.routing import Call
from shared.accounts import credentials, tenants
from shared.deploy import key_change
from shared.platform.errors import ValidationError
from shared.schemas.credentials import (
    AdminCredentialCreate,
    AdminCredentialList,
    AdminCredentialView,
    CredentialUpdate,
    CredentialView,
)


def _tenant(call: Call) -> str:
    """The live tenant `?tenant_id=` names (422 without it, 404 for an unknown one)."""
    tenant_id = call.request.args.get("tenant_id", "").strip()
    if not tenant_id:
        raise ValidationError("tenant_id is required (?tenant_id=)", {"field": "tenant_id"})
    return tenants.get_tenant(call.svc, tenant_id).id


def _view(tenant_id: str, view: CredentialView) -> AdminCredentialView:
    return AdminCredentialView(**view.model_dump(), tenant_id=tenant_id)


def create_credential(call: Call) -> Response:
    body = parse_body(call.request, AdminCredentialCreate)
    tenant_id = tenants.get_tenant(call.svc, body.tenant_id).id
    return json_response(_view(tenant_id, credentials.create(call.svc, tenant_id, body)), 201)


def list_credentials(call: Call) -> Response:
    tenant_id = _tenant(call)
    data = [_view(tenant_id, c) for c in credentials.list_for(call.svc, tenant_id)]
    return json_response(AdminCredentialList(data=data))


def get_credential(call: Call, credential_id: str) -> Response:
    tenant_id = _tenant(call)
    return json_response(_view(tenant_id, credentials.get(call.svc, tenant_id, credential_id)))


def replace_credential(call: Call, credential_id: str) -> Response:
    tenant_id = _tenant(call)
    body = parse_body(call.request, CredentialUpdate)
    return json_response(_view(tenant_id, key_change.replace(call.svc, tenant_id, credential_id, body)))


def delete_credential(call: Call, credential_id: str) -> Response:
    credentials.delete(call.svc, _tenant(call), credential_id)
    return Response(status=204)


def validate_credential(call: Call, credential_id: str) -> Response:
    tenant_id = _tenant(call)
    return json_response(_view(tenant_id, credentials.validate(call.svc, tenant_id, credential_id)))


def default_credential(call: Call, credential_id: str) -> Response:
    tenant_id = _tenant(call)
    return json_response(_view(tenant_id, credentials.set_default(call.svc, tenant_id, credential_id)))
