"""AsyncClient: the same surface as Client, on asyncio, against the real server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from dorch import AsyncClient, DeploymentFailed, NotFound, Progress, TaskFailed, ValidationFailed

from tests.client.proxy import FaultyProxy
from tests.conftest import Server
from tests.e2e_support import SDXL, Fakes


def test_async_deploy_wait_list_and_delete(server: Server, fakes: Fakes, proxy: FaultyProxy) -> None:
    seen: list[Progress] = []

    async def scenario() -> None:
        async with AsyncClient(proxy.base_url, server.new_tenant_key("Async")) as client:
            key = f"k-{uuid.uuid4()}"
            dep = await client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test", idempotency_key=key)
            again = await client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test", idempotency_key=key)
            assert again.id == dep.id
            proxy.cut_next_stream(after_events=2)
            await dep.wait(timeout=60, on_progress=seen.append)
            assert dep.status == "ready" and dep.endpoint_url

            bad = await client.deploy("acme/does-not-exist", webhook_url=fakes.hook_url, runpod_key="rpa_test")
            with pytest.raises(DeploymentFailed) as failed:
                await bad.wait(timeout=30)
            assert failed.value.code == "model_not_found"

            listed = [d.id async for d in client.deployments(page_size=1)]
            assert listed == [bad.id, dep.id]
            job = await dep.run_sync({"prompt": "x"}, timeout=10)
            assert job.output == {"echo": {"prompt": "x"}}
            assert [line async for line in dep.logs(tail=2)][-1].message
            with pytest.raises(NotFound):
                await client.get("dep_nope")
            with pytest.raises(ValidationFailed):
                await client.deploy("x/y", webhook_url=fakes.hook_url, max_replicas=0)
            await dep.delete(wait=True, timeout=30)
            followed = [line.message async for line in dep.logs(follow=True)]
            assert any("verified gone" in m for m in followed)

    asyncio.run(scenario())
    streams = proxy.to("GET", "/v1/deployments/dep_")
    resumed = [a for a in streams if "/logs/stream" in a.path and "last-event-id" in a.headers]
    assert proxy.cut_log and resumed[0].headers["last-event-id"] == proxy.cut_log[0]
    assert seen[-1].status == "ready"


def test_async_update_tasks_and_usage(server: Server, fakes: Fakes) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.base_url, server.new_tenant_key("AsyncUpdate")) as client:
            dep = await client.deploy(SDXL, webhook_url=fakes.hook_url, runpod_key="rpa_test")
            await dep.wait(timeout=60)
            task = await dep.update(env={"MODE": "async"}, wait=True, timeout=90)
            assert (task.kind, task.status) == ("update", "completed")
            assert (await client.task(task.task_id)).status == "completed"
            with pytest.raises(TaskFailed, match="model_not_found"):
                await dep.update(revision="no-such-branch", wait=True, timeout=60)
            back = await dep.rollback(wait=True, timeout=90)
            assert back.kind == "rollback" and back.status == "completed"
            assert [t.kind for t in await dep.tasks()] == ["deploy", "update", "update", "rollback"]
            rows, total = await client.usage(group_by="deployment")
            assert total.key == "total" and all(r.key for r in rows)
            await dep.delete(wait=True, timeout=30)

    asyncio.run(scenario())
