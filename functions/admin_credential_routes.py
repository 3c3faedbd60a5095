"""Routes of /admin/credentials (seed 004): a tenant's credentials, managed by the operator."""

from __future__ import annotations

from functions.routing import Route

TENANT_QUERY = {"tenant_id": {"type": "string", "description": "the tenant whose credential it is (required)"}}
_VIEW: dict[int, str | None] = {200: "credentials:AdminCredentialView"}

ADMIN_CREDENTIAL_ROUTES: list[Route] = [
    Route("POST", "/admin/credentials", "admin", "admin_credentials:create_credential",
          "Store a credential for body.tenant_id (encrypted; shown masked)", auth="admin",
          request="credentials:AdminCredentialCreate", responses={201: "credentials:AdminCredentialView"},
          tag="admin"),
    Route("GET", "/admin/credentials", "admin", "admin_credentials:list_credentials",
          "A tenant's credentials (masked)", auth="admin",
          responses={200: "credentials:AdminCredentialList"}, tag="admin", query=TENANT_QUERY),
    Route("GET", "/admin/credentials/{credential_id}", "admin", "admin_credentials:get_credential",
          "One credential of the tenant (masked)", auth="admin", responses=_VIEW, tag="admin", query=TENANT_QUERY),
    Route("PUT", "/admin/credentials/{credential_id}", "admin", "admin_credentials:replace_credential",
          "Replace its key: every deployment using it acts with the new key at once", auth="admin",
          request="credentials:CredentialUpdate", responses={**_VIEW, 409: None, 503: None}, tag="admin",
          query=TENANT_QUERY),
    Route("DELETE", "/admin/credentials/{credential_id}", "admin", "admin_credentials:delete_credential",
          "Delete a credential (409 while deployments use it)", auth="admin", responses={204: None, 409: None},
          tag="admin", query=TENANT_QUERY),
    Route("POST", "/admin/credentials/{credential_id}/validate", "admin", "admin_credentials:validate_credential",
          "Check the key against Runpod", auth="admin", responses=_VIEW, tag="admin", query=TENANT_QUERY),
    Route("POST", "/admin/credentials/{credential_id}/default", "admin", "admin_credentials:default_credential",
          "Make it the tenant's default for new deployments", auth="admin", responses=_VIEW, tag="admin",
          query=TENANT_QUERY),
]  # fmt: skip
