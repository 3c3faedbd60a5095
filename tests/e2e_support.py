"""Fakes preloaded with the models the end-to-end tests deploy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.fakes.hub import FakeHub
from tests.fakes.runpod import FakeRunpod
from tests.fakes.webhooks import WebhookReceiver

SDXL = "stabilityai/sdxl-turbo"  # ~7 GB of F16 weights
BIG = "acme/big-diffusion"  # ~20 GB of BF16 weights: too big for a 24 GB card
LLM = "acme/tiny-llm"
GATED = "acme/gated-model"
HUGE = "acme/huge"
TEST_INSTALL_ID = "testinst"  # INSTALL_ID of every test server unless a test gives its own
# A create body that needs no fake: its steps never get far, which handler tests do not care about.
OFFLINE_BODY = {
    "hf_model_id": SDXL,
    "user_runpod_key": "rpa_test",
    "user_webhook_url": "https://example.com/hook",
    "gpu_tier": "A40",
}


def endpoint_name(deployment_id: str, install_id: str = TEST_INSTALL_ID) -> str:
    """The Runpod endpoint name the server under test gives a deployment (shared/deploy/endpoint_names.py)."""
    return f"do-{install_id}-{deployment_id}"


@dataclass
class Fakes:
    runpod: FakeRunpod
    hub: FakeHub
    webhooks: WebhookReceiver

    def env(self) -> dict[str, str]:
        return {
            "RUNPOD_API_BASE": self.runpod.base_url,
            "RUNPOD_RUNTIME_BASE": self.runpod.base_url,
            "HF_ENDPOINT": self.hub.base_url,
        }

    @property
    def hook_url(self) -> str:
        return f"{self.webhooks.base_url}/hook"


def stock_hub(hub: FakeHub) -> None:
    hub.add_model(SDXL, parameters={"F16": 3_500_000_000})
    hub.add_model(BIG, parameters={"BF16": 10_000_000_000})
    hub.add_model(HUGE, parameters={"BF16": 2_000_000_000_000})
    hub.add_model(GATED, parameters={"BF16": 1_000_000_000}, gated="manual", tokens_with_access={"hf_good"})
    hub.add_model(
        LLM,
        library_name="transformers",
        pipeline_tag="text-generation",
        parameters={"BF16": 500_000_000},
        config={"num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2, "hidden_size": 512},
    )


@contextmanager
def running_fakes(**runpod_kwargs) -> Iterator[Fakes]:
    with FakeRunpod(**runpod_kwargs) as runpod, FakeHub() as hub, WebhookReceiver() as webhooks:
        stock_hub(hub)
        yield Fakes(runpod, hub, webhooks)


def create_body(fakes: Fakes, **overrides) -> dict:
    body = {
        "hf_model_id": SDXL,
        "user_runpod_key": "rpa_test",
        "user_webhook_url": fakes.hook_url,
        "gpu_tier": "A40",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def wait_until(
    predicate: Callable[[], object], timeout: float = 20.0, message: str = "condition not met in time"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(message)


def fresh_rate_window(margin_seconds: float = 10.0) -> None:
    """The rate limit counts per clock minute: start a burst early in one, so it cannot straddle two."""
    into = time.time() % 60
    if into > 60 - margin_seconds:
        time.sleep(60 - into + 0.2)
