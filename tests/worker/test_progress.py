"""Download progress is read from the bytes on disk and reported every few percent, never past 99 before the end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from worker.boot import _ProgressWatcher
from worker.callbacks import Reporter


class Recorder(Reporter):
    def __init__(self) -> None:
        super().__init__(None, None)
        self.calls: list[dict[str, Any]] = []

    def report(self, status: Any, message: str | None = None, **kw: Any) -> bool:  # type: ignore[override]
        self.calls.append({"status": status, "message": message, **kw})
        return True


def test_progress_follows_the_blobs_on_disk(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    recorder = Recorder()
    watcher = _ProgressWatcher(blobs, total=1000, reporter=recorder, interval=0.02)
    watcher.start()
    try:
        time.sleep(0.1)  # the folder does not exist yet: nothing to report
        blobs.mkdir()
        for size in (100, 300, 600, 1000):
            (blobs / "a.incomplete").write_bytes(b"x" * size)
            time.sleep(0.15)
    finally:
        watcher.stop()
    progress = [c["progress"] for c in recorder.calls]
    assert progress == sorted(progress) and progress[0] >= 10 and progress[-1] == 99
    assert {c["status"] for c in recorder.calls} == {"downloading_model"}
    assert all(c["critical"] is False for c in recorder.calls)
    assert "of 0 MB" in recorder.calls[0]["message"]  # "0 of 0 MB" for a tiny test download
