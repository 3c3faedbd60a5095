"""Bodies of the service routes (/, /health, /ready) and the one error shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class HealthResponse(BaseModel):
    status: str


class ServiceInfo(BaseModel):
    service: str
    docs: str


class ErrorResponse(BaseModel):
    error: str = Field(examples=["ValidationError"])
    message: str
    details: dict[str, Any] = {}
