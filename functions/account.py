"""Handlers for a tenant's own settings: stored credentials and the webhook signing secret."""

from __future__ import annotations

from flask import Response

from functions.http import json_response, parse_body
from functions.routing import Call
from shared.accounts import credentials
from shared.deploy import key_change, notify, records
from shared.platform.errors import NotFoundError, ServiceUnavailableError
from shared.schemas.credentials import CredentialCreate, CredentialList, CredentialUpdate, DeploymentCredentialChange
from shared.schemas.webhooks import Redelivery, WebhookDelivery, WebhookDeliveryList, WebhookSecret
from shared.webhooks import signing


def create_credential(call: Call) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    body = parse_body(request, CredentialCreate)
    return json_response(credentials.create(svc, call.tenant_id, body), 201, headers)


def list_credentials(call: Call) -> Response:
    svc, headers = call.svc, call.headers()
    return json_response(CredentialList(data=credentials.list_for(svc, call.tenant_id)), 200, headers)


def get_credential(call: Call, credential_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    return json_response(credentials.get(svc, call.tenant_id, credential_id), 200, headers)


def replace_credential(call: Call, credential_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    body = parse_body(request, CredentialUpdate)
    return json_response(key_change.replace(svc, call.tenant_id, credential_id, body), 200, headers)


def change_deployment_credential(call: Call, deployment_id: str) -> Response:
    svc, request, headers = call.svc, call.request, call.headers()
    dep = records.owned(svc, call.owner, deployment_id)  # another tenant's deployment: 404 before the body
    body = parse_body(request, DeploymentCredentialChange)
    answer = key_change.change_deployment_key(svc, dep, body)
    return json_response(answer, 200, headers)


def delete_credential(call: Call, credential_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    credentials.delete(svc, call.tenant_id, credential_id)
    return Response(status=204, headers=headers)


def validate_credential(call: Call, credential_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    return json_response(credentials.validate(svc, call.tenant_id, credential_id), 200, headers)


def default_credential(call: Call, credential_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    return json_response(credentials.set_default(svc, call.tenant_id, credential_id), 200, headers)


def webhook_secret(call: Call) -> Response:
    svc, headers = call.svc, call.headers()
    current, _ = signing.secrets_for(svc, call.tenant_id)
    if not current:  # never hand out an empty secret
        raise ServiceUnavailableError("The webhook secret is not available; retry", headers={"Retry-After": "1"})
    return json_response(WebhookSecret(secret=current), 200, {**headers, "Cache-Control": "no-store"})


def rotate_webhook_secret(call: Call) -> Response:
    svc, headers = call.svc, call.headers()
    new, until = signing.rotate(svc, call.tenant_id)
    answer = WebhookSecret(secret=new, previous_secret_valid_until=until)
    return json_response(answer, 200, {**headers, "Cache-Control": "no-store"})


def list_deliveries(call: Call, deployment_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    records.owned(svc, call.owner, deployment_id)
    data = [WebhookDelivery.model_validate(d) for d in notify.list_for(svc, deployment_id)]
    return json_response(WebhookDeliveryList(data=data), 200, headers)


def redeliver(call: Call, deployment_id: str, delivery_id: str) -> Response:
    svc, headers = call.svc, call.headers()
    records.owned(svc, call.owner, deployment_id)
    result = notify.redeliver(svc, deployment_id, delivery_id)
    if result is None:
        raise NotFoundError(f"Delivery {delivery_id} not found", {"delivery_id": delivery_id})
    return json_response(Redelivery(**result), 202, headers)
