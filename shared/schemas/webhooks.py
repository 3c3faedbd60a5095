"""Bodies of the webhook routes: the signing secret and a deployment's deliveries."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.platform.clock import Timestamp


class WebhookSecret(BaseModel):
    secret: str
    previous_secret_valid_until: Timestamp | None = None


class WebhookDelivery(BaseModel):
    delivery_id: str
    event: str
    sequence: int | None = Field(default=None, description="The event's place among the deployment's events")
    status: str = Field(description="pending, delivered, failed (see last_error), or superseded (not sent again)")
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    superseded_by: str | None = Field(default=None, description="The later event that made this one stale")
    created_at: str
    last_attempt_at: str | None = None
    delivered_at: str | None = None
    url: str


class WebhookDeliveryList(BaseModel):
    data: list[WebhookDelivery]


class Redelivery(BaseModel):
    delivery_id: str
    status: str
