"""How much GPU memory a model needs (see ../shared/reference/runpod.md §7)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from shared.clients.hub import ModelFacts

DTYPE_BYTES = {
    "F64": 8, "I64": 8, "U64": 8,
    "F32": 4, "I32": 4, "U32": 4,
    "BF16": 2, "F16": 2, "I16": 2, "U16": 2,
    "I8": 1, "U8": 1, "BOOL": 1,
}  # fmt: skip
GIB = 1024**3
INFERENCE_OVERHEAD = 1.2  # activations and runtime buffers on top of the weights (accelerate's rule)
DEFAULT_MAX_MODEL_LEN = 8192


@dataclass(frozen=True)
class VramEstimate:
    weights_bytes: int
    kv_cache_bytes: int
    required_gb: float
    max_model_len: int | None
    how: str


def weight_bytes(facts: ModelFacts) -> tuple[int, str]:
    if facts.parameters:
        total = sum(count * _dtype_bytes(dtype) for dtype, count in facts.parameters.items())
        return total, "safetensors parameter counts"
    for pattern in (r"\.safetensors$", r"\.(bin|pt|pth)$"):
        files = {
            path: size
            for path, size in facts.file_sizes.items()
            if re.search(pattern, path) and not path.startswith(("original/", "onnx/", "flax_", "tf_"))
        }
        if files:
            return sum(files.values()), f"size of {len(files)} weight file(s)"
    return 0, "no weight information"


def _dtype_bytes(dtype: str) -> int:
    if dtype.startswith("F8") or dtype.startswith("F6") or dtype.startswith("F4"):
        return 1
    return DTYPE_BYTES.get(dtype.upper(), 2)


def is_llm(facts: ModelFacts) -> bool:
    return facts.pipeline_tag in ("text-generation", "text2text-generation", "image-text-to-text") and (
        facts.library_name in (None, "transformers", "vllm")
    )


def estimate(facts: ModelFacts, max_model_len: int | None = None) -> VramEstimate:
    weights, how = weight_bytes(facts)
    kv = 0
    length = None
    if is_llm(facts):
        length = max_model_len or min(
            int(facts.config.get("max_position_embeddings") or 0) or DEFAULT_MAX_MODEL_LEN, DEFAULT_MAX_MODEL_LEN
        )
        kv = kv_cache_bytes(facts.config, length)
    required = weights * INFERENCE_OVERHEAD + kv
    return VramEstimate(weights, kv, required / GIB, length, how)


def kv_cache_bytes(config: dict[str, Any], max_model_len: int, dtype_bytes: int = 2) -> int:
    """2 (K and V) × layers × kv heads × head dim × bytes × tokens, for one max-length sequence."""
    nested = config.get("text_config")
    text: dict[str, Any] = nested if isinstance(nested, dict) else config
    layers = int(text.get("num_hidden_layers") or 0)
    heads = int(text.get("num_attention_heads") or 0)
    kv_heads = int(text.get("num_key_value_heads") or heads or 0)
    hidden = int(text.get("hidden_size") or 0)
    head_dim = int(text.get("head_dim") or (hidden // heads if heads else 0))
    return 2 * layers * kv_heads * head_dim * dtype_bytes * max_model_len


def whole_gb(required_gb: float) -> int:
    return max(1, math.ceil(required_gb))
