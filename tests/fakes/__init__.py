"""Local HTTP servers that play external services in tests (Runpod, the Hugging Face Hub, webhook receivers).

Point the product at `fake.base_url`; never patch production code.
"""

from tests.fakes.base import FakeServer, RecordedRequest, Response
from tests.fakes.hub import FakeHub, HubFaultPlan, HubModel
from tests.fakes.runpod import FakeRunpod, FaultPlan
from tests.fakes.webhooks import WebhookReceiver

__all__ = [
    "FakeHub",
    "FakeRunpod",
    "FakeServer",
    "FaultPlan",
    "HubFaultPlan",
    "HubModel",
    "RecordedRequest",
    "Response",
    "WebhookReceiver",
]
