"""Settings read from the environment, validated once at start.

Every variable is documented in README.md ("Configuration"). Secrets are `SecretStr` so they never
show up in a repr or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import string
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

INSTALL_ID_PATTERN = re.compile(r"[a-z0-9]{4,16}")
INSTALL_ID_RULE = "4 to 16 lower-case letters and digits"
MIN_ADMIN_TOKEN_LENGTH = 32
BOOTSTRAP_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConfigError(Exception):
    """The environment does not describe a runnable service; the message says what to fix."""


class Settings(BaseModel):
    # A plain model, not pydantic-settings (some 35 ms of imports on every cold start): `load_settings`
    # hands it the environment. Defaults are validated too, as pydantic-settings did.
    model_config = ConfigDict(extra="ignore", validate_default=True)

    orchestrator_backend: Literal["local", "gcp"] = "local"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path(".data")
    api_keys: SecretStr = SecretStr("")
    admin_token: SecretStr | None = None
    public_base_url: str | None = None
    internal_secret: SecretStr | None = None
    # Comma-separated `key_id:base64(32 bytes)`; the first one encrypts, all of them decrypt.
    encryption_keys: SecretStr | None = None

    runpod_api_base: str = "https://api.runpod.io"
    runpod_runtime_base: str = "https://api.runpod.ai"
    hf_endpoint: str = "https://huggingface.co"
    hf_token: SecretStr | None = None
    runpod_worker_image: str = "ghcr.io/visgate/deployment-orchestrator-worker:0.1.0"
    vllm_worker_image: str = "runpod/worker-v1-vllm:v2.25.2"
    endpoint_name_prefix: str = "do-"
    # This install's identity, carried by every endpoint it creates (name and ORCHESTRATOR_INSTALL_ID):
    # the reconciler only ever deletes endpoints marked with it. Generated into DATA_DIR locally.
    install_id: str | None = None
    allow_private_webhooks: bool | None = None
    # The sandbox (Runpod key `sandbox`, a simulated Runpod built in): None = on for the embedded default.
    sandbox_enabled: bool | None = None
    sandbox_time_scale: float = Field(default=1.0, gt=0, le=1000)  # times the simulated workers take
    sandbox_poll_interval_seconds: float = Field(default=1.0, gt=0)  # wait_ready's pace on a sandbox endpoint

    rate_limit_per_minute: int = Field(default=100, ge=1)
    # What each tier may do: a JSON file's path or the JSON (data/tiers.json's shape); unset: seed 004's table.
    tiers: str | None = None
    # GET /metrics without the admin token (for a Prometheus scraper); by default it needs X-Admin-Token.
    metrics_public: bool = False
    # Failed API-key / admin-token authentications per client address a minute, then 429 for the minute.
    auth_failures_per_minute: int = Field(default=20, ge=1)
    # X-Forwarded-For entries appended by proxies you trust (0: the peer address is the client).
    trusted_proxy_hops: int = Field(default=0, ge=0, le=10)
    # Use HF_TOKEN for tenants' models that come without user_hf_token (lets tenants read what it reads).
    hf_token_for_tenants: bool = False
    # The operator's own Runpod key: what admin node launches (POST /admin/nodes/launch) run with by default.
    operator_runpod_api_key: SecretStr | None = None
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # The OpenAI proxy: a whole answer, or the gap between streamed chunks (under the function's 300 s).
    inference_timeout_seconds: float = Field(default=280.0, gt=0)
    # A proxied call's wait for a worker without X-Scale-Up-Timeout, and the most it may ask (under 300 s).
    scale_up_timeout_seconds: float = Field(default=60.0, ge=0)
    scale_up_timeout_max_seconds: float = Field(default=150.0, ge=0, le=3600)

    # Deadlines and pacing of the deployment steps (seconds).
    step_lease_seconds: float = Field(default=120.0, gt=0)
    step_timeout_seconds: float = Field(default=600.0, gt=0)
    deploy_timeout_seconds: float = Field(default=3600.0, gt=0)
    ready_poll_interval_seconds: float = Field(default=15.0, gt=0)
    # No worker started this long: widen the pools. price_only: the old placement (no catalog), a fallback.
    placement_timeout_seconds: float = Field(default=180.0, gt=0)
    placement_mode: Literal["availability", "price_only"] = "availability"
    # A green update: how long the previous endpoint may finish its jobs before it is deleted.
    update_drain_seconds: float = Field(default=300.0, ge=0)
    # A step's transient faults: base doubling per attempt up to max, ± jitter, at most max_attempts.
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    retry_jitter: float = Field(default=0.2, ge=0, lt=1)
    retry_max_attempts: int = Field(default=12, ge=1)
    webhook_retry_schedule: str = "5,30,120,600,1800,3600"
    cleanup_max_attempts: int = Field(default=3, ge=1)
    reconcile_interval_seconds: float = Field(default=120.0, gt=0)
    # How long every worker must stay unhealthy before an auto_pause_unhealthy deployment is paused.
    unhealthy_pause_seconds: float = Field(default=600.0, ge=0)
    # An endpoint of this install naming a deployment this store does not know is deleted only after this.
    orphan_grace_seconds: float = Field(default=3600.0, ge=0)
    # Report (stats and log) what the sweep would delete, delete nothing.
    reconcile_dry_run: bool = False
    # One run's bounds; the next run picks up what is left (cursors kept in the store).
    reconcile_time_budget_seconds: float = Field(default=240.0, gt=0)
    reconcile_max_accounts: int = Field(default=50, ge=1)

    # Local task queue (the embedded default's stand-in for Cloud Tasks).
    queue_max_attempts: int = Field(default=100, ge=1)
    queue_min_backoff_seconds: float = Field(default=0.5, gt=0)
    queue_max_backoff_seconds: float = Field(default=60.0, gt=0)
    queue_dispatch_deadline_seconds: float = Field(default=120.0, gt=0)
    queue_workers: int = Field(default=8, ge=1)

    # Firestore compare-and-set: races lost in a row before a 503, and the (fully jittered) waits between.
    store_update_attempts: int = Field(default=12, ge=1)
    store_retry_base_seconds: float = Field(default=0.01, gt=0)
    store_retry_max_seconds: float = Field(default=0.5, gt=0)

    # Long-lived requests (log streams, runsync, the OpenAI proxy) may hold a server thread for minutes:
    # at most this many per tenant and per process, so they can never take every thread.
    long_requests_per_tenant: int = Field(default=4, ge=1)
    long_requests_max: int = Field(default=16, ge=1)
    server_threads: int = Field(default=48, ge=4, le=1024)  # `make run`'s waitress threads

    # Google Cloud (ORCHESTRATOR_BACKEND=gcp).
    google_cloud_project: str | None = None
    region: str | None = None
    tasks_queue: str | None = None
    step_function_url: str | None = None
    reconcile_function_url: str | None = None
    tasks_invoker_sa: str | None = None

    @field_validator("admin_token")
    @classmethod
    def _long_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value()) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)")
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_key_entries(cls, value: SecretStr) -> SecretStr:
        for entry in _split_keys(value.get_secret_value()):
            tenant, sep, key = entry.partition(":")
            if sep and (not BOOTSTRAP_TENANT_ID.match(tenant) or not key):
                raise ValueError("each entry is `key` or `tenant_id:key` (tenant_id: letters, digits, _ or -)")
        return value

    @model_validator(mode="after")
    def _check_long_requests(self) -> Settings:
        local = self.orchestrator_backend == "local"  # on GCP the platform sets each instance's concurrency
        if local and self.long_requests_max + self.queue_workers >= self.server_threads:
            raise ValueError(
                "LONG_REQUESTS_MAX + QUEUE_WORKERS must stay below SERVER_THREADS, so short requests and "
                "the task dispatcher always find a free thread"
            )
        if self.scale_up_timeout_seconds > self.scale_up_timeout_max_seconds:
            raise ValueError("SCALE_UP_TIMEOUT_SECONDS must not exceed SCALE_UP_TIMEOUT_MAX_SECONDS")
        return self

    @model_validator(mode="after")
    def _check_backend(self) -> Settings:
        if self.install_id is not None and not INSTALL_ID_PATTERN.fullmatch(self.install_id):
            raise ValueError(f"INSTALL_ID must be {INSTALL_ID_RULE}")
        if self.orchestrator_backend == "gcp":
            missing = [
                name.upper()
                for name in (
                    "google_cloud_project",
                    "region",
                    "tasks_queue",
                    "step_function_url",
                    "tasks_invoker_sa",
                    "public_base_url",
                    "internal_secret",
                    "encryption_keys",
                )
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"ORCHESTRATOR_BACKEND=gcp needs {', '.join(missing)}")
            if self.install_id is None:
                # Stable without configuration: one install is one task queue of one project.
                seed = f"{self.google_cloud_project}/{self.region}/{self.tasks_queue}".encode()
                self.install_id = hashlib.sha256(seed).hexdigest()[:8]
        return self

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def local_base_url(self) -> str:
        """Where this process listens; the local queue calls the step function here."""
        return f"http://{self.host}:{self.port}"

    @property
    def private_webhooks_allowed(self) -> bool:
        if self.allow_private_webhooks is not None:
            return self.allow_private_webhooks
        return self.orchestrator_backend == "local"

    @property
    def sandbox_on(self) -> bool:
        return self.sandbox_enabled if self.sandbox_enabled is not None else self.orchestrator_backend == "local"

    @cached_property
    def api_key_entries(self) -> list[tuple[str | None, str]]:
        """API_KEYS as (explicit tenant id or None, key): `key` or `tenant_id:key`, comma-separated."""
        out: list[tuple[str | None, str]] = []
        for entry in _split_keys(self.api_keys.get_secret_value()):
            tenant, sep, key = entry.partition(":")
            out.append((tenant, key) if sep else (None, entry))
        return out

    @cached_property
    def api_key_list(self) -> list[str]:
        return [key for _, key in self.api_key_entries]

    @cached_property
    def webhook_retry_delays(self) -> list[float]:
        return [float(x) for x in self.webhook_retry_schedule.split(",") if x.strip()]

    @property
    def database_path(self) -> Path:
        return self.data_dir / "orchestrator.db"


def _split_keys(raw: str) -> list[str]:
    return [k.strip() for k in raw.split(",") if k.strip()]


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate settings; on the local backend, create missing secrets under DATA_DIR."""
    env = dict(os.environ if environ is None else environ)
    try:
        settings = Settings.model_validate(_lowercase(env))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    if settings.orchestrator_backend == "local":
        _fill_local_secrets(settings)
    return settings


def _lowercase(env: dict[str, str]) -> dict[str, str]:
    fields = set(Settings.model_fields)
    return {k.lower(): v for k, v in env.items() if k.lower() in fields}


def _fill_local_secrets(settings: Settings) -> None:
    """The embedded default keeps its generated secrets in DATA_DIR (mode 0600), stable across runs."""
    if settings.internal_secret and settings.encryption_keys and settings.install_id:
        return
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not settings.install_id:
        install_id = _read_or_create(settings.data_dir / "install_id", _new_install_id)
        if not INSTALL_ID_PATTERN.fullmatch(install_id):
            raise ConfigError(f"invalid configuration: {settings.data_dir / 'install_id'} must hold {INSTALL_ID_RULE}")
        settings.install_id = install_id
    if not settings.internal_secret:
        settings.internal_secret = SecretStr(
            _read_or_create(settings.data_dir / "internal_secret", lambda: secrets.token_urlsafe(32))
        )
    if not settings.encryption_keys:
        settings.encryption_keys = SecretStr(
            _read_or_create(
                settings.data_dir / "encryption_keys",
                lambda: "local1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            )
        )


def _new_install_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    """Atomic even when two processes start at once: write aside, then link into place."""
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
