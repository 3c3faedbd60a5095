"""Entry point of the inference container: `python -u -m worker.main`.

Boots (download, load, report), then hands the handler to the Runpod SDK. The SDK reads its own
flags from the command line: `--test_input '{"input": {...}}'` runs one job locally and exits,
`--rp_serve_api --rp_api_port N` serves a local copy of the runtime API (/run, /runsync, /status).
"""

from __future__ import annotations

import logging
import os
import sys

from worker.boot import BootError, boot
from worker.callbacks import Reporter
from worker.handlers import make_handler
from worker.settings import SettingsError, WorkerSettings

log = logging.getLogger("worker")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = WorkerSettings.from_env()
    except SettingsError as exc:
        log.error("%s", exc)
        Reporter(os.environ.get("ORCHESTRATOR_CALLBACK_URL"), os.environ.get("ORCHESTRATOR_CALLBACK_SECRET")).report(
            "failed", str(exc)
        )
        return 2
    reporter = Reporter(settings.callback_url, settings.callback_secret)
    if not settings.callback_url:
        log.warning("ORCHESTRATOR_CALLBACK_URL is not set: progress is logged here only")
    try:
        import runpod  # before the download: a broken image must not report ready first
    except ImportError as exc:
        reporter.report("failed", f"the worker image is broken: {exc}")
        return 1
    try:
        model = boot(settings, reporter)
    except BootError:
        return 1  # reported; exiting keeps Runpod from sending jobs to a worker that cannot serve them
    runpod.serverless.start({"handler": make_handler(model)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
