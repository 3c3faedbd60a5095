"""Start-up: download the weights, load the pipeline, and tell the orchestrator how it goes.

Reports, in order: `downloading_model` (progress 0, then every few percent, then 100),
`loading_model`, then `ready` (with metadata) or `failed` (with the reason). A failure is reported,
then raised as `BootError`; the entry point exits so Runpod does not route jobs to a broken worker.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.callbacks import Reporter
from worker.files import Selection, select_files
from worker.loaders import LoadedModel, UnsupportedModel, load, pick_device
from worker.settings import WorkerSettings

log = logging.getLogger("worker.boot")
MB = 1024 * 1024


class BootError(Exception):
    """Start-up failed; the orchestrator has been told (as far as it could be reached)."""


@dataclass(frozen=True)
class Download:
    path: Path
    selection: Selection
    total_bytes: int
    library: str
    task: str
    sha: str | None


def boot(settings: WorkerSettings, reporter: Reporter, *, progress_interval: float = 5.0) -> LoadedModel:
    started = time.monotonic()
    try:
        reporter.report("downloading_model", f"Downloading {settings.model_id}", progress=0, critical=False)
        got = download(settings, reporter, progress_interval)
        device, dtype = pick_device(settings.device)
        downloaded_at = time.monotonic()
        what = f"{got.library}, {got.task or 'no task'}"
        reporter.report("loading_model", f"Loading {settings.model_id} ({what}) on {device}")
        model = load(settings.model_id, got.path, got.library, got.task, device, dtype, got.selection.variant)
    except Exception as exc:
        message = describe(exc, settings)
        reporter.log_line("error", f"{message}\n{_short_traceback(exc)}")
        reporter.report("failed", message)
        raise BootError(message) from exc
    loaded_at = time.monotonic()
    model.facts.update(
        {
            "revision": got.sha,
            "files": len(got.selection.files),
            "download_mb": round(got.total_bytes / MB, 1),
            "download_seconds": round(downloaded_at - started, 2),
            "load_seconds": round(loaded_at - downloaded_at, 2),
        }
    )
    reporter.report(
        "ready",
        f"{settings.model_id} loaded on {model.device} ({model.dtype}) in {loaded_at - started:.1f}s",
        metadata=metadata_of(model),
    )
    return model


def download(settings: WorkerSettings, reporter: Reporter, progress_interval: float) -> Download:
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    token: str | bool = settings.hf_token or False  # never a token left on the machine
    api = HfApi(endpoint=settings.hf_endpoint, token=token)
    info = api.model_info(settings.model_id, revision=settings.revision, files_metadata=True)
    sizes = {s.rfilename: int(s.size or 0) for s in info.siblings or []}
    library = settings.library or info.library_name or _guess_library(sizes)
    task = settings.task or info.pipeline_tag or ""
    common = {"revision": info.sha, "token": token, "endpoint": settings.hf_endpoint, "cache_dir": settings.cache_dir}
    model_index = None
    if library == "diffusers" and "model_index.json" in sizes:
        index_file = hf_hub_download(settings.model_id, "model_index.json", **common)
        model_index = json.loads(Path(index_file).read_text())
    selection = select_files(sorted(sizes), library, model_index)
    total = sum(sizes.get(p, 0) for p in selection.files)
    log.info("downloading %d files (%.1f MB) of %s", len(selection.files), total / MB, settings.model_id)
    watcher = _ProgressWatcher(_blobs_dir(settings), total, reporter, progress_interval)
    watcher.start()
    try:
        folder = snapshot_download(settings.model_id, allow_patterns=list(selection.files), **common)
    finally:
        watcher.stop()
    reporter.report(
        "downloading_model",
        f"Downloaded {len(selection.files)} files ({total / MB:.1f} MB)",
        progress=100,
        critical=False,
    )
    return Download(Path(folder), selection, total, library, task, info.sha)


def describe(exc: BaseException, settings: WorkerSettings) -> str:
    """A one-line reason a user can act on."""
    from_hub = _hub_error_kind(exc)
    model = settings.model_id
    if from_hub == "GatedRepoError":
        return f"{model} is gated: deploy it with a Hugging Face token (user_hf_token) that has been granted access"
    if from_hub == "RepositoryNotFoundError":
        return f"{model} was not found on the Hugging Face Hub (or it is private and the token has no access)"
    if from_hub == "RevisionNotFoundError":
        return f"revision {settings.revision} of {model} was not found on the Hugging Face Hub"
    if isinstance(exc, UnsupportedModel):
        return str(exc)
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return "the worker ran out of disk space downloading the model: the endpoint needs a larger container disk"
    if type(exc).__name__ == "OutOfMemoryError":
        return f"out of GPU memory loading {model}: choose a GPU with more VRAM"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:1000] if text else type(exc).__name__


def _hub_error_kind(exc: BaseException) -> str | None:
    names = {c.__name__ for c in type(exc).__mro__}
    for name in ("GatedRepoError", "RepositoryNotFoundError", "RevisionNotFoundError"):
        if name in names:
            return name
    return None


def _guess_library(files: dict[str, Any]) -> str:
    if "model_index.json" in files:
        return "diffusers"
    return "transformers" if "config.json" in files else ""


def _short_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc, limit=-3))[-1500:]


def _blobs_dir(settings: WorkerSettings) -> Path:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    root = Path(settings.cache_dir) if settings.cache_dir else Path(constants.HF_HUB_CACHE)
    return root / repo_folder_name(repo_id=settings.model_id, repo_type="model") / "blobs"


class _ProgressWatcher:
    """Reports download progress from the bytes on disk: independent of the Hub client's progress bars."""

    STEP = 5  # percent between reports

    def __init__(self, blobs: Path, total: int, reporter: Reporter, interval: float) -> None:
        self.blobs, self.total, self.reporter, self.interval = blobs, total, reporter, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="download-progress", daemon=True)
        self.last = 0

    def start(self) -> None:
        if self.total > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            done = self._bytes_on_disk()
            percent = min(99, int(done * 100 / self.total))
            if percent >= self.last + self.STEP:
                self.last = percent
                message = f"{done / MB:.0f} of {self.total / MB:.0f} MB"
                self.reporter.report("downloading_model", message, progress=percent, critical=False)

    def _bytes_on_disk(self) -> int:
        total = 0
        try:
            for entry in self.blobs.iterdir():
                try:
                    total += entry.stat().st_size
                except OSError:
                    pass
        except OSError:
            return 0
        return total


def metadata_of(model: LoadedModel) -> dict[str, Any]:
    return {"device": model.device, "dtype": model.dtype, "task": model.task, **model.facts}
