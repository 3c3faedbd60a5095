"""What a tenant's tier allows: data, not code. The shipped table (shared/accounts/data/tiers.json, seed
004's) or the operator's (TIERS: a path to a JSON file or the JSON itself), read once per process.

The tier itself is read from the tenant's record on every request (tenants.authenticate), so a change
through PATCH /admin/tenants/{id} applies to the very next request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.platform.errors import TierError
from shared.platform.settings import ConfigError
from shared.schemas.stored_accounts import Tier
from shared.services import Services

SHIPPED = Path(__file__).parent / "data" / "tiers.json"
TIERS_IN_ORDER: tuple[str, ...] = get_args(Tier)

Feature = Literal["self_service_credentials", "instances", "log_streams"]
FEATURE_NAMES: dict[str, str] = {
    "self_service_credentials": "self-service credentials",
    "instances": "self-service deployments (instances)",
    "log_streams": "log streaming",
}


class Quotas(BaseModel):
    """null: no limit (requests_per_minute null: RATE_LIMIT_PER_MINUTE)."""

    model_config = ConfigDict(extra="forbid")

    concurrent_deployments: int | None = Field(default=None, ge=0)
    gpus_per_deployment: int | None = Field(default=None, ge=0)
    total_gpus: int | None = Field(default=None, ge=0)
    requests_per_minute: int | None = Field(default=None, ge=1)


class TierPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    self_service_credentials: bool = False
    instances: bool = False
    log_streams: bool = False
    quotas: Quotas = Quotas()


class TierTable(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tiers: dict[str, TierPolicy]

    @model_validator(mode="after")
    def _every_tier(self) -> TierTable:
        if set(self.tiers) != set(TIERS_IN_ORDER):
            raise ValueError(f"the table must name exactly the tiers {', '.join(TIERS_IN_ORDER)}")
        return self


def load_table(source: str | None) -> TierTable:
    """The table from TIERS (JSON text when it starts with "{", else a file path), or the shipped one."""
    text = source.strip() if source else ""
    try:
        raw = text if text.startswith("{") else Path(text or SHIPPED).read_text()
        return TierTable.model_validate(json.loads(raw))
    except (OSError, ValueError, ValidationError) as exc:
        raise ConfigError(f"invalid configuration: TIERS: {exc}") from None


def table(svc: Services) -> TierTable:
    cached = svc.extras.get("tier_table")
    if cached is None:
        cached = svc.extras["tier_table"] = load_table(svc.settings.tiers)
    assert isinstance(cached, TierTable)
    return cached


def policy(svc: Services, tier: str) -> TierPolicy:
    return table(svc).tiers.get(tier) or TierPolicy()  # an unknown tier: nothing


def allowing(svc: Services, feature: Feature) -> list[str]:
    """The tiers that include `feature`, cheapest first."""
    tiers = table(svc).tiers
    return [t for t in TIERS_IN_ORDER if getattr(tiers[t], feature)]


def require(svc: Services, tier: str, feature: Feature) -> None:
    """TierError (403) unless `tier` includes `feature`; it names the tier and the tiers that would allow it."""
    if getattr(policy(svc, tier), feature):
        return
    allowed = allowing(svc, feature)
    what = FEATURE_NAMES[feature]
    upgrade = f"; tiers that include it: {', '.join(allowed)}" if allowed else "; no tier includes it"
    raise TierError(
        f"Your tier {tier!r} does not include {what}{upgrade}",
        {"tier": tier, "feature": feature, "allowed_tiers": allowed},
    )


def requests_per_minute(svc: Services, tier: str) -> int:
    return policy(svc, tier).quotas.requests_per_minute or svc.settings.rate_limit_per_minute
