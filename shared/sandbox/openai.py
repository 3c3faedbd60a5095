"""The vLLM worker's OpenAI-compatible routes (`/v2/{endpoint}/openai/v1/...`), simulated:
chat/completions and completions (streamed as SSE when asked), embeddings and models."""

from __future__ import annotations

import time
from typing import Any

from shared.sandbox import outputs
from shared.sandbox.answers import Answer, ok, problem, sse

ROUTES = ("chat/completions", "completions", "embeddings", "models")
MAX_EMBEDDING_INPUTS = 2048


def call(model_id: str, path: str, body: Any) -> Answer:
    if path == "models":
        return ok({"object": "list", "data": [{"id": model_id, "object": "model", "owned_by": "sandbox"}]})
    if path not in ROUTES or not isinstance(body, dict):
        return problem(404, f"no route openai/v1/{path}")
    if path == "embeddings" and isinstance(body.get("input"), list) and len(body["input"]) > MAX_EMBEDDING_INPUTS:
        return problem(400, f"at most {MAX_EMBEDDING_INPUTS} inputs per request")
    if body.get("stream") is True and path != "embeddings":
        return sse(_chunks(model_id, path, body), done_marker=True)
    return ok(answer_for(model_id, path, body))


def answer_for(model_id: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    model = str(body.get("model") or model_id)
    if path == "embeddings":
        raw = body.get("input", "")
        texts = (raw if isinstance(raw, list) else [raw])[:MAX_EMBEDDING_INPUTS]
        data = [{"object": "embedding", "index": i, "embedding": outputs.embedding(t)} for i, t in enumerate(texts)]
        tokens = sum(len(str(t).split()) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    text = _text(path, body)
    usage = {"prompt_tokens": _prompt_tokens(body), "completion_tokens": len(text.split())}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    base = {"id": f"cmpl-sandbox-{outputs.digest(body) % 10**12}", "created": int(time.time()), "model": model}
    if path == "chat/completions":
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
    return {**base, "object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": usage}  # fmt: skip


def _text(path: str, body: dict[str, Any]) -> str:
    prompt = body.get("messages") if path == "chat/completions" else body.get("prompt")
    limit = body.get("max_tokens") or body.get("max_completion_tokens") or 16
    return outputs.text_for(prompt, int(limit) if isinstance(limit, int) else 16)


def _prompt_tokens(body: dict[str, Any]) -> int:
    return len(str(body.get("messages") or body.get("prompt") or "").split())


def _chunks(model_id: str, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    model = str(body.get("model") or model_id)
    base = {"id": f"cmpl-sandbox-{outputs.digest(body) % 10**12}", "created": int(time.time()), "model": model}
    pieces = outputs.pieces(_text(path, body))
    chunks: list[dict[str, Any]] = []
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        if path == "chat/completions":
            delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
            choice = {"index": 0, "delta": delta, "finish_reason": "stop" if last else None}
            chunks.append({**base, "object": "chat.completion.chunk", "choices": [choice]})
        else:
            choice = {"index": 0, "text": piece, "finish_reason": "stop" if last else None}
            chunks.append({**base, "object": "text_completion", "choices": [choice]})
    return chunks
