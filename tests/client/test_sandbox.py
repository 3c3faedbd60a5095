"""The sandbox through the client package: the SDK and `dorch demo` / `dorch deploy --sandbox` against the
real server. The Hub is reachable here (the fake one), so sandbox deployments are validated by it."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from dorch import Client

from tests.client.conftest import DORCH
from tests.e2e_support import LLM
from tests.sandbox.support import png_size


def no_sandbox_key_reached_runpod(fakes) -> bool:
    return not [r for r in fakes.runpod.requests if r.header("authorization") == "Bearer sandbox"]


def test_sdk_deploys_calls_and_deletes_in_the_sandbox(client: Client, fakes):
    dep = client.deploy(LLM, extra={"sandbox": True})
    dep.wait(60)
    assert dep.data["sandbox"] is True and dep.status == "ready"
    text = "".join(client.chat_stream(LLM, [{"role": "user", "content": "Hello"}]))
    assert text.startswith('Sandbox reply to "Hello"')
    assert dep.run_sync({"prompt": "hi"}).status == "COMPLETED"
    dep.delete(wait=True, timeout=30)
    assert dep.refresh().status == "deleted"
    assert no_sandbox_key_reached_runpod(fakes)


def test_demo_works_out_of_the_box_with_the_local_key(cli_env, server, fakes, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "api_key").write_text(server.api_key + "\n")  # what `make run` writes
    env = {k: v for k, v in cli_env.items() if k != "DORCH_API_KEY"}
    image = tmp_path / "demo.png"
    done = subprocess.run([DORCH, "demo", "--image", str(image)], env={**env, "DATA_DIR": str(data)},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ready in" in done.stdout and "Deleted dep_" in done.stdout, done.stdout
    assert png_size(image.read_bytes()) == (128, 128)
    assert no_sandbox_key_reached_runpod(fakes)


def test_demo_rehearses_a_failure(cli_env):
    done = subprocess.run([DORCH, "demo", "--scenario", "crash_loop"], env=cli_env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "worker_unhealthy" in done.stdout + done.stderr
    assert "Deleted dep_" in done.stdout


def test_deploy_sandbox_flag(cli_env):
    done = subprocess.run([DORCH, "deploy", "stabilityai/sdxl-turbo", "--sandbox", "--json"], env=cli_env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"sandbox": true' in done.stdout.replace('"sandbox":true', '"sandbox": true')


def test_png_helper_sees_real_images():
    blank = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
    )
    assert png_size(blank) == (1, 1)
