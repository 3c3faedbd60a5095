"""Bodies of the stored-credential routes (/v1/credentials) and of a deployment's key change."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.clients.header_tokens import check_token
from shared.platform.clock import Timestamp
from shared.sandbox.keys import SANDBOX_KEY


def _checked(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        check_token(value.get_secret_value())
    return value


class CredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    provider: Literal["runpod", "sandbox"] = Field(
        default="runpod", description="sandbox: the simulated Runpod (test mode; no key needed)"
    )
    name: str = Field(default="Runpod", min_length=1, max_length=100)
    api_key: SecretStr | None = Field(default=None, min_length=1, max_length=512)
    credentials: dict[str, SecretStr] | None = Field(default=None, description='Seed 004 form: {"api_key": "..."}')
    is_default: bool = False

    @field_validator("api_key")
    @classmethod
    def _header_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked(value)

    @field_validator("credentials")
    @classmethod
    def _header_tokens(cls, value: dict[str, SecretStr] | None) -> dict[str, SecretStr] | None:
        for secret in (value or {}).values():
            _checked(secret)
        return value

    @model_validator(mode="after")
    def _one_key(self) -> CredentialCreate:
        if self.provider == "sandbox":
            if self.api_key is not None or self.credentials is not None:
                raise ValueError("a sandbox credential holds no key")
            return self
        if self.api_key is None and not (self.credentials and "api_key" in self.credentials):
            raise ValueError("give api_key (or credentials.api_key)")
        return self

    def key(self) -> str:
        if self.provider == "sandbox":
            return SANDBOX_KEY
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return (self.credentials or {})["api_key"].get_secret_value()


class CredentialUpdate(BaseModel):
    """PUT /v1/credentials/{id}: a new key (after a rotation at Runpod); every deployment using it follows."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    api_key: SecretStr = Field(min_length=1, max_length=512)
    name: str | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("api_key")
    @classmethod
    def _header_token(cls, value: SecretStr) -> SecretStr:
        check_token(value.get_secret_value())
        return value


class DeploymentCredentialChange(BaseModel):
    """POST /v1/deployments/{id}/credential: exactly one of a new inline key or a stored credential."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_runpod_key: SecretStr | None = Field(default=None, min_length=1, max_length=512)
    credential_id: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("user_runpod_key")
    @classmethod
    def _header_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> DeploymentCredentialChange:
        if (self.user_runpod_key is None) == (self.credential_id is None):
            raise ValueError("give exactly one of user_runpod_key or credential_id")
        return self


class DeploymentCredential(BaseModel):
    deployment_id: str
    credential_id: str | None = Field(description="The stored credential it uses; null for its own inline key")
    masked_key: str


class CredentialView(BaseModel):
    id: str
    provider: str
    name: str
    masked_key: str
    is_default: bool
    is_valid: bool | None
    validated_at: Timestamp | None = None
    validation_error: str | None = None
    created_at: Timestamp


class CredentialList(BaseModel):
    data: list[CredentialView]
