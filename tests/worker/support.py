"""Helpers of the worker tests: which environment runs them, and tiny models served by the fake Hub."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.fakes.hub import FakeHub

ROOT = Path(__file__).resolve().parents[2]
WORKER_PYTHON = ROOT / ".venv-worker" / "bin" / "python"
WORKER_VENV_READY = ROOT / ".venv-worker" / ".installed"  # written by `make worker-venv` once complete
HEAVY_MODULES = ("torch", "diffusers", "transformers", "runpod")
SECRET = "cb-secret-for-tests"


def has_worker_deps() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in HEAVY_MODULES)


needs_worker_venv = pytest.mark.skipif(
    not has_worker_deps(), reason="needs the worker's dependencies: run `make worker-test` (.venv-worker)"
)


def publish(hub: FakeHub, repo_id: str, folder: Path, library: str, task: str, **model: object) -> None:
    """Serve every file of `folder` as `repo_id` on the fake Hub."""
    hub.add_model(repo_id, library_name=library, pipeline_tag=task, **model)  # type: ignore[arg-type]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hub.add_file(repo_id, path.relative_to(folder).as_posix(), path.read_bytes())


def reports(received: list) -> list:
    """The status reports among what a fake orchestrator received (not the log lines)."""
    return [r for r in received if "/deployment-ready/" in r.path and isinstance(r.json, dict)]


def statuses(received: list) -> list[str]:
    return [r.json["status"] for r in reports(received)]
