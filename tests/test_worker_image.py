"""The inference image: the reference the functions get is the one cloudbuild.yaml pushes.

Offline: cloudbuild.yaml and infra/*.tf are parsed, the image tag is computed by the same script the
build runs, and the Dockerfile is built only where a Docker engine answers (skipped otherwise).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.worker_image_tag import tag
from tests.test_infra import INFRA, ROOT, hcl


def cloudbuild() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    return doc


def step(name: str) -> str:
    found = [s for s in cloudbuild()["steps"] if s["id"] == name]
    assert found, f"cloudbuild.yaml has no {name} step"
    return "\n".join(str(a) for a in found[0]["args"])


def terraform_vars_from_build() -> dict[str, str]:
    """var name => the Cloud Build expression the terraform-plan step passes for it."""
    return dict(re.findall(r'-var="(\w+)=([^"]+)"', step("terraform-plan")))


def render(expression: str, values: dict[str, str]) -> str:
    """Expand ${var.x}, ${local.x} and the repository's id in a Terraform string, with the build's values."""
    repository = hcl()["resource"]["google_artifact_registry_repository"]["worker"]
    lookups = {f"var.{k}": v for k, v in values.items()}
    lookups["google_artifact_registry_repository.worker.repository_id"] = repository["repository_id"]
    lookups["local.prefix"] = hcl()["locals"]["prefix"]
    for _ in range(5):
        expression = re.sub(r"\$\{([\w.]+)\}", lambda m: lookups.get(m.group(1), m.group(0)), expression)
    assert not re.search(r"\$\{(var|local|google_)", expression), f"unresolved: {expression}"
    return expression


def test_functions_get_the_digest_the_build_pushes():
    script = step("worker-image")
    pushed = re.search(r'image="([^"]+):\$\$\(cat /workspace/worker_image_tag\)"', script)
    assert pushed, "the worker-image step tags the image with the tag the source-zip step computed"
    assert 'docker build -t "$$image" worker' in script and 'docker push "$$image"' in script
    assert "RepoDigests" in script and "> /workspace/worker_image_digest" in script
    assert "scripts/worker_image_tag.py > /workspace/worker_image_tag" in step("source-zip")

    build_vars = terraform_vars_from_build()
    assert build_vars["worker_image_digest"] == "$$(cat /workspace/worker_image_digest)"
    assert hcl()["locals"]["common_env"]["RUNPOD_WORKER_IMAGE"] == "${local.worker_image}"
    given = render(hcl()["locals"]["worker_image"], build_vars)
    assert given == f"{pushed.group(1)}@$$(cat /workspace/worker_image_digest)"
    assert given.startswith("${_REGION}-docker.pkg.dev/${_PROJECT}/${_NAME}-${_ENVIRONMENT}-worker/")


def test_the_repository_is_docker_and_publicly_readable():
    repository = hcl()["resource"]["google_artifact_registry_repository"]["worker"]
    assert repository["format"] == "DOCKER" and repository["location"] == "${var.region}"
    reader = hcl()["resource"]["google_artifact_registry_repository_iam_member"]["public_read"]
    assert reader["role"] == "roles/artifactregistry.reader" and reader["member"] == "allUsers"
    readme = (INFRA / "README.md").read_text()
    assert "publicly readable" in readme and "no secret" in readme


def test_no_image_reference_is_copied_by_hand():
    for path in [*INFRA.glob("*.tf"), ROOT / "cloudbuild.yaml"]:
        text = path.read_text()
        assert "ghcr.io" not in text, path
        assert not re.search(r"worker[:@](w-[0-9a-f]+|sha256:[0-9a-f]{64})", text), f"{path}: a literal tag or digest"
    digest = hcl()["variable"]["worker_image_digest"]
    assert "default" not in digest, "the digest comes from the build, never a default"


def test_the_tag_is_a_hash_of_the_build_context(tmp_path: Path):
    copy = tmp_path / "worker"
    shutil.copytree(ROOT / "worker", copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert tag(copy) == tag(ROOT / "worker") and re.fullmatch(r"w-[0-9a-f]{16}", tag(copy))
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    assert tag(copy) == tag(ROOT / "worker"), "caches are not part of the image"
    (copy / "main.py").write_text((copy / "main.py").read_text() + "\n# changed\n")
    assert tag(copy) != tag(ROOT / "worker")
    printed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "worker_image_tag.py")], capture_output=True, text=True, check=True
    )
    assert printed.stdout.strip() == tag(ROOT / "worker")


def _docker_engine() -> str | None:
    docker = shutil.which("docker")
    if not docker:
        return None
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    return docker if info.returncode == 0 else None


def test_the_dockerfile_builds():
    docker = _docker_engine()
    if not docker:
        pytest.skip("no Docker engine answers here (Cloud Build's worker-image step builds it)")
    image = f"deployment-orchestrator-worker-test:{tag()}"
    built = subprocess.run([docker, "build", "-q", "-t", image, str(ROOT / "worker")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    subprocess.run([docker, "image", "rm", image], capture_output=True)
