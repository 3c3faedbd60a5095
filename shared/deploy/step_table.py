"""The one table of deployment steps: the name a task carries -> the function that runs it.

Listed in bring-up order; `cleanup` runs after a failure or a deletion. A step exists because it is
named here, not because some module was imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shared.deploy.step_context import StepFn
from shared.deploy.steps import cleanup, endpoint, finalize, sizing

STEPS: Mapping[str, StepFn] = MappingProxyType(
    {
        "validate": sizing.validate,
        "select_gpu": sizing.select_gpu,
        "create_endpoint": endpoint.create_endpoint,
        "wait_ready": endpoint.wait_ready,
        "finalize": finalize.finalize,
        "cleanup": cleanup.cleanup,
    }
)
