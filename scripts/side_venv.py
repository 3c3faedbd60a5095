"""Create (once) a tool's own virtual environment: `.venv-<name>` from `scripts/requirements-<name>.txt`.

Tools whose pins clash with ours (checkov; the Cloud Tasks emulator, which needs protobuf<5) live
apart. Safe to run from several processes at once (pytest-xdist workers): a file lock serializes
the install, and a stamp holding the requirements' hash makes the next run a no-op.

Usage: python scripts/side_venv.py NAME   (prints the environment's python)
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("checkov", "tasks-emulator", "official-clients")


def ensure(name: str) -> Path:
    """The python of `.venv-<name>`, installing the environment first if it is missing or stale."""
    if name not in TOOLS:
        raise SystemExit(f"unknown tool {name!r}; known: {', '.join(TOOLS)}")
    requirements = ROOT / "scripts" / f"requirements-{name}.txt"
    env = ROOT / f".venv-{name}"
    stamp = env / ".installed"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    python = env / "bin" / "python"
    lock_path = Path(tempfile.gettempdir()) / f"side-venv-{hashlib.sha256(bytes(ROOT)).hexdigest()[:12]}-{name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest and python.exists():
            return python
        print(f"installing {env.name} from {requirements.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(requirements)],
            check=True,
        )
        stamp.write_text(digest)
    return python


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(ensure(sys.argv[1]))
