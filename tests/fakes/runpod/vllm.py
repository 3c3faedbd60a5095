"""The fake's vLLM worker: the OpenAI-compatible routes behind `/v2/{endpoint}/openai/v1/...`.

chat/completions, completions, embeddings and models; `"stream": true` answers SSE, one chunk every
`openai_chunk_delay` seconds; `openai_next` scripts vLLM's errors, which come back with HTTP 200.
"""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes.base import RecordedRequest, Response
from tests.fakes.runpod.state import RunpodState, problem

OPENAI_PATH = re.compile(
    r"^/v2/(?P<endpoint>[^/]+)/openai/v1/(?P<path>chat/completions|completions|embeddings|models)$"
)
OPENAI_KINDS = ("error_200", "stream_error", "break")


class VllmWorker(RunpodState):
    def openai_next(self, kind: str, count: int = 1, code: int = 400, message: str = "scripted error") -> None:
        """Script the next `count` OpenAI requests: "error_200" (vLLM's error object with HTTP 200),
        "stream_error" (an SSE stream whose first event is an error), "break" (two chunks, then a reset)."""
        if kind not in OPENAI_KINDS:
            raise ValueError(f"kind must be one of {OPENAI_KINDS}")
        with self.lock:
            self.openai_script += [{"kind": kind, "code": code, "message": message}] * count

    def _openai(self, method: str, path: str, headers: dict[str, str], body: Any) -> Response:
        """Non-streamed answers (streams are written by `_serve`). Callers hold the lock."""
        match = OPENAI_PATH.match(path)
        assert match is not None
        fault = self._injected_fault(method, path, is_runtime=True)
        if fault is not None:
            return fault.response
        if headers.get("authorization", "").removeprefix("Bearer ") not in self.valid_keys:
            return problem(401, "missing or invalid bearer token")
        endpoint = self.endpoints.get(unquote(match["endpoint"]))
        if endpoint is None:
            return Response(404, {"error": f"endpoint {match['endpoint']} not found"})
        served = endpoint.get("env", {}).get("MODEL_NAME", "")
        if match["path"] == "models":
            if method != "GET":
                return self._violation(405, f"{method} {path}: openai models expects GET", [])
            return Response(200, {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "vllm"}]})
        if method != "POST" or not isinstance(body, dict):
            return self._violation(400, f"{method} {path}: expects POST with a JSON object", [])
        refusal = self._openai_refusal(body, served)
        if refusal is not None:
            return Response(200, refusal)  # vLLM's errors come back with HTTP 200 through Runpod
        if match["path"] == "embeddings":
            return Response(200, _embeddings(body))
        return Response(200, _completion(match["path"], body))

    def _openai_refusal(self, body: dict[str, Any], served: str) -> dict[str, Any] | None:
        """A scripted error_200, or vLLM's own 404 for a model it does not serve. Callers hold the lock."""
        if self.openai_script and self.openai_script[0]["kind"] == "error_200":
            step = self.openai_script.pop(0)
            return _vllm_error(step["code"], step["message"])
        if body.get("model") != served:
            return _vllm_error(404, f"The model `{body.get('model')}` does not exist.")
        return None

    def _serve(self, h: Any) -> None:
        """Streamed OpenAI answers are written here, chunk by chunk; everything else goes the usual way."""
        path = urlsplit(h.path).path
        if h.command != "POST" or not OPENAI_PATH.match(path):
            super()._serve(h)
            return
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length > 0 else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if not (isinstance(parsed, dict) and parsed.get("stream") is True):
            original, h.rfile = h.rfile, io.BytesIO(raw)  # hand the body back to the usual path
            try:
                super()._serve(h)
            finally:
                h.rfile = original
            return
        self._serve_stream(h, path, raw, parsed)

    def _serve_stream(self, h: Any, path: str, raw: bytes, body: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self.lock:
            self.requests.append(RecordedRequest("POST", path, {}, headers, body, raw, time.monotonic()))
            plain = self._openai("POST", path, headers, {**body, "stream": False})
            step = self.openai_script.pop(0) if plain.status == 200 and self.openai_script else None
            delay = self.openai_chunk_delay
        if plain.status != 200 or "error" in (plain.json or {}) or plain.reset:
            _write_plain(h, plain)  # refusals and scripted faults are not streamed
            return
        match = OPENAI_PATH.match(path)
        assert match is not None
        events = _stream_events(match["path"], body)
        if step is not None and step["kind"] == "stream_error":
            events = [json.dumps(_vllm_error(step["code"], step["message"]))]
        try:
            h.send_response(200)
            for name, value in (
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-cache"),
                ("Transfer-Encoding", "chunked"),
            ):
                h.send_header(name, value)
            h.end_headers()
            for n, data in enumerate(events):
                if step is not None and step["kind"] == "break" and n == 2:
                    h.reset_connection()
                    return
                time.sleep(delay)
                chunk = f"data: {data}\n\n".encode()
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            h.close_connection = True


def _vllm_error(code: int, message: str) -> dict[str, Any]:
    kinds = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}
    return {"error": {"message": message, "type": kinds.get(code, "Error"), "param": None, "code": code}}


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """One 4-dimension vector per input, derived from its text; base64 (float32 LE) when asked, as vLLM does."""
    raw = body.get("input")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return _vllm_error(400, "input must be a string or a non-empty list")
    data = []
    for n, item in enumerate(raw):
        text = item if isinstance(item, str) else " ".join(map(str, item))
        vector = [float(len(text)), float(sum(map(ord, text)) % 97), 0.5, -1.0]
        encoded: Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": n, "embedding": encoded})
    tokens = sum(len(str(item).split()) for item in raw)
    return {"object": "list", "id": "embd-fake", "created": int(time.time()), "model": body.get("model"),
            "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip


def _reply_text(kind: str, body: dict[str, Any]) -> str:
    if kind == "completions":
        return f"echo: {body.get('prompt', '')}"
    messages = body.get("messages") or [{}]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    return f"echo: {last.get('content', '')}"


def _completion(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    text, created, model = _reply_text(kind, body), int(time.time()), body.get("model")
    usage = {"prompt_tokens": 3, "completion_tokens": len(text.split()), "total_tokens": 3 + len(text.split())}
    if kind == "completions":
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        return {"id": "cmpl-fake", "object": "text_completion", "created": created, "model": model,
                "choices": [choice], "usage": usage}  # fmt: skip
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": model,
            "choices": [choice], "usage": usage}  # fmt: skip


def _stream_events(kind: str, body: dict[str, Any]) -> list[str]:
    """The data of each SSE event: one per word, then a finish chunk, then [DONE]."""
    words = _reply_text(kind, body).split(" ")
    base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body.get("model")}
    events = []
    for n, word in enumerate([*words, None]):
        piece = None if word is None else (word if n == 0 else " " + word)
        finish = "stop" if word is None else None
        if kind == "completions":
            choice: dict[str, Any] = {"index": 0, "text": piece or "", "finish_reason": finish}
            events.append(json.dumps({**base, "object": "text_completion", "choices": [choice]}))
        else:
            delta = {} if piece is None else ({"role": "assistant", "content": piece} if n == 0 else {"content": piece})
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            events.append(json.dumps({**base, "object": "chat.completion.chunk", "choices": [choice]}))
    return [*events, "[DONE]"]


def _write_plain(h: Any, resp: Response) -> None:
    """Answer a request taken over by FakeRunpod._serve with an ordinary (non-streamed) response."""
    if resp.reset:
        h.reset_connection()
        return
    if resp.delay:
        time.sleep(resp.delay)
    payload = resp.payload()
    try:
        h.send_response(resp.status)
        headers = {"Content-Type": "application/json", **resp.headers, "Content-Length": str(len(payload))}
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(payload)
    except OSError:
        h.close_connection = True
