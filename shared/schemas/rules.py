"""The validation rules request bodies share: env variables, replicas, webhook URLs, names."""

from __future__ import annotations

import re

from shared.platform.url_form import ascii_url

RESERVED_ENV = re.compile(
    r"^(DEPLOYMENT_ID|HF_MODEL_ID|HF_TOKEN|ORCHESTRATOR_.*|MODEL_NAME|RUNPOD_.*|MODEL_LIBRARY|MODEL_TASK)$"
)
SECRET_ENV_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|CREDENTIAL)")
SECRET_ENV_VALUE = re.compile(r"^(rpa_|hf_|sk-|do_live_|ghp_|github_pat_|AKIA|xox[abp]-|-----BEGIN)")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
MAX_REPLICAS = 100  # workers per endpoint; also keeps every integer far below Firestore's 2^63
MAX_COUNTER = 2**53  # internal counters (step generation, attempt)
DEPLOYMENT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def check_scaling(min_replicas: int, max_replicas: int) -> None:
    """Seed 001's rules: min ≥ 0, max ≥ 1, min ≤ max."""
    if min_replicas < 0:
        raise ValueError("min_replicas must be >= 0")
    if max_replicas < 1:
        raise ValueError("max_replicas must be >= 1")
    if min_replicas > max_replicas:
        raise ValueError("min_replicas must be <= max_replicas")


def check_worker_env(env: dict[str, str]) -> dict[str, str]:
    if len(env) > 50:
        raise ValueError("env holds at most 50 variables")
    for name, value in env.items():
        if not ENV_NAME.match(name):
            raise ValueError(f"env name {name!r} must be UPPER_SNAKE_CASE")
        if RESERVED_ENV.match(name):
            raise ValueError(f"env name {name!r} is set by the orchestrator")
        if SECRET_ENV_NAME.search(name) or SECRET_ENV_VALUE.match(value):
            raise ValueError(f"env {name!r} looks like a secret; secrets are not accepted in env")
        if len(value) > 4096:
            raise ValueError(f"env {name!r} is longer than 4096 characters")
    return env


def check_webhook_url(url: str) -> str:
    """The URL in the ASCII form it is stored and called with (IDNA host, percent-encoded path)."""
    url = ascii_url(url)
    if len(url) > 2048:
        raise ValueError("must be at most 2048 characters")
    return url


DATA_CENTER_ID = re.compile(r"[A-Z0-9-]{2,32}")


def check_data_center_ids(value: list[str]) -> list[str]:
    if any(not DATA_CENTER_ID.fullmatch(dc) for dc in value):
        raise ValueError("data center ids look like 'US-TX-3'")
    return value


def check_repo_id(value: str, pattern: re.Pattern[str]) -> str:
    """A Hugging Face repo id such as 'org/model' (`pattern`: the stored records' HF_REPO_ID)."""
    if not pattern.match(value) or ".." in value or "--" in value:
        raise ValueError("must be a Hugging Face repo id such as 'org/model'")
    return value
