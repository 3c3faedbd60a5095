"""The one table of deployment steps: the name a task carries -> the function that runs it.

Listed in bring-up order; `cleanup` runs after a failure or a deletion; the `update_*` steps bring up
a green generation beside the serving one and switch to it (or remove it). A step exists because it is
named here, not because some module was imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shared.deploy.step_context import StepFn
from shared.deploy.steps import cleanup, endpoint, finalize, green, sizing, switch

STEPS: Mapping[str, StepFn] = MappingProxyType(
    {
        "validate": sizing.validate,
        "select_gpu": sizing.select_gpu,
        "create_endpoint": endpoint.create_endpoint,
        "wait_ready": endpoint.wait_ready,
        "finalize": finalize.finalize,
        "cleanup": cleanup.cleanup,
        "update_validate": green.update_validate,
        "update_select_gpu": green.update_select_gpu,
        "update_create": green.update_create,
        "update_wait": green.update_wait,
        "update_switch": switch.update_switch,
        "update_drain": switch.update_drain,
        "update_retire": switch.update_retire,
        "update_abort": switch.update_abort,
    }
)
