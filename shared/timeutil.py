"""UTC timestamps with one fixed ISO-8601 format, so stored strings sort in time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import PlainSerializer

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime(FORMAT)


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def later(dt: datetime, seconds: float) -> datetime:
    return dt + timedelta(seconds=seconds)


Timestamp = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json")]
