"""Bodies of the model registry's admin routes (/admin/models): what a `model_name` resolves to."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from shared.platform.clock import Timestamp
from shared.schemas.stored import HF_REPO_ID

ANY = "*"  # the provider of an entry that matches any provider


class RegistryModel(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=128)
    provider: str = Field(default=ANY, min_length=1, max_length=64, description="'*' matches any provider")
    hf_model_id: str = Field(
        max_length=193,
        examples=["black-forest-labs/FLUX.1-schnell"],
        validation_alias=AliasChoices("hf_model_id", "huggingface_id"),  # huggingface_id: seed 004's name
    )
    vram_required_gb: float | None = Field(default=None, gt=0, le=2000)
    task: str | None = Field(default=None, max_length=64)

    @field_validator("hf_model_id")
    @classmethod
    def _repo_id(cls, value: str) -> str:
        # Python's re, not `pattern=`: pydantic's engine compiles this Unicode pattern slowly (cold starts).
        if not HF_REPO_ID.match(value):
            raise ValueError("must be a Hugging Face repo id such as 'org/model'")
        return value


class RegistryEntry(RegistryModel):
    id: str
    source: str = "admin"
    created_at: Timestamp | None = None


class RegistryEntryList(BaseModel):
    """GET /admin/models (not the OpenAI-style ModelList of GET /v1/models)."""

    data: list[RegistryEntry]
