"""Hugging Face Hub metadata through `huggingface_hub` (imported lazily: it is heavy).

`fetch_model_facts` returns what the steps need (size, library, pipeline, config) or raises
`HubError` (a `Fault`) with a stable code: model_not_found, model_gated, hf_unavailable. Only what
is really the Hub's fault (an HTTP error status, a network error or timeout, a body that is not JSON)
becomes `hf_unavailable`; anything else raised here is a bug and surfaces as one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from json import JSONDecodeError
from typing import Any

from shared.clients.header_tokens import header_safe
from shared.platform.faults import Fault

_factory_lock = threading.Lock()
_factory_timeout: float | None = None


class HubError(Fault):
    def __init__(self, code: str, message: str, transient: bool = False, unreachable: bool = False):
        super().__init__(code, message, transient=transient)
        self.unreachable = unreachable  # no answer at all (network error, timeout): not the Hub saying no


@dataclass(frozen=True)
class ModelFacts:
    model_id: str
    sha: str | None = None
    library_name: str | None = None
    pipeline_tag: str | None = None
    gated: bool = False
    private: bool = False
    parameters: dict[str, int] = field(default_factory=dict)  # dtype -> count (safetensors)
    file_sizes: dict[str, int] = field(default_factory=dict)  # weight file path -> bytes
    config: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def _use_timeout(timeout: float) -> None:
    """huggingface_hub's shared client has no timeout by default; give it ours, once."""
    global _factory_timeout
    if _factory_timeout == timeout:
        return
    with _factory_lock:
        if _factory_timeout == timeout:
            return
        # huggingface_hub and its HTTP client are heavy: imported by the validate step only
        import httpx2
        from huggingface_hub import set_client_factory
        from huggingface_hub.utils._http import hf_request_event_hook

        set_client_factory(
            lambda: httpx2.Client(
                event_hooks={"request": [hf_request_event_hook]},
                follow_redirects=True,
                timeout=timeout,
            )
        )
        _factory_timeout = timeout


def fetch_model_facts(endpoint: str, model_id: str, token: str | None, timeout: float) -> ModelFacts:
    if token is not None and not header_safe(token):
        raise HubError("model_gated", "the Hugging Face token holds characters no HTTP header can carry")
    _use_timeout(timeout)
    # huggingface_hub is heavy: imported by the validate step only
    import httpx2  # huggingface_hub's HTTP client: its network errors and timeouts
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = HfApi(endpoint=endpoint.rstrip("/"), token=token or False)
    try:
        info = api.model_info(model_id, files_metadata=True, timeout=timeout)
        gated = bool(getattr(info, "gated", False))
        if gated:
            if not token:
                raise HubError(
                    "model_gated",
                    f"{model_id} is gated on Hugging Face: pass user_hf_token from an account that "
                    "has accepted its terms",
                )
            api.auth_check(model_id)
    except HubError:
        raise
    except GatedRepoError:
        raise HubError(
            "model_gated", f"{model_id} is gated and the Hugging Face token given has no access to it"
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise HubError(
            "model_not_found",
            f"{model_id} was not found on Hugging Face (or it is private and no token with access was given)",
        ) from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError("model_gated", f"Hugging Face refused access to {model_id} ({status})") from None
        if status is not None and status < 500 and status != 429:
            raise HubError("model_not_found", f"Hugging Face rejected {model_id} ({status})") from None
        raise HubError("hf_unavailable", f"Hugging Face is unavailable ({status})", transient=True) from None
    except httpx2.HTTPError as exc:  # network errors, timeouts
        raise HubError(
            "hf_unavailable", f"cannot reach Hugging Face ({type(exc).__name__})", transient=True, unreachable=True
        ) from None
    except (JSONDecodeError, UnicodeDecodeError) as exc:  # a body not JSON
        raise HubError("hf_unavailable", f"cannot reach Hugging Face ({type(exc).__name__})", transient=True) from None
    return _facts(model_id, info, gated)


def _facts(model_id: str, info: Any, gated: bool) -> ModelFacts:
    safetensors = getattr(info, "safetensors", None)
    parameters = dict(getattr(safetensors, "parameters", None) or {}) if safetensors else {}
    sizes = {
        s.rfilename: int(s.size)
        for s in (getattr(info, "siblings", None) or [])
        if getattr(s, "size", None) is not None
    }
    return ModelFacts(
        model_id=model_id,
        sha=getattr(info, "sha", None),
        library_name=getattr(info, "library_name", None),
        pipeline_tag=getattr(info, "pipeline_tag", None),
        gated=gated,
        private=bool(getattr(info, "private", False)),
        parameters={k: int(v) for k, v in parameters.items()},
        file_sizes=sizes,
        config=dict(getattr(info, "config", None) or {}),
        tags=tuple(getattr(info, "tags", None) or ()),
    )
