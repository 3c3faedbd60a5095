"""What the simulated workers answer: deterministic text, images and embedding vectors.

The same input always gives the same output, so tests and demos can compare answers.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Any

from shared.sandbox.png import png_base64

WORDS = ("sandbox", "simulated", "answer", "model", "deployment", "ready", "tokens", "hello", "from", "the")
EMBEDDING_DIMENSIONS = 384
MAX_SIDE = 256  # images are shrunk to this: the point is a real PNG, not a big one


def digest(value: Any) -> int:
    return int.from_bytes(hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).digest()[:8], "big")


def text_for(prompt: Any, max_tokens: int = 16) -> str:
    """`Sandbox reply to "<prompt start>": ` then a few words chosen by the prompt's hash (a chat's
    prompt is its last message)."""
    seed = digest(prompt)
    count = max(1, min(int(max_tokens or 16), 32))
    words = [WORDS[(seed >> (i % 60)) % len(WORDS)] for i in range(count)]
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        prompt = prompt[-1].get("content", "")
    head = str(prompt if isinstance(prompt, str) else json.dumps(prompt, default=str))[:40]
    return f'Sandbox reply to "{head}": ' + " ".join(words)


def pieces(text: str) -> list[str]:
    """The text in streamed chunks (a word each, spaces kept)."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def embedding(text: Any, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A unit vector from the text's hash."""
    seed = digest(text)
    raw = [math.sin(seed % 9973 + i * 1.618) for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def image_job(model_id: str, job_input: dict[str, Any]) -> dict[str, Any]:
    """The inference container's text-to-image output (worker/handlers.py), with a generated PNG."""
    width = _side(job_input.get("width"))
    height = _side(job_input.get("height"))
    seed = int(job_input["seed"]) if isinstance(job_input.get("seed"), int) else digest(job_input.get("prompt"))
    count = max(1, min(int(job_input.get("num_images") or 1), 4))
    images = [png_base64(width, height, seed + n) for n in range(count)]
    parameters = {"prompt": job_input.get("prompt"), "width": width, "height": height, "seed": seed}
    return {"images": images, "image_format": "png", "parameters": parameters, "model": model_id,
            "timings": {"inference_seconds": 0.0}, "sandbox": True}  # fmt: skip


def _side(value: Any) -> int:
    return max(8, min(int(value), MAX_SIDE)) if isinstance(value, int) and not isinstance(value, bool) else 64


def transformers_job(model_id: str, task: str, job_input: dict[str, Any]) -> dict[str, Any]:
    """The inference container's transformers output (`{"output", "model", "task", "timings"}`)."""
    inputs = job_input.get("inputs", job_input.get("prompt"))
    output: Any
    if task in ("feature-extraction", "sentence-similarity"):
        output = embedding(inputs)
    else:
        output = [{"generated_text": text_for(inputs)}]
    return {"output": output, "model": model_id, "task": task, "timings": {"inference_seconds": 0.0}}


def vllm_job(model_id: str, job_input: dict[str, Any]) -> list[dict[str, Any]]:
    """Runpod's vLLM worker's job output: a list of batches with choices of tokens, and usage."""
    prompt = job_input.get("messages", job_input.get("prompt", ""))
    params = job_input.get("sampling_params") or {}
    text = text_for(prompt, int(params.get("max_tokens") or 16) if isinstance(params, dict) else 16)
    usage = {"input": len(json.dumps(prompt, default=str)) // 4, "output": len(text.split())}
    return [{"choices": [{"tokens": [text]}], "usage": usage}]


def created() -> int:
    return int(time.time())
