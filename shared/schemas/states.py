"""Deployment statuses and the one table of allowed transitions."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    VALIDATING = "validating"
    SELECTING_GPU = "selecting_gpu"
    CREATING_ENDPOINT = "creating_endpoint"
    DOWNLOADING_MODEL = "downloading_model"
    LOADING_MODEL = "loading_model"
    READY = "ready"
    PAUSED = "paused"
    FAILED = "failed"
    WEBHOOK_FAILED = "webhook_failed"
    DELETING = "deleting"
    CLEANUP_FAILED = "cleanup_failed"
    DELETED = "deleted"


S = Status

TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.VALIDATING: frozenset({S.SELECTING_GPU, S.FAILED, S.DELETING}),
    S.SELECTING_GPU: frozenset({S.CREATING_ENDPOINT, S.FAILED, S.DELETING}),
    S.CREATING_ENDPOINT: frozenset({S.DOWNLOADING_MODEL, S.LOADING_MODEL, S.READY, S.FAILED, S.DELETING}),
    S.DOWNLOADING_MODEL: frozenset({S.LOADING_MODEL, S.READY, S.FAILED, S.DELETING}),
    S.LOADING_MODEL: frozenset({S.READY, S.FAILED, S.DELETING}),
    S.READY: frozenset({S.WEBHOOK_FAILED, S.PAUSED, S.DELETING}),
    S.WEBHOOK_FAILED: frozenset({S.READY, S.PAUSED, S.DELETING}),
    S.PAUSED: frozenset({S.READY, S.DELETING}),
    S.FAILED: frozenset({S.DELETING}),
    S.DELETING: frozenset({S.DELETED, S.CLEANUP_FAILED}),
    S.CLEANUP_FAILED: frozenset({S.DELETING, S.DELETED}),
    S.DELETED: frozenset(),
}

# The order in which a deployment is brought up. A worker's callbacks may move a deployment ahead of
# the step that is running (e.g. to loading_model while create_endpoint still retries its create).
PROVISIONING_ORDER = (S.VALIDATING, S.SELECTING_GPU, S.CREATING_ENDPOINT, S.DOWNLOADING_MODEL, S.LOADING_MODEL)
# Still being brought up: a worker callback or a readiness poll may move these forward.
PROVISIONING = frozenset({S.VALIDATING, S.SELECTING_GPU, S.CREATING_ENDPOINT, S.DOWNLOADING_MODEL, S.LOADING_MODEL})
WAITING_FOR_WORKER = frozenset({S.CREATING_ENDPOINT, S.DOWNLOADING_MODEL, S.LOADING_MODEL})
# The endpoint is serving (or able to): the deployment is usable.
SERVING = frozenset({S.READY, S.WEBHOOK_FAILED})
GONE = frozenset({S.DELETING, S.CLEANUP_FAILED, S.DELETED})
# Finished bringing up, one way or the other: a log stream without follow ends here.
SETTLED = frozenset({S.READY, S.FAILED, S.DELETED, S.WEBHOOK_FAILED, S.PAUSED, S.CLEANUP_FAILED})


def can_move(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def is_ahead(current: Status, target: Status) -> bool:
    """True when `current` is later than `target` in the bring-up order (a move there would go backwards)."""
    order = PROVISIONING_ORDER
    return current in order and target in order and order.index(current) > order.index(target)
