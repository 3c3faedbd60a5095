"""The name of every Runpod endpoint this product creates: `<prefix><install id>-<deployment id>`.

The name is how the reconciler tells this install's endpoints from everything else in a Runpod
account (the user's own endpoints, another install's, endpoints named the old way `<prefix><deployment
id>`): it only ever deletes an endpoint whose name parses here with this install's id.
A green update's endpoint (shared/deploy/green.py) carries its generation: `<name>-g<generation>`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from shared.platform.settings import INSTALL_ID_PATTERN

DEPLOYMENT_ID = re.compile(r"dep_[0-9]{4}_[0-9a-f]{16}")
GENERATION_SUFFIX = re.compile(r"-g([0-9]{1,9})")


class EndpointName(NamedTuple):
    install_id: str
    deployment_id: str
    generation: int = 1


def format_name(prefix: str, install_id: str, deployment_id: str) -> str:
    if not INSTALL_ID_PATTERN.fullmatch(install_id) or not DEPLOYMENT_ID.fullmatch(deployment_id):
        raise ValueError(f"cannot name an endpoint for install {install_id!r}, deployment {deployment_id!r}")
    return f"{prefix}{install_id}-{deployment_id}"


def generation_name(base: str, generation: int) -> str:
    """The endpoint name of a generation: the deployment's own name for the first, suffixed after."""
    return base if generation <= 1 else f"{base}-g{generation}"


def parse_name(prefix: str, name: str) -> EndpointName | None:
    """The (install id, deployment id) an endpoint name carries, or None when it is not one of ours."""
    if not name.startswith(prefix):
        return None
    install_id, dash, deployment_id = name[len(prefix) :].partition("-")
    generation = 1
    suffix = GENERATION_SUFFIX.search(deployment_id)
    if suffix is not None and suffix.end() == len(deployment_id) and int(suffix[1]) > 1:
        deployment_id, generation = deployment_id[: suffix.start()], int(suffix[1])
    if not dash or not INSTALL_ID_PATTERN.fullmatch(install_id) or not DEPLOYMENT_ID.fullmatch(deployment_id):
        return None
    return EndpointName(install_id, deployment_id, generation)
