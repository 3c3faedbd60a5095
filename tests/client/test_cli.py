"""The `dorch` CLI: in process through click's CliRunner, and as the installed console script."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from dorch import Client
from dorch.cli.main import cli

from tests.client.conftest import DORCH
from tests.conftest import Server
from tests.e2e_support import LLM, SDXL, Fakes

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # what plain output must not hold (newlines are fine)


Invoke = Callable[..., Result]


@pytest.fixture
def dorch(cli_env: dict[str, str]) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, list(args), env={**cli_env, **(env or {})}, catch_exceptions=False)

    return invoke


def test_deploy_wait_shows_progress_and_how_to_call_it(dorch: Invoke, fakes: Fakes) -> None:
    result = dorch(
        "deploy", SDXL, "--gpu", "A40", "--webhook", fakes.hook_url, "--wait", env={"RUNPOD_API_KEY": "rpa_test"}
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    dep_id = re.search(r"Ready: (dep_\w+)", out).group(1)  # type: ignore[union-attr]
    assert "downloading" in out and "100% ready" in out and "Selected GPU: AMPERE_48" in out
    assert re.search(r"endpoint\s+http://\S+/run", out) and "GPU         AMPERE_48 x1" in out
    assert re.search(r"price/hour\s+\$\d+\.\d\d per worker", out)
    assert f"/v1/deployments/{dep_id}/runsync" in out and "Bearer $DORCH_API_KEY" in out
    assert not CONTROL.search(out)  # not a terminal: plain lines
    sent = [r for r in fakes.runpod.requests if r.header("authorization") == "Bearer rpa_test"]
    assert sent  # the key came from RUNPOD_API_KEY


def test_deploy_wait_failure_exits_1_with_code_and_logs(dorch: Invoke, fakes: Fakes) -> None:
    result = dorch("deploy", "acme/does-not-exist", "--webhook", fakes.hook_url, "--runpod-key", "rpa_test", "--wait")
    assert result.exit_code == 1
    assert "failed: model_not_found (step validate)" in result.stderr
    assert "Last log lines:" in result.stderr and "Validating Hugging Face model" in result.stderr

    as_json = dorch(
        "deploy", "acme/does-not-exist", "--webhook", fakes.hook_url, "--runpod-key", "x", "--wait", "--json"
    )
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["code"] == "model_not_found" and body["step"] == "validate" and body["logs"]


def test_deploy_json_ls_get_and_logs(dorch: Invoke, client: Client, fakes: Fakes) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    made = json.loads(dorch("deploy", SDXL, "--name", name, "--webhook", fakes.hook_url, "--runpod-key", "rpa_test",
                            "--min", "0", "--max", "2", "--json").stdout)  # fmt: skip
    dep_id = made["deployment_id"]
    assert made["status"] == "validating"
    taken = dorch("deploy", SDXL, "--name", name, "--webhook", fakes.hook_url, "--runpod-key", "rpa_test", "--json")
    assert taken.exit_code == 1 and json.loads(taken.stdout)["error"] == "ConflictError"
    client.get(dep_id).wait(timeout=60)
    listed = json.loads(dorch("ls", "--model", SDXL, "--json").stdout)
    assert dep_id in [d["deployment_id"] for d in listed]
    table = dorch("ls", "--model", SDXL).stdout
    assert table.splitlines()[0].split() == ["ID", "NAME", "STATUS", "MODEL", "GPU", "CREATED"]
    assert any(line.startswith(dep_id) and name in line for line in table.splitlines())

    got = dorch("get", dep_id)
    assert got.exit_code == 0 and f"deployment  {dep_id}" in got.stdout and "max_replicas" not in got.stdout
    assert json.loads(dorch("get", dep_id, "--json").stdout)["max_replicas"] == 2

    logs = dorch("logs", dep_id, "--tail", "2")
    assert logs.exit_code == 0 and len(logs.stdout.splitlines()) == 2
    json_lines = [json.loads(x) for x in dorch("logs", dep_id, "--json").stdout.splitlines()]
    assert json_lines[0]["message"].startswith("Deployment accepted")


def test_scale_pause_resume_run_and_rm(dorch: Invoke, fakes: Fakes) -> None:
    made = json.loads(
        dorch("deploy", SDXL, "--webhook", fakes.hook_url, "--runpod-key", "rpa_test", "--wait", "--json").stdout
    )
    dep_id = made["deployment_id"]
    assert made["status"] == "ready" and made["endpoint_url"]
    assert dorch("scale", dep_id, "1", "3").stdout.strip() == "Autoscaling configuration updated successfully"
    assert json.loads(dorch("pause", dep_id, "--json").stdout)["update_result"] == "stopped"
    assert json.loads(dorch("resume", dep_id, "--json").stdout)["update_result"] == "started"
    job = json.loads(dorch("run", dep_id, "--input", '{"prompt": "a cat"}', "--sync", "--json").stdout)
    assert job["status"] == "COMPLETED" and job["output"] == {"echo": {"prompt": "a cat"}}
    queued = dorch("run", dep_id, "--input", '{"n": 1}')
    assert queued.exit_code == 0 and re.search(r"job\s+\S+", queued.stdout)
    removed = dorch("rm", dep_id, "--wait", "--json")
    assert json.loads(removed.stdout) == {"deployment_id": dep_id, "status": "deleted"}
    followed = dorch("logs", dep_id, "-f")
    assert followed.exit_code == 0 and "verified gone" in followed.stdout


def test_chat_streams_tokens_and_models_lists(dorch: Invoke, fakes: Fakes) -> None:
    dorch("deploy", LLM, "--webhook", fakes.hook_url, "--runpod-key", "rpa_test", "--wait", "--json")
    chat = dorch("chat", LLM, "hello there")
    assert chat.exit_code == 0 and chat.stdout == "echo: hello there\n"
    whole = json.loads(dorch("chat", LLM, "hi", "--json").stdout)
    assert whole["choices"][0]["message"]["content"] == "echo: hi"
    models = json.loads(dorch("models", "--json").stdout)
    assert any(m["id"] == LLM and m["ready"] for m in models)
    assert re.search(rf"^{re.escape(LLM)}\s+yes\s+dep_", dorch("models").stdout, re.M)


def test_credentials_commands(dorch: Invoke, server: Server) -> None:
    env = {"DORCH_API_KEY": server.new_tenant_key("CliCreds")}
    added = json.loads(dorch("credentials", "add", "rpa_test", "--name", "main", "--json", env=env).stdout)
    assert added["is_default"] and added["name"] == "main"
    spare = json.loads(
        dorch("credentials", "add", "--name", "spare", "--json", env={**env, "RUNPOD_API_KEY": "rpa_x"}).stdout
    )
    assert not spare["is_default"]
    assert json.loads(dorch("credentials", "default", spare["id"], "--json", env=env).stdout)["is_default"]
    listing = dorch("credentials", "ls", env=env).stdout
    assert listing.splitlines()[0].split() == ["ID", "NAME", "KEY", "DEFAULT", "VALID"]
    assert [line.split()[0] for line in listing.splitlines()[1:]] == [added["id"], spare["id"]]
    assert dorch("credentials", "rm", added["id"], env=env).stdout.strip() == f"{added['id']} deleted"
    assert dorch("credentials", "rm", added["id"], env=env).exit_code == 4


def test_usage_errors_exit_2(dorch: Invoke, fakes: Fakes) -> None:
    both = dorch("deploy", SDXL, "--runpod-key", "k", "--credential", "c")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert dorch("run", "dep_x", "--input", "{not json").exit_code == 2
    assert dorch("scale", "dep_x", "1").exit_code == 2
    invalid = dorch("deploy", "Not A Repo/!!", "--webhook", fakes.hook_url, "--json")
    assert invalid.exit_code == 2 and json.loads(invalid.stdout)["error"] == "ValidationError"


def test_completion_script(dorch: Invoke) -> None:
    result = dorch("completion", "bash")
    assert result.exit_code == 0 and "_DORCH_COMPLETE" in result.stdout


# ---- the installed console script ----------------------------------------------------------------


def run_dorch(cli_env: dict[str, str], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert DORCH, "the dorch console script is not installed (pip install ./client)"
    return subprocess.run([DORCH, *args], env={**cli_env, **env}, capture_output=True, text=True, timeout=60)


def test_the_console_script_exit_codes_and_json(cli_env: dict[str, str], fakes: Fakes) -> None:
    made = run_dorch(cli_env, "deploy", SDXL, "--webhook", fakes.hook_url, "--runpod-key", "rpa_test", "--json")
    assert made.returncode == 0, made.stderr
    dep_id = json.loads(made.stdout)["deployment_id"]
    listed = run_dorch(cli_env, "ls", "--json")
    assert listed.returncode == 0 and dep_id in {d["deployment_id"] for d in json.loads(listed.stdout)}

    denied = run_dorch(cli_env, "ls", DORCH_API_KEY="wrong-key")
    assert denied.returncode == 3 and "401" in denied.stderr and denied.stdout == ""
    denied_json = run_dorch(cli_env, "get", dep_id, "--json", DORCH_API_KEY="wrong-key")
    assert denied_json.returncode == 3 and json.loads(denied_json.stdout)["status"] == 401

    missing = run_dorch(cli_env, "get", "dep_does_not_exist")
    assert missing.returncode == 4 and "DeploymentNotFoundError" in missing.stderr
    assert run_dorch(cli_env, "rm", "dep_does_not_exist", "--json").returncode == 4
    assert run_dorch(cli_env, "bogus-command").returncode == 2
    plain = run_dorch(cli_env, "get", dep_id)
    assert plain.returncode == 0 and not CONTROL.search(plain.stdout)


def test_update_rollback_tasks_and_usage_commands(dorch: Invoke, client: Client, fakes: Fakes) -> None:
    dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test").wait(timeout=60)
    assert dorch("update", dep.id).exit_code == 2  # nothing to change

    result = dorch("update", dep.id, "--env", "MODE=new", "--wait", "--wait-timeout", "90")
    assert result.exit_code == 0, result.output
    assert re.search(r"kind\s+update", result.stdout) and re.search(r"status\s+completed", result.stdout)

    failed = dorch("update", dep.id, "--revision", "no-such-branch", "--wait", "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout) == {"error": "TaskFailed", "message": json.loads(failed.stdout)["message"]}

    back = dorch("rollback", dep.id, "--wait", "--json")
    assert back.exit_code == 0, back.output
    task = json.loads(back.stdout)
    assert task["kind"] == "rollback" and task["status"] == "completed"

    listed = json.loads(dorch("tasks", dep.id, "--json").stdout)
    assert [t["kind"] for t in listed] == ["deploy", "update", "update", "rollback"]
    table = dorch("tasks", dep.id).stdout
    assert "model_not_found" in table and task["task_id"] in table
    assert dorch("task", task["task_id"], "--json").stdout.count(task["task_id"]) >= 1
    assert dorch("task", "task_nope").exit_code == 4

    usage = json.loads(dorch("usage", "--group-by", "model", "--json").stdout)
    assert set(usage) == {"data", "total"} and usage["total"]["key"] == "total"
    assert "GPU-SECONDS" in dorch("usage").stdout
    assert dorch("usage", "--from", "not-a-time").exit_code == 2
    client.deployment(dep.id).delete(wait=True, timeout=30)
