"""Which files of a Hub repository the worker downloads: what the library loads, nothing else.

Repos often carry several copies of the same weights (`.bin` next to `.safetensors`, an `fp16` variant,
a single-file checkpoint at the top of a diffusers repo, ONNX or Flax exports). Downloading only what
`from_pretrained` reads can save most of the transfer (sdxl-turbo: 7 GB of the 20 GB repo).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

SKIP_SUFFIXES = (
    ".md",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".mp4",
    ".onnx",
    ".onnx_data",
    ".msgpack",
    ".h5",
    ".gguf",
    ".ckpt",
    ".tflite",
    ".ot",
    ".mlmodel",
    ".nemo",
)
SKIP_DIRS = ("onnx", "openvino", "flax", "coreml", "tflite", "original", ".github")
SKIP_NAMES = (".gitattributes",)
WEIGHT_FILE = re.compile(
    r"^(?P<stem>[^./]+?)(?:\.(?P<variant>[A-Za-z0-9_]+))?(?P<shard>-\d{5}-of-\d{5})?\.(?P<ext>safetensors|bin|pt|pth)$"
)


@dataclass(frozen=True)
class Selection:
    files: tuple[str, ...]
    variant: str | None  # the weights variant to load (e.g. "fp16") when only variant files exist


def diffusers_components(model_index: dict[str, Any]) -> list[str]:
    """Folders of a diffusers pipeline: the model_index.json keys that name a (library, class) pair."""
    return sorted(
        key
        for key, value in model_index.items()
        if not key.startswith("_") and isinstance(value, list) and len(value) == 2 and value[0] is not None
    )


def select_files(paths: list[str], library: str, model_index: dict[str, Any] | None = None) -> Selection:
    wanted = [p for p in paths if not _skipped(p)]
    if library == "diffusers" and model_index is not None:
        folders = set(diffusers_components(model_index))
        wanted = [p for p in wanted if p == "model_index.json" or (p.split("/", 1)[0] in folders and "/" in p)]
    by_folder: dict[str, list[str]] = defaultdict(list)
    for path in wanted:
        by_folder[path.rsplit("/", 1)[0] if "/" in path else ""].append(path)
    chosen: list[str] = []
    variants: set[str] = set()
    for folder_paths in by_folder.values():
        kept, variant = _weights_of_folder(folder_paths)
        chosen += kept
        if variant:
            variants.add(variant)
    return Selection(tuple(sorted(chosen)), sorted(variants)[0] if len(variants) == 1 else None)


def _skipped(path: str) -> bool:
    parts = path.split("/")
    if any(part in SKIP_DIRS for part in parts[:-1]) or parts[-1] in SKIP_NAMES:
        return True
    name = parts[-1].lower()
    return name.endswith(SKIP_SUFFIXES) or name.startswith(("flax_model", "tf_model", "rust_model"))


def _weights_of_folder(paths: list[str]) -> tuple[list[str], str | None]:
    """Keep non-weight files; of the weights keep one format (safetensors first) and one variant."""
    weights: list[tuple[str, re.Match[str]]] = []
    others: list[str] = []
    for path in paths:
        match = WEIGHT_FILE.match(path.rsplit("/", 1)[-1])
        (weights.append((path, match)) if match else others.append(path))
    if not weights:
        return others, None
    for ext in ("safetensors", "bin", "pt", "pth"):
        of_ext = [(p, m) for p, m in weights if m["ext"] == ext]
        if of_ext:
            break
    # Mistral-style repos ship `consolidated.safetensors` beside the transformers shards.
    if any(m["stem"] != "consolidated" for _, m in of_ext):
        of_ext = [(p, m) for p, m in of_ext if m["stem"] != "consolidated"]
    plain = [p for p, m in of_ext if not m["variant"]]
    if plain:
        return others + plain, None
    variant = sorted({m["variant"] for _, m in of_ext})[0]
    return others + [p for p, m in of_ext if m["variant"] == variant], variant
