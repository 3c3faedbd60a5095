"""FakeHub: the parts of the Hugging Face Hub that `huggingface_hub` 2.x talks to, on a local server.

Pass `fake.base_url` as `HfApi(endpoint=...)` / `snapshot_download(endpoint=...)`. Served:

- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}` (model_info; `?blobs=true` adds sizes)
- `GET /api/models/{repo}/auth-check` (auth_check)
- `GET /api/models/{repo}/tree/{rev}[/{path}]` (list_repo_tree, used by snapshot_download)
- `GET|HEAD /{repo}/resolve/{rev}/{path}` (hf_hub_download) for files stored with `add_file`

Errors carry the `X-Error-Code` header (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound)
that `huggingface_hub.utils.hf_raise_for_status` turns into its typed exceptions.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.fakes.base import FakeServer, Response, ScriptedFaults

API_PATH = re.compile(r"^/api/models/(?P<repo>.+?)(?:/(?P<op>revision|tree|auth-check)(?:/(?P<rest>.*))?)?$")
RESOLVE_PATH = re.compile(r"^/(?P<repo>.+?)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"  # huggingface_hub keys on this exact text
FAULT_KINDS = ("status", "reset", "timeout")


@dataclass
class HubModel:
    repo_id: str
    library_name: str | None = "diffusers"
    pipeline_tag: str | None = "text-to-image"
    parameters: dict[str, int] | None = None  # safetensors dtype -> count
    files: dict[str, int] = field(default_factory=dict)  # path -> size in bytes
    contents: dict[str, bytes] = field(default_factory=dict)  # path -> bytes, for downloads
    gated: str | bool = False  # "auto" | "manual" | False
    private: bool = False
    config: dict[str, Any] | None = None
    tokens_with_access: set[str] = field(default_factory=set)
    tags: list[str] = field(default_factory=list)

    @property
    def sha(self) -> str:
        """The commit: changes whenever a file does."""
        state = self.repo_id + "".join(f"|{p}:{self.blob_id(p)}" for p in sorted(self.files))
        return hashlib.sha1(state.encode()).hexdigest()

    def blob_id(self, path: str) -> str:
        data = self.contents.get(path)
        if data is None:
            return hashlib.sha1(f"{self.repo_id}/{path}:{self.files[path]}".encode()).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's blob id

    def info(self, with_blobs: bool) -> dict[str, Any]:
        siblings = [
            {"rfilename": p, "size": size, "blobId": self.blob_id(p)} if with_blobs else {"rfilename": p}
            for p, size in sorted(self.files.items())
        ]
        data: dict[str, Any] = {
            "_id": hashlib.md5(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.repo_id.split("/")[0] if "/" in self.repo_id else None,
            "sha": self.sha,
            "private": self.private,
            "gated": self.gated,
            "disabled": False,
            "library_name": self.library_name,
            "pipeline_tag": self.pipeline_tag,
            "tags": self.tags or [t for t in (self.library_name, self.pipeline_tag) if t],
            "siblings": siblings,
            "lastModified": "2026-01-02T03:04:05.000Z",
            "createdAt": "2025-01-02T03:04:05.000Z",
            "downloads": 1234,
            "likes": 56,
            "usedStorage": sum(self.files.values()),
        }
        if self.parameters is not None:
            data["safetensors"] = {"parameters": dict(self.parameters), "total": sum(self.parameters.values())}
        if self.config is not None:
            data["config"] = self.config
        return data

    def tree(self, sub: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = sub.strip("/") + "/" if sub.strip("/") else ""
        entries: dict[str, dict[str, Any]] = {}
        for path, size in self.files.items():
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts) if recursive else min(2, len(parts))):
                folder = prefix + "/".join(parts[:depth])
                entries[folder] = {
                    "type": "directory",
                    "oid": hashlib.sha1(folder.encode()).hexdigest(),
                    "path": folder,
                }
            if recursive or len(parts) == 1:
                entries[path] = {"type": "file", "oid": self.blob_id(path), "size": size, "path": path}
        return [entries[p] for p in sorted(entries)]


@dataclass
class HubFaultPlan:
    """Random faults, one seeded draw per request."""

    error_rate: float = 0.0
    reset_rate: float = 0.0
    seed: int = 0
    error_status: int = 503

    def __post_init__(self) -> None:
        if min(self.error_rate, self.reset_rate) < 0 or self.error_rate + self.reset_rate > 1:
            raise ValueError("rates must be >= 0 and sum to at most 1")


def hub_error(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> Response:
    extra = {"X-Error-Message": message, **(headers or {})}
    if code:
        extra["X-Error-Code"] = code
    return Response(status, {"error": message}, headers=extra)


class FakeHub(FakeServer):
    """The Hub for tests. Fill with `add_model` / `add_file`; break with `down`, `fail_next`, `faults`."""

    def __init__(self, *, valid_tokens: set[str] | None = None, faults: HubFaultPlan | None = None) -> None:
        """valid_tokens: when set, any other bearer token is refused with 401 "Invalid credentials"."""
        super().__init__()
        self.valid_tokens = valid_tokens
        self.models: dict[str, HubModel] = {}
        self.down = False  # every call answers 503
        self.timeout_seconds = 3.0  # how long a "timeout" fault stalls
        self.fault_counts: Counter[str] = Counter()
        self.scripted = ScriptedFaults()
        self.faults = faults or HubFaultPlan()

    # ---- test controls ----

    @property
    def faults(self) -> HubFaultPlan:
        return self._faults

    @faults.setter
    def faults(self, plan: HubFaultPlan) -> None:
        with self.lock:
            self._faults, self._rng = plan, random.Random(plan.seed)

    def add_model(
        self,
        repo_id: str,
        *,
        library_name: str | None = "diffusers",
        pipeline_tag: str | None = "text-to-image",
        parameters: dict[str, int] | None = None,
        files: dict[str, int] | None = None,
        gated: bool | str = False,
        private: bool = False,
        config: dict[str, Any] | None = None,
        tokens_with_access: set[str] | None = None,
        tags: list[str] | None = None,
    ) -> HubModel:
        """gated: True means "manual"; files: metadata only (path -> size), use add_file for downloadable bytes."""
        model = HubModel(
            repo_id=repo_id,
            library_name=library_name,
            pipeline_tag=pipeline_tag,
            parameters=parameters,
            files=dict(files or {}),
            gated="manual" if gated is True else gated,
            private=private,
            config=config,
            tokens_with_access=set(tokens_with_access or ()),
            tags=list(tags or []),
        )
        with self.lock:
            self.models[repo_id] = model
        return model

    def add_file(self, repo_id: str, path: str, data: bytes) -> None:
        """Store a downloadable file (creating a bare model if needed); it joins siblings and the tree."""
        with self.lock:
            model = self.models.get(repo_id) or self.add_model(repo_id)
            model.files[path] = len(data)
            model.contents[path] = data

    def fail_next(self, kind: str, count: int = 1, status: int = 503, path_prefix: str = "") -> None:
        """kind: "status" (answer `status`), "reset" (close without answering), "timeout" (stall, then 504)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        with self.lock:
            self.scripted.add(ScriptedFaults.Fault("*", path_prefix, kind, count, status))

    # ---- dispatch ----

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Response:
        with self.lock:
            fault = self._injected_fault(method, path)
            if fault is not None:
                return fault
            if self.down:
                return hub_error(503, "Service Unavailable")
            token = headers.get("authorization", "").removeprefix("Bearer ").strip() or None
            if token is not None and self.valid_tokens is not None and token not in self.valid_tokens:
                return hub_error(401, INVALID_CREDENTIALS)
            if method not in ("GET", "HEAD"):
                return hub_error(405, "Method not allowed")
            if m := RESOLVE_PATH.match(path):
                return self._resolve(unquote(m["repo"]), unquote(m["rev"]), unquote(m["path"]), token)
            if m := API_PATH.match(path):
                return self._api(unquote(m["repo"]), m["op"], m["rest"] or "", query, token)
            return hub_error(404, f"Not found: {path}")

    def _injected_fault(self, method: str, path: str) -> Response | None:
        scripted, plan = self.scripted.take(method, path), self._faults
        if scripted is not None:
            kind, status = scripted.kind, scripted.status
        else:
            draw = self._rng.random()
            if draw >= plan.error_rate + plan.reset_rate:
                return None
            kind, status = ("status", plan.error_status) if draw < plan.error_rate else ("reset", 0)
        self.fault_counts[kind] += 1
        if kind == "reset":
            return Response.connection_reset()
        if kind == "timeout":
            return Response(504, {"error": "injected timeout"}, delay=self.timeout_seconds)
        return hub_error(status, "injected fault")

    def _model(self, repo_id: str, token: str | None) -> HubModel | Response:
        """The model, or the refusal the Hub gives for a missing repo or a private one without access."""
        model = self.models.get(repo_id)
        if model is None:
            return hub_error(404, "Repository not found", "RepoNotFound")
        if model.private and token not in model.tokens_with_access:
            return hub_error(401, "Repository not found", "RepoNotFound")
        return model

    def _gate_refusal(self, model: HubModel, token: str | None) -> Response | None:
        if model.gated and token not in model.tokens_with_access:
            return hub_error(403, f"Access to model {model.repo_id} is restricted.", "GatedRepo")
        return None

    def _revision_refusal(self, model: HubModel, revision: str) -> Response | None:
        if revision in ("main", model.sha):
            return None
        return hub_error(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _api(self, repo_id: str, op: str | None, rest: str, query: dict[str, str], token: str | None) -> Response:
        model = self._model(repo_id, token)
        if isinstance(model, Response):
            return model
        if op == "auth-check":
            return self._gate_refusal(model, token) or Response(200, {"access": "granted"})
        revision, _, sub = rest.partition("/") if op in ("revision", "tree") else ("main", "", "")
        revision, sub = unquote(revision), unquote(sub)  # the revision is quoted with safe=""
        refusal = self._revision_refusal(model, revision)
        if refusal is not None:
            return refusal
        if op == "tree":
            return Response(200, model.tree(sub, _truthy(query.get("recursive"))))
        if sub:
            return hub_error(404, f"Not found: {unquote(rest)}")
        return Response(200, model.info(with_blobs=_truthy(query.get("blobs"))))

    def _resolve(self, repo_id: str, revision: str, path: str, token: str | None) -> Response:
        model = self._model(repo_id, token)
        if isinstance(model, Response):
            return model
        refusal = self._gate_refusal(model, token) or self._revision_refusal(model, revision)
        if refusal is not None:
            return refusal
        commit = {"X-Repo-Commit": model.sha}
        if path not in model.contents:
            why = "has no content in FakeHub (use add_file)" if path in model.files else "does not exist"
            return hub_error(404, f"{path} {why}", "EntryNotFound", commit)
        headers = {**commit, "ETag": f'"{model.blob_id(path)}"', "Content-Type": "application/octet-stream"}
        return Response(200, body=model.contents[path], headers=headers)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")
