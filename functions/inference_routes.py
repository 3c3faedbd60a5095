"""Routes of the inference proxy (issue: the inference container and the inference proxy)."""

from __future__ import annotations

from functions.routing import Route

INFERENCE_ROUTES: list[Route] = []
