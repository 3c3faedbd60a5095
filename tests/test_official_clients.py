"""The official `runpod` and `openai` Python packages (pinned, in their own environment: runpod's pins are
many and heavy) talk to the real server and the fakes unchanged: Runpod's runtime protocol under
/v1/deployments/{id}/ and the OpenAI routes under /v1.

Each scenario is a script run by `.venv-official-clients` (made on first use by scripts/side_venv.py); it
prints what the clients returned as JSON, and a shape the client cannot read makes it exit non-zero.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator

import pytest

from scripts.side_venv import ensure
from tests.conftest import Server, launch
from tests.e2e_support import LLM, Fakes, create_body, running_fakes

EMBEDDER = "BAAI/bge-small-en-v1.5"


@pytest.fixture(scope="module")
def python() -> str:
    return str(ensure("official-clients"))


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as f:
        f.hub.add_model(
            EMBEDDER, library_name="sentence-transformers", pipeline_tag="feature-extraction",
            parameters={"F32": 33_000_000},
        )  # fmt: skip
        yield f
        assert f.runpod.violations == [], f.runpod.violations


@pytest.fixture(scope="module")
def server(tmp_path_factory, fakes) -> Iterator[Server]:
    srv = launch(tmp_path_factory.mktemp("official") / "data", fakes.env())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def ready(server, fakes) -> dict[str, dict]:
    """Ready deployments, created without a webhook: a job worker, a chat model and an embedding model."""
    ids = {}
    for kind, model in (("jobs", None), ("llm", LLM), ("embedder", EMBEDDER)):
        overrides = {"user_webhook_url": None} | ({"hf_model_id": model, "gpu_tier": "auto"} if model else {})
        resp = server.post("/v1/deployments", json=create_body(fakes, **overrides))
        assert resp.status_code == 202, resp.text
        ids[kind] = resp.json()["deployment_id"]
    return {kind: server.wait_status(dep_id, "ready", timeout=60) for kind, dep_id in ids.items()}


def run(python: str, script: str, *args: str) -> dict:
    done = subprocess.run(
        [python, "-c", textwrap.dedent(script), *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"the official client failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


RUNPOD_SCRIPT = """
    import json, sys
    import requests, runpod

    base, key, dep_id = sys.argv[1:4]
    runpod.endpoint_url_base = base + "/v1/deployments"
    endpoint = runpod.Endpoint(dep_id, api_key=key)
    out = {}
    job = endpoint.run({"input": {"prompt": "a"}})
    out["first_status"] = job.status()
    out["output"] = job.output(timeout=30)
    out["final_status"] = job.status()
    out["run_sync"] = endpoint.run_sync({"prompt": "b"}, timeout=60)
    out["stream"] = list(endpoint.run({"prompt": "c"}).stream())
    cancelled = endpoint.run({"prompt": "d"})
    out["cancel"] = cancelled.cancel()
    out["cancelled_status"] = cancelled.status()
    out["health"] = endpoint.health()
    queued = endpoint.run({"prompt": "e"})
    out["purge"] = endpoint.purge_queue()
    out["purged_status"] = queued.status()
    try:
        runpod.Endpoint(dep_id, api_key="not-our-key").run({"prompt": "x"})
    except RuntimeError as exc:
        out["wrong_key"] = str(exc)
    try:
        runpod.Endpoint("dep_2026_0000000000000000", api_key=key).run({"prompt": "x"})
    except requests.HTTPError as exc:
        out["unknown_deployment"] = exc.response.status_code
    print(json.dumps(out))
"""


def test_the_runpod_sdk_works_unchanged(python, server, fakes, ready) -> None:
    dep_id = ready["jobs"]["deployment_id"]
    out = run(python, RUNPOD_SCRIPT, server.base_url, server.api_key, dep_id)
    assert (out["first_status"], out["final_status"]) == ("IN_QUEUE", "COMPLETED")
    assert out["output"] == {"echo": {"prompt": "a"}}
    assert out["run_sync"] == {"echo": {"prompt": "b"}}  # the SDK wrapped the bare input in {"input": ...}
    assert out["stream"] == [{"part": 1, "echo": {"prompt": "c"}}, {"part": 2}]
    assert out["cancel"]["status"] == "CANCELLED" and out["cancelled_status"] == "CANCELLED"
    assert out["health"]["data"] in ("Healthy", "SCALED_DOWN") and isinstance(out["health"]["messages"], list)
    assert out["purge"]["removed"] == 1 and out["purged_status"] == "CANCELLED"
    assert "Unauthorized" in out["wrong_key"]
    assert out["unknown_deployment"] == 404
    endpoint = ready["jobs"]["runpod_endpoint_id"]
    used = {r.path.split("/")[3] for r in fakes.runpod.requests if r.path.startswith(f"/v2/{endpoint}/")}
    assert {"run", "runsync", "status", "stream", "cancel", "purge-queue"} <= used
    assert {r.header("authorization") for r in fakes.runpod.requests if f"/v2/{endpoint}/" in r.path} == {
        "Bearer rpa_test"
    }  # the tenant's Runpod key upstream, never the caller's API key


OPENAI_SCRIPT = """
    import json, sys
    import openai

    base, key, llm, embedder = sys.argv[1:5]
    client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    out = {}
    out["models"] = sorted(m.id for m in client.models.list())
    messages = [{"role": "user", "content": "hello there"}]
    chat = client.chat.completions.create(model=llm, messages=messages)
    out["chat"] = [chat.object, chat.choices[0].message.role, chat.choices[0].message.content]
    chunks = client.chat.completions.create(model=llm, messages=messages, stream=True)
    out["chat_stream"] = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    text = client.completions.create(model=llm, prompt="say hi")
    out["completion"] = text.choices[0].text
    pieces = client.completions.create(model=llm, prompt="say hi", stream=True)
    out["completion_stream"] = "".join(c.choices[0].text for c in pieces)
    packed = client.embeddings.create(model=embedder, input=["hello", "hi world"])  # base64 by default
    out["embeddings"] = [[d.index, d.embedding] for d in packed.data]
    out["embedding_model"] = packed.model
    plain = client.embeddings.create(model=embedder, input="hello", encoding_format="float")
    out["embedding_float"] = plain.data[0].embedding
    try:
        client.embeddings.create(model="nobody/none", input="x")
    except openai.NotFoundError as exc:
        out["unknown_model"] = exc.status_code
    try:
        openai.OpenAI(base_url=base + "/v1", api_key="not-our-key", max_retries=0).models.list()
    except openai.AuthenticationError as exc:
        out["wrong_key"] = exc.status_code
    print(json.dumps(out))
"""


def test_the_openai_package_works_unchanged(python, server, fakes, ready) -> None:
    out = run(python, OPENAI_SCRIPT, server.base_url, server.api_key, LLM, EMBEDDER)
    assert {LLM, EMBEDDER} <= set(out["models"])
    assert out["chat"] == ["chat.completion", "assistant", "echo: hello there"]
    assert out["chat_stream"] == ["echo:", " hello", " there"]
    assert out["completion"] == "echo: say hi" and out["completion_stream"] == "echo: say hi"
    # The fake's vector: [len(text), sum of code points mod 97, 0.5, -1.0], decoded by the client.
    hello = [5.0, float(sum(map(ord, "hello")) % 97), 0.5, -1.0]
    assert out["embeddings"] == [[0, hello], [1, [8.0, float(sum(map(ord, "hi world")) % 97), 0.5, -1.0]]]
    assert out["embedding_float"] == hello and out["embedding_model"] == EMBEDDER
    assert (out["unknown_model"], out["wrong_key"]) == (404, 401)
    endpoint = ready["embedder"]["runpod_endpoint_id"]
    sent = [r for r in fakes.runpod.requests if r.path == f"/v2/{endpoint}/openai/v1/embeddings"]
    assert [r.json["encoding_format"] for r in sent] == ["base64", "float"]


def test_embeddings_go_only_to_a_deployment_that_serves_them(server, ready) -> None:
    jobs_model = ready["jobs"]["model_id"]
    resp = server.post("/v1/embeddings", json={"model": jobs_model, "input": "x"})
    assert resp.status_code == 400 and "runsync" in resp.json()["message"]  # the inference container's model
    assert server.post("/v1/embeddings", json={"input": "x"}).status_code == 422
    assert ready["embedder"]["worker_image"] == ready["llm"]["worker_image"]  # vLLM serves embedding models
    assert "vLLM" in ready["embedder"]["worker_reason"]
