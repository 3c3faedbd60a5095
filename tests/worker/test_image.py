"""The worker image: pinned base and dependencies, the entry point the brief names, and a build where Docker runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.worker.support import ROOT

WORKER = ROOT / "worker"
DOCKERFILE = WORKER / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def requirements(path: Path) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def test_base_image_is_pinned_by_digest() -> None:
    (base,) = [arg for op, arg in instructions() if op == "FROM"]
    assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", base), base


def test_every_dependency_is_pinned_and_torch_is_installed_first() -> None:
    reqs = requirements(WORKER / "requirements.txt")
    assert reqs and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][\w.+-]*", r) for r in reqs), reqs
    assert reqs[0] == "torch==2.13.0"
    runs = [arg for op, arg in instructions() if op == "RUN"]
    install = next(r for r in runs if "pip install" in r)
    assert install.index("^torch==") < install.index("-r worker/requirements.txt")
    test_reqs = requirements(WORKER / "requirements-test.txt")
    assert test_reqs[0] == "-r requirements.txt" and all("==" in r for r in test_reqs[1:])


def test_the_entry_point_is_the_worker_module() -> None:
    cmds = [arg for op, arg in instructions() if op == "CMD"]
    assert cmds == ['["python", "-u", "-m", "worker.main"]']
    assert (WORKER / "main.py").is_file() and (WORKER / "__init__.py").is_file()


def docker_engine() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not docker_engine(), reason="no Docker engine here (`docker info` fails)")
def test_the_image_builds_and_its_entry_point_imports(tmp_path: Path) -> None:
    tag = "deployment-orchestrator-worker:test"
    subprocess.run(["docker", "build", "-t", tag, str(WORKER)], check=True, timeout=3600)
    probe = "import worker.main, worker.boot, torch, diffusers, transformers, runpod; print('ok')"
    out = subprocess.run(["docker", "run", "--rm", tag, "python", "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
