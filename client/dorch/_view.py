"""The read-only face of a deployment handle, shared by `Deployment` and `AsyncDeployment`."""

from __future__ import annotations

from typing import Any

from dorch.types import ErrorInfo


class DeploymentView:
    """Properties over the last state the API returned (call `refresh()` for a newer one)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = dict(data)

    @property
    def id(self) -> str:
        """The deployment id (`dep_...`)."""
        return str(self._data["deployment_id"])

    @property
    def data(self) -> dict[str, Any]:
        """The deployment's JSON as last returned by the API."""
        return dict(self._data)

    @property
    def status(self) -> str:
        """validating, selecting_gpu, creating_endpoint, downloading_model, loading_model, ready, failed,
        webhook_failed, paused, deleting, deleted or cleanup_failed."""
        return str(self._data.get("status", ""))

    @property
    def phase(self) -> str | None:
        """A coarser stage for people: queued, validating, provisioning, downloading, loading, ready, ..."""
        return self._data.get("phase")

    @property
    def progress(self) -> int | None:
        """Percent done of the whole bring-up (None when not applicable)."""
        return self._data.get("progress")

    @property
    def endpoint_url(self) -> str | None:
        """The Runpod endpoint's `/run` URL, once the endpoint exists."""
        return self._data.get("endpoint_url")

    @property
    def error(self) -> ErrorInfo | None:
        """Why it failed, when it did."""
        return ErrorInfo.from_json(self._data.get("error"))

    @property
    def model_id(self) -> str:
        return str(self._data.get("model_id", ""))

    @property
    def name(self) -> str | None:
        return self._data.get("deployment_name")

    @property
    def webhook_url(self) -> str | None:
        """Where the deployment's events are sent; None when created without a webhook."""
        return self._data.get("webhook_url")

    @property
    def gpu(self) -> str | None:
        """The GPU pool allocated (e.g. AMPERE_48)."""
        return self._data.get("gpu_allocated")

    @property
    def price_per_hour(self) -> float | None:
        """Price of one worker per hour in USD (list price), when known."""
        cost = self._data.get("cost")
        return cost.get("price_per_hour") if isinstance(cost, dict) else None

    @property
    def is_llm(self) -> bool:
        """True when it runs on the vLLM image (call it through the OpenAI-compatible routes)."""
        return "vllm" in str(self._data.get("worker_image") or "")

    def _changed(self, answer: Any) -> dict[str, Any]:
        """Keep what a scale, pause or resume answer says (the new scaling) and return the answer."""
        result: dict[str, Any] = answer if isinstance(answer, dict) else {}
        self._data.update({k: result[k] for k in ("min_replicas", "max_replicas") if k in result})
        return result

    def _update(self, data: Any) -> None:
        """After a delete: the last state seen while waiting, or at least that it is being deleted."""
        if isinstance(data, dict):
            self._data = data
        elif self._data.get("status") != "deleted":
            self._data["status"] = "deleting"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._data.get('deployment_id')} {self.status}>"
