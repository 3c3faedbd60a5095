"""`make run`: the whole API in one process on the embedded default.

Serves every route (the `api` function) with waitress, delivers the durable local task queue to
the step function over HTTP as Cloud Tasks would, and prints the API keys it accepts.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
from pathlib import Path

import functions_framework
import waitress
from waitress.channel import HTTPChannel

from functions.logging_setup import configure_logging
from functions.security import local_task_token
from shared import services as services_mod
from shared.accounts.tiers import load_table
from shared.platform.settings import ConfigError, _read_or_create, load_settings
from shared.queue.local_dispatcher import DispatchPolicy, LocalDispatcher
from shared.reconcile.reconciler import schedule_next

ROOT = Path(__file__).resolve().parent.parent
MAX_RECEIVED_BODY_BYTES = 16 * 1024 * 1024  # above the largest route limit (10 MiB inference inputs)


def _ensure_api_keys(settings) -> list[str]:
    if settings.api_key_list:
        return settings.api_key_list
    key = _read_or_create(settings.data_dir / "api_key", lambda: "do_local_" + secrets.token_urlsafe(24))
    os.environ["API_KEYS"] = key
    return [key]


def _load(spec: str):
    module, _, attr = spec.partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run deployment-orchestrator locally")
    parser.add_argument("--services", help="module:function returning Services (test builds only)")
    parser.add_argument("--wrap", help="module:function wrapping the WSGI app (test builds only)")
    args = parser.parse_args(argv)

    configure_logging()
    os.umask(0o077)  # DATA_DIR holds secrets: every file this process writes is private to its user
    try:
        settings = load_settings()
        keys = _ensure_api_keys(settings)
        settings = load_settings()
        load_table(settings.tiers)  # a bad TIERS stops the start, not the first request
    except ConfigError as exc:
        print(f"deployment-orchestrator: {exc}", file=sys.stderr)
        return 2

    if args.services:
        svc = _load(args.services)(settings)
    else:
        svc = services_mod.build(settings)
    services_mod.install(svc)

    dispatcher = None
    if settings.orchestrator_backend == "local":
        token = local_task_token(svc)
        dispatcher = LocalDispatcher(
            svc.queue,  # type: ignore[arg-type]
            targets={
                "step": f"{settings.local_base_url}/internal/steps",
                "reconcile": f"{settings.local_base_url}/internal/reconcile",
            },
            policy=DispatchPolicy(
                max_attempts=settings.queue_max_attempts,
                min_backoff=settings.queue_min_backoff_seconds,
                max_backoff=settings.queue_max_backoff_seconds,
                dispatch_deadline=settings.queue_dispatch_deadline_seconds,
                workers=settings.queue_workers,
            ),
            auth_header=lambda target: {"Authorization": f"Bearer {token}"},
        )

    app = functions_framework.create_app(target="api", source=str(ROOT / "main.py"))
    if args.wrap:
        app = _load(args.wrap)(app, settings)
    server = waitress.create_server(
        app,
        host=settings.host,
        port=settings.port,
        threads=settings.server_threads,
        ident=None,
        # Bodies are received (to disk past 512 KiB) before the app runs; this stops a huge one while it
        # arrives. Every route's own, smaller limit is enforced while reading (functions/http.py).
        max_request_body_size=MAX_RECEIVED_BODY_BYTES,
    )

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"deployment-orchestrator listening on http://{settings.host}:{settings.port} "
        f"(backend={settings.orchestrator_backend}, data={settings.data_dir})",
        flush=True,
    )
    print("API keys accepted: " + ", ".join(keys), flush=True)
    print(f"Docs: http://{settings.host}:{settings.port}/docs", flush=True)
    if dispatcher:
        schedule_next(svc)
        dispatcher.start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        # A task delivery in flight waits on a request this server is serving: stop listening (a retried
        # delivery is refused at once instead of waiting in the backlog), drop the open connections
        # (the one in flight ends now, not after its dispatch deadline), then stop the dispatcher.
        server.close()
        _drop_connections(server)
        if dispatcher:
            dispatcher.stop()
    return 0


def _drop_connections(server) -> None:
    for channel in list(server._map.values()):
        if isinstance(channel, HTTPChannel):
            channel.close()


if __name__ == "__main__":
    sys.exit(main())
