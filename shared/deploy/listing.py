"""GET /v1/deployments: the owner's deployments, newest first, by keyset pages (seed 001's list)."""

from __future__ import annotations

import base64
import json

from shared.deploy import records
from shared.platform.errors import ValidationError
from shared.schemas.states import Status
from shared.schemas.stored import Deployment
from shared.services import Services
from shared.store import Query, Where, valid_doc_id

MAX_PAGE = 100


def encode_cursor(dep: Deployment) -> str:
    raw = json.dumps([dep.model_dump(mode="json")["created_at"], dep.deployment_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (created_at, deployment id) a cursor holds; anything else (null, a number, text that is not
    valid Unicode) is a 422, never a query."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError
        created_at, dep_id = value
        if not isinstance(created_at, str) or not isinstance(dep_id, str):
            raise ValueError
        if not valid_doc_id(dep_id):  # also refuses lone surrogates: they cannot reach the store
            raise ValueError
        created_at.encode("utf-8")
        return created_at, dep_id
    except (ValueError, TypeError, RecursionError):
        raise ValidationError("cursor is not one this API returned", {"field": "cursor"}) from None


def check_status(status: str | None) -> None:
    if status is not None and status not in {s.value for s in Status}:
        raise ValidationError(f"unknown status {status!r}", {"field": "status", "allowed": [s.value for s in Status]})


def list_deployments(
    svc: Services, owner: str, status: str | None, model_id: str | None, limit: int, cursor: str | None
) -> tuple[list[Deployment], str | None]:
    """The owner's deployments, newest first; keyset pagination, so concurrent creates never shift pages."""
    check_status(status)
    where = [Where("owner", "==", owner)]
    if status:
        where.append(Where("status", "==", status))
    if model_id:
        where.append(Where("model_id", "==", model_id))
    return page(svc, where, limit, cursor)


def page(svc: Services, where: list[Where], limit: int, cursor: str | None) -> tuple[list[Deployment], str | None]:
    """One page of the deployments matching `where` (equalities), newest first, and the next page's cursor.
    Also the operator's fleet (shared/deploy/fleet.py), across owners."""
    after = decode_cursor(cursor) if cursor else None
    rows = svc.store.query(
        Query(
            records.DEPLOYMENTS,
            where=tuple(where),
            order_by=(("created_at", "desc"),),
            limit=limit + 1,
            start_after=(after[0],) if after else None,
            start_after_id=after[1] if after else None,
        )
    )
    deps = [Deployment.model_validate(doc) for _, doc in rows]
    more = len(deps) > limit
    deps = deps[:limit]
    return deps, (encode_cursor(deps[-1]) if more and deps else None)
