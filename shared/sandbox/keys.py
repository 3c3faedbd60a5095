"""The sandbox's Runpod key and scenarios: light on purpose, so that any layer may ask "is this the sandbox?"."""

from __future__ import annotations

from typing import Literal, get_args

SANDBOX_KEY = "sandbox"
Scenario = Literal["ok", "crash_loop", "no_capacity", "slow_start"]
SCENARIOS: tuple[str, ...] = get_args(Scenario)
SCENARIO_ENV = "SANDBOX_SCENARIO"  # how a deployment's scenario reaches its simulated endpoint


def is_sandbox_key(key: str) -> bool:
    return key == SANDBOX_KEY
