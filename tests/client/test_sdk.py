"""The SDK against the real server and fakes: deploy, wait, the handle's methods, listing, errors."""

from __future__ import annotations

import itertools
import uuid

import pytest
from dorch import (
    Client,
    Conflict,
    DeploymentFailed,
    NotFound,
    Progress,
    TaskFailed,
    Unauthorized,
    ValidationFailed,
)

from tests.client.proxy import FaultyProxy
from tests.conftest import Server
from tests.e2e_support import LLM, SDXL, Fakes

PROVISIONING = ["validating", "selecting_gpu", "creating_endpoint", "downloading_model", "loading_model", "ready"]


def test_deploy_then_wait_follows_every_phase_to_ready(client: Client, fakes: Fakes) -> None:
    seen: list[Progress] = []
    dep = client.deploy(SDXL, gpu="A40", webhook_url=fakes.hook_url, runpod_key="rpa_test")
    assert dep.id.startswith("dep_") and dep.status == "validating" and dep.model_id == SDXL

    assert dep.wait(timeout=60, on_progress=seen.append) is dep

    assert dep.status == "ready" and dep.phase == "ready" and dep.progress == 100 and dep.error is None
    assert dep.endpoint_url and dep.endpoint_url.endswith("/run") and dep.gpu == "AMPERE_48"
    assert dep.price_per_hour is not None and dep.price_per_hour > 0
    statuses = [p.status for p in seen if p.log is None]
    assert statuses[-1] == "ready"
    order = [s for s in dict.fromkeys(statuses) if s in PROVISIONING]
    assert order == sorted(order, key=PROVISIONING.index)  # never backwards
    percents = [p.progress for p in seen if p.log is None and p.progress is not None]
    assert percents == sorted(percents) and percents[-1] == 100
    lines = [p.log for p in seen if p.log is not None]
    assert any("Selected GPU: AMPERE_48" in line.message for line in lines)
    assert len({line.id for line in lines}) == len(lines)  # every line once
    assert any(p.step for p in seen) and any(p.eta for p in seen if p.status != "ready")
    hook = fakes.webhooks.wait_for(lambda r: bool(r.json) and r.json.get("deployment_id") == dep.id)
    assert hook.json["event"] == "deployment.ready"


def test_a_deployment_without_a_webhook_is_followed_by_wait_alone(client: Client, fakes: Fakes) -> None:
    dep = client.deploy(SDXL, runpod_key="rpa_test")  # no webhook_url: wait() follows the SSE stream
    assert dep.wait(timeout=60).status == "ready"
    assert dep.refresh().webhook_url is None and dep.webhook_deliveries() == []
    assert not [r for r in fakes.webhooks.received if r.json and r.json.get("deployment_id") == dep.id]


def test_wait_raises_deployment_failed_with_the_error(client: Client, fakes: Fakes) -> None:
    dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_revoked")
    with pytest.raises(DeploymentFailed) as failed:
        dep.wait(timeout=60)
    exc = failed.value
    assert exc.deployment_id == dep.id and exc.code == "runpod_unauthorized" and "401" in exc.message
    assert exc.step and exc.retryable is False
    assert dep.status == "failed" and dep.error is not None and dep.error.code == "runpod_unauthorized"
    # A deployment that failed before the wait began fails the wait at once, too.
    with pytest.raises(DeploymentFailed, match="runpod_unauthorized"):
        client.get(dep.id).wait(timeout=10)


def test_a_handle_does_everything_a_deployment_offers(client: Client, fakes: Fakes) -> None:
    dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test", name=f"sdk-{uuid.uuid4().hex[:8]}")
    dep.wait(timeout=60)
    assert client.get(dep.id).name == dep.name

    assert dep.scale(1, 2) == {"message": "Autoscaling configuration updated successfully", "min_replicas": 1,
                               "max_replicas": 2}  # fmt: skip
    assert dep.refresh().data["min_replicas"] == 1
    assert dep.pause()["update_result"] == "stopped" and dep.refresh().status == "paused"
    assert dep.resume()["update_result"] == "started" and dep.refresh().status == "ready"
    assert dep.health().state in {"Healthy", "Progressing", "Initializing", "SCALED_DOWN"}

    done = dep.run_sync({"prompt": "a lighthouse"}, timeout=10)
    assert done.status == "COMPLETED" and done.output == {"echo": {"prompt": "a lighthouse"}}
    queued = dep.run({"n": 1})
    assert queued.id and dep.job(queued.id).id == queued.id

    (delivery,) = [d for d in dep.webhook_deliveries() if d.event == "deployment.ready"]
    assert delivery.status == "delivered" and delivery.url == fakes.hook_url
    tail = list(dep.logs(tail=3))
    assert len(tail) == 3 and [x.timestamp for x in tail] == sorted(x.timestamp for x in tail)  # type: ignore[type-var]

    dep.delete(wait=True, timeout=30)
    assert dep.status == "deleted"
    assert dep.data["runpod_endpoint_id"] in fakes.runpod.deleted
    assert list(dep.logs(follow=True))[-1].message  # a deleted deployment's followed log ends


def test_followed_logs_resume_after_a_cut(server: Server, fakes: Fakes, proxy: FaultyProxy) -> None:
    with Client(proxy.base_url, server.api_key) as client:
        dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test").wait(timeout=60)
        client.get(dep.id).delete()
        proxy.cut_next_stream(after_events=3)
        lines = list(dep.logs(follow=True))
    streams = [a for a in proxy.to("GET", f"/v1/deployments/{dep.id}/logs/stream") if "follow=true" in a.path]
    assert len(streams) >= 2 and "last-event-id" not in streams[0].headers
    assert streams[1].headers["last-event-id"] == proxy.cut_log[0]
    ids = [line.id for line in lines]
    assert len(ids) == len(set(ids)) and any("verified gone" in line.message for line in lines)


def test_deployments_are_listed_page_by_page_lazily(server: Server, fakes: Fakes, proxy: FaultyProxy) -> None:
    key = server.new_tenant_key("Pager")  # a tenant of its own: nobody else's deployments in its list
    with Client(proxy.base_url, key) as client:
        made = [
            client.deploy("acme/does-not-exist", webhook_url=fakes.hook_url, runpod_key="rpa_test") for _ in range(5)
        ]
        made.append(client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test"))
        made[-1].wait(timeout=60)
        for dep in made[:-1]:
            with pytest.raises(DeploymentFailed):
                dep.wait(timeout=30)
        pages_before = len(proxy.to("GET", "/v1/deployments?"))
        listed = [d.id for d in client.deployments(page_size=2)]
        assert listed == [d.id for d in reversed(made)]  # all of them, newest first
        assert len(proxy.to("GET", "/v1/deployments?")) - pages_before == 3

        first = next(iter(client.deployments(page_size=2)))
        assert first.id == made[-1].id and len(proxy.to("GET", "/v1/deployments?")) - pages_before == 4

        failed = list(client.deployments(status="failed", page_size=2))
        assert {d.id for d in failed} == {d.id for d in made[:-1]} and all(d.status == "failed" for d in failed)
        assert [d.id for d in client.deployments(model=SDXL)] == [made[-1].id]
        assert list(itertools.islice(client.deployments(model="acme/none"), 1)) == []


def test_the_same_idempotency_key_gives_the_same_deployment(client: Client, fakes: Fakes) -> None:
    key = f"k-{uuid.uuid4()}"
    first = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test", idempotency_key=key)
    again = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test", idempotency_key=key)
    assert again.id == first.id
    other = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test")  # a fresh key each call
    assert other.id != first.id
    with pytest.raises(Conflict) as conflict:
        client.deploy(SDXL, gpu="A100", webhook_url=fakes.hook_url, runpod_key="rpa_test", idempotency_key=key)
    assert conflict.value.status == 409 and "different request body" in conflict.value.message


def test_errors_are_typed(server: Server, client: Client, fakes: Fakes) -> None:
    with pytest.raises(NotFound) as missing:
        client.get("dep_does_not_exist")
    assert missing.value.status == 404 and missing.value.error == "DeploymentNotFoundError"

    with Client(server.base_url, "wrong-key") as stranger, pytest.raises(Unauthorized) as unauthorized:
        list(stranger.deployments())
    assert unauthorized.value.status == 401

    with pytest.raises(ValidationFailed) as invalid:
        client.deploy("Not A Repo/!!", webhook_url=fakes.hook_url, min_replicas=3, max_replicas=1)
    fields = {f["field"] for f in invalid.value.fields}
    assert "hf_model_id" in fields and invalid.value.status == 422

    failed = client.deploy("acme/does-not-exist", webhook_url=fakes.hook_url, runpod_key="rpa_test")
    with pytest.raises(DeploymentFailed):
        failed.wait(timeout=30)
    with pytest.raises(Conflict):
        failed.run({"prompt": "x"})


def test_no_api_key_is_unauthorized_before_any_request(monkeypatch: pytest.MonkeyPatch, server: Server) -> None:
    monkeypatch.delenv("DORCH_API_KEY", raising=False)  # the caller's environment, not the code under test
    monkeypatch.setenv("DORCH_URL", server.base_url)
    with Client() as client:
        assert client.base_url == server.base_url
        with pytest.raises(Unauthorized, match="DORCH_API_KEY"):
            client.models()
    monkeypatch.setenv("DORCH_API_KEY", server.api_key)
    with Client() as client:
        assert isinstance(client.models(), list)


def test_credentials_and_the_default_one(server: Server, fakes: Fakes) -> None:
    with Client(server.base_url, server.new_tenant_key("Creds")) as client:
        first = client.credentials.add("rpa_test", name="main")
        assert first.is_default and first.masked_key != "rpa_test" and first.name == "main"
        second = client.credentials.add("rpa_test", name="spare")
        assert not second.is_default
        assert client.credentials.set_default(second.id).is_default
        assert [c.id for c in client.credentials.list() if c.is_default] == [second.id]

        by_default = client.deploy(SDXL, webhook_url=fakes.hook_url)  # neither key nor credential: the default
        by_id = client.deploy(SDXL, webhook_url=fakes.hook_url, credential_id=first.id)
        assert by_default.wait(timeout=60).status == "ready" and by_id.wait(timeout=60).status == "ready"
        with pytest.raises(Conflict):
            client.credentials.delete(first.id)  # still in use
        by_id.delete(wait=True, timeout=30)
        client.credentials.delete(first.id)
        assert [c.id for c in client.credentials.list()] == [second.id]
        with pytest.raises(NotFound):
            client.credentials.get(first.id)


def test_models_and_chat(client: Client, fakes: Fakes) -> None:
    llm = client.deploy(LLM, webhook_url=fakes.hook_url, runpod_key="rpa_test").wait(timeout=60)
    assert llm.is_llm
    cards = {m.id: m for m in client.models()}
    assert cards[LLM].ready and cards[LLM].deployment_id is not None
    answer = client.chat(LLM, [{"role": "user", "content": "hi there"}], max_tokens=5)
    assert answer["choices"][0]["message"]["content"] == "echo: hi there"
    pieces = list(client.chat_stream(LLM, [{"role": "user", "content": "one two three"}]))
    assert len(pieces) > 1 and "".join(pieces) == "echo: one two three"
    with pytest.raises(NotFound):
        list(client.chat_stream("acme/never-deployed", [{"role": "user", "content": "x"}]))


def test_update_rollback_and_tasks_follow_green_updates(client: Client, fakes: Fakes) -> None:
    dep = client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test").wait(timeout=60)
    first_endpoint = dep.data["runpod_endpoint_id"]
    # Right after ready the deployment may still finish a step (409 with Retry-After): update() waits that out.
    task = dep.update(revision=fakes.hub.models[SDXL].sha, env={"EXTRA": "1"}, wait=True, timeout=90)
    assert (task.kind, task.status, task.deployment_id) == ("update", "completed", dep.id)
    assert client.task(task.task_id).status == "completed"
    assert dep.refresh().data["generation"] == 2 and dep.data["runpod_endpoint_id"] != first_endpoint

    with pytest.raises(TaskFailed) as failed:
        dep.update(revision="no-such-branch", wait=True, timeout=60)
    assert failed.value.code == "model_not_found" and failed.value.task_id
    assert dep.refresh().status == "ready" and dep.data["generation"] == 2  # still serving generation 2

    back = dep.rollback(wait=True, timeout=90)
    assert back.kind == "rollback" and back.status == "completed"
    assert dep.refresh().data["generation"] == 4  # generation 3 was the update that failed
    assert [g["generation"] for g in dep.data["generations"]] == [1, 2, 4]
    assert dep.data["generations"][-1]["config"] == dep.data["generations"][0]["config"]
    assert [(t.kind, t.status) for t in dep.tasks()] == [
        ("deploy", "completed"), ("update", "completed"), ("update", "failed"), ("rollback", "completed")
    ]  # fmt: skip
    running = dep.update(env={"MODE": "b"})  # without wait: the task as started
    assert running.kind == "update" and running.status in ("pending", "in_progress")
    with pytest.raises(Conflict) as busy:  # one update at a time: refused at once, not retried
        dep.update(env={"MODE": "c"}, wait=True, timeout=60)
    assert busy.value.details["task_id"] == running.task_id
    assert client.task(running.task_id, wait=True, timeout=90).status == "completed"
    with pytest.raises(NotFound):
        client.task("task_nope")
    dep.delete(wait=True, timeout=30)
