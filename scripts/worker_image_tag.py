"""The inference image's tag: a hash of what `docker build worker` sends as its context.

Cloud Build tags the image it pushes with this, so an unchanged worker/ is not rebuilt and two builds
of the same content share one tag; tests compute it offline. Files .dockerignore excludes (caches,
bytecode) do not count, so a test run does not change the tag.

Usage: python scripts/worker_image_tag.py [WORKER_DIR]   (prints e.g. w-3f2a9c0d1b7e)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "worker"
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
PREFIX = "w-"
LENGTH = 16


def context_files(worker: Path = WORKER) -> list[Path]:
    """The build context's files, sorted: what decides the image's content."""
    return sorted(
        path
        for path in worker.rglob("*")
        if path.is_file() and not SKIP_PARTS & set(path.relative_to(worker).parts) and path.suffix not in SKIP_SUFFIXES
    )


def tag(worker: Path = WORKER) -> str:
    digest = hashlib.sha256()
    for path in context_files(worker):
        digest.update(path.relative_to(worker).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return PREFIX + digest.hexdigest()[:LENGTH]


if __name__ == "__main__":
    print(tag(Path(sys.argv[1]) if len(sys.argv) > 1 else WORKER))
