"""What the sandbox's end-to-end tests share: a server whose Runpod is the sandbox, and a Runpod stand-in
that only records, to prove that nothing reaches it."""

from __future__ import annotations

import struct
import zlib

from tests.fakes.hub import FakeHub
from tests.fakes.runpod import FakeRunpod

IMAGE_MODEL = "stabilityai/sdxl-turbo"  # in the sandbox's offline catalog: the inference container
TEXT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"  # in the catalog: Runpod's vLLM worker
EMBEDDING_MODEL = "BAAI/bge-small-en-v1.5"  # in the catalog: vLLM's pooling runner
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port: a connection error at once


def sandbox_env(recorder: FakeRunpod, hub: FakeHub | None = None, **extra: str) -> dict[str, str]:
    """Runpod's both APIs pointed at `recorder`, the Hub at `hub` (or out of reach)."""
    return {
        "RUNPOD_API_BASE": recorder.base_url,
        "RUNPOD_RUNTIME_BASE": recorder.base_url,
        "HF_ENDPOINT": hub.base_url if hub is not None else UNREACHABLE,
        **extra,
    }


def sandbox_body(model: str = IMAGE_MODEL, **overrides: object) -> dict:
    body: dict = {"hf_model_id": model, "user_runpod_key": "sandbox"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature, chunk checksums and pixel data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    pos, size, idat = 8, (0, 0), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + chunk) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            size = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height = size
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)  # RGB rows, each with its filter byte
    return width, height
