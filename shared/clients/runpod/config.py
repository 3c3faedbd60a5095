"""Where Runpod's two APIs live and how long a call may take: the one place their URLs are built."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunpodConfig:
    api_base: str  # the REST v2 management API
    runtime_base: str  # the serverless runtime API (api.runpod.ai)
    timeout_seconds: float  # every call's timeout, unless a call says otherwise

    def management_url(self, path: str) -> str:
        """`path` as in Runpod's OpenAPI document, e.g. "/v2/serverless/{id}" filled in."""
        return self.api_base.rstrip("/") + path

    def runtime_url(self, endpoint_id: str, action: str) -> str:
        """An endpoint's runtime route, e.g. action "run", "status/<job id>" or "openai/v1/completions"."""
        return f"{self.runtime_base.rstrip('/')}/v2/{endpoint_id}/{action}"
