"""UTC timestamps with one fixed ISO-8601 format, so stored strings sort in time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import PlainSerializer

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """FORMAT, zero-padded to four-digit years (strftime's %Y is not, for years before 1000)."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse(value: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime; a time without a zone is UTC (never the server's
    local time). ValueError for text that is not a time or falls outside the representable range."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is outside the supported time range") from None


def later(dt: datetime, seconds: float) -> datetime:
    return dt + timedelta(seconds=seconds)


Timestamp = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json")]
