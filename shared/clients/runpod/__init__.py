"""One Runpod client for its two APIs: REST v2 management (`RunpodClient`) and the serverless
runtime of one endpoint (`RuntimeClient`).

Both go through one connection (`connection`), one URL builder (`RunpodConfig`) and one error map
(`errors`): whatever Runpod answers becomes a `RunpodError`, a `Fault`. Every call has a timeout.
Importing the package is cheap: httpx comes with the clients, so code that only catches
`RunpodError` (reads, authentication) never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.clients.runpod.config import RunpodConfig
from shared.clients.runpod.errors import RunpodError, runpod_code

if TYPE_CHECKING:
    from shared.clients.runpod.management import RunpodClient
    from shared.clients.runpod.runtime import RuntimeClient

__all__ = ["RunpodClient", "RunpodConfig", "RunpodError", "RuntimeClient", "runpod_code"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the clients bring httpx, which cold paths that never call Runpod skip.
    if name == "RunpodClient":
        # the management client brings httpx: imported on first use
        from shared.clients.runpod.management import RunpodClient

        return RunpodClient
    if name == "RuntimeClient":
        # the runtime client brings httpx: imported on first use
        from shared.clients.runpod.runtime import RuntimeClient

        return RuntimeClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
