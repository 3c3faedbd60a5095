# The one place that says what is deployed. tests/test_infra.py checks it against the code:
# every entry point in main.py, every setting, every secret and every Firestore index.

locals {
  prefix = "${var.name}-${var.environment}"

  # Stable per install (project + prefix) unless given: staging and prod sharing a Runpod account differ.
  install_id = var.install_id != "" ? var.install_id : substr(sha256("${var.project_id}/${local.prefix}"), 0, 8)

  # main.py entry points that are not deployed, and why.
  local_only_entry_points = {
    api = "serves every route in one process for `make run`; in the cloud the gateway routes each path to its own function"
  }

  # One Cloud Function per entry point (key = the entry point in main.py; the function is its kebab-case).
  # workload: the service account it runs as. invoker: who may call it (public = through the gateway and
  # directly, e.g. Runpod workers; tasks = only the tasks-invoker account, by Cloud Tasks or Cloud Scheduler).
  # Concurrency above 1 needs a whole CPU.
  functions = {
    health = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 10, max = 5, concurrency = 80
    }
    create_deployment = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 30, max = 20, concurrency = 40
    }
    list_deployments = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 15, max = 20, concurrency = 80
    }
    get_deployment = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 15, max = 20, concurrency = 80
    }
    # Server-sent events: a stream lasts up to the timeout; clients reconnect with Last-Event-ID.
    stream_logs = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 600, max = 20, concurrency = 80
    }
    manage_deployment = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 30, max = 10, concurrency = 40
    }
    delete_deployment = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 30, max = 10, concurrency = 40
    }
    account = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 30, max = 10, concurrency = 40
    }
    admin = {
      workload = "admin", invoker = "public", memory = "512Mi", cpu = "1", timeout = 30, max = 2, concurrency = 10
    }
    deployment_ready = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 30, max = 10, concurrency = 40
    }
    inference = {
      workload = "api", invoker = "public", memory = "512Mi", cpu = "1", timeout = 300, max = 20, concurrency = 80
    }
    run_step = {
      workload = "step", invoker = "tasks", memory = "1Gi", cpu = "1", timeout = 180, max = 20, concurrency = 10
    }
    reconcile = {
      workload = "step", invoker = "tasks", memory = "1Gi", cpu = "1", timeout = 540, max = 1, concurrency = 1
    }
  }

  # Cloud Run gives every service a deterministic URL, so functions can know each other's URLs
  # (and the gateway its backends) without a dependency cycle.
  function_names  = { for k, f in local.functions : k => replace(k, "_", "-") }
  function_origin = { for k, n in local.function_names : k => "https://${n}-${data.google_project.this.number}.${var.region}.run.app" }

  # The inference image, by the digest cloudbuild.yaml's worker-image step pushed (images.tf).
  worker_image = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.worker.repository_id}/worker@${var.worker_image_digest}"

  # Cloud Tasks' dispatch deadline for a step; the run_step timeout above leaves room past it.
  step_dispatch_deadline_seconds = 120

  # Settings (shared/platform/settings.py) every function gets. Secrets come separately, below.
  common_env = {
    ORCHESTRATOR_BACKEND            = "gcp"
    GOOGLE_CLOUD_PROJECT            = var.project_id
    REGION                          = var.region
    TASKS_QUEUE                     = google_cloud_tasks_queue.steps.name
    STEP_FUNCTION_URL               = "${local.function_origin["run_step"]}/internal/steps"
    RECONCILE_FUNCTION_URL          = "${local.function_origin["reconcile"]}/internal/reconcile"
    TASKS_INVOKER_SA                = google_service_account.tasks_invoker.email
    PUBLIC_BASE_URL                 = "https://${google_api_gateway_gateway.api.default_hostname}"
    ENDPOINT_NAME_PREFIX            = var.endpoint_name_prefix
    INSTALL_ID                      = local.install_id
    RECONCILE_DRY_RUN               = tostring(var.reconcile_dry_run)
    SANDBOX_ENABLED                 = tostring(var.sandbox_enabled)
    TRUSTED_PROXY_HOPS              = tostring(var.trusted_proxy_hops)
    ALLOW_PRIVATE_WEBHOOKS          = "false"
    RATE_LIMIT_PER_MINUTE           = tostring(var.rate_limit_per_minute)
    TIERS                           = var.tiers
    METRICS_PUBLIC                  = tostring(var.metrics_public)
    QUEUE_DISPATCH_DEADLINE_SECONDS = tostring(local.step_dispatch_deadline_seconds)
    RUNPOD_WORKER_IMAGE             = local.worker_image
  }

  # Secret Manager secrets, by the setting they fill, and the workloads allowed to read them.
  secrets = {
    API_KEYS        = { secret_id = "api-keys", workloads = ["api"], optional = false }
    ADMIN_TOKEN     = { secret_id = "admin-token", workloads = ["admin"], optional = false }
    INTERNAL_SECRET = { secret_id = "internal-secret", workloads = ["api", "step", "admin"], optional = false }
    ENCRYPTION_KEYS = { secret_id = "encryption-keys", workloads = ["api", "step", "admin"], optional = false }
    HF_TOKEN        = { secret_id = "hf-token", workloads = ["step"], optional = true }
    # The operator's Runpod key for admin node launches (the admin function copies it, encrypted, into the node).
    OPERATOR_RUNPOD_API_KEY = { secret_id = "operator-runpod-api-key", workloads = ["admin"], optional = true }
  }
  enabled_secrets = {
    for k, s in local.secrets : k => s
    if !s.optional || (k == "HF_TOKEN" && var.hf_token_enabled) || (k == "OPERATOR_RUNPOD_API_KEY" && var.operator_runpod_key_enabled)
  }

  # Workloads that enqueue tasks (and so attach the invoker's OIDC token); admin does not.
  enqueuing_workloads = toset(["api", "step"])

  # Every composite index a query needs: the same list as COMPOSITE_INDEXES in shared/store/firestore.py.
  composite_indexes = [
    { collection = "deployments", fields = [["owner", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["owner", "ASCENDING"], ["status", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["owner", "ASCENDING"], ["model_id", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["owner", "ASCENDING"], ["status", "ASCENDING"], ["model_id", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["status", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["model_id", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["gpu_allocated", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["owner", "ASCENDING"], ["gpu_allocated", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["status", "ASCENDING"], ["model_id", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["status", "ASCENDING"], ["gpu_allocated", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["model_id", "ASCENDING"], ["gpu_allocated", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["owner", "ASCENDING"], ["status", "ASCENDING"], ["gpu_allocated", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["owner", "ASCENDING"], ["model_id", "ASCENDING"], ["gpu_allocated", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["status", "ASCENDING"], ["model_id", "ASCENDING"], ["gpu_allocated", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "deployments", fields = [["owner", "ASCENDING"], ["status", "ASCENDING"], ["model_id", "ASCENDING"], ["gpu_allocated", "ASCENDING"], ["created_at", "DESCENDING"], ["__name__", "DESCENDING"]] },
    { collection = "eta_samples", fields = [["key", "ASCENDING"], ["at", "DESCENDING"], ["__name__", "DESCENDING"]] },
  ]

  # TTL policies (collection group => Timestamp field); logs are their own collection group, since
  # deleting a deployment does not delete its logs subcollection.
  ttl_fields = {
    logs             = "expire_at"
    rate_limits      = "expire_at"
    orphan_sightings = "expire_at"
    # idempotency.once: a key is kept 24 h (RETENTION_SECONDS)
    idempotency_keys = "expire_at"
  }

  # Long or opaque fields no query filters on: not indexed (cheaper writes, no 1500-byte index limit).
  unindexed_fields = {
    deployments        = ["runpod_key", "model_facts", "steps", "worker", "worker_message", "error"]
    logs               = ["message"]
    webhook_deliveries = ["payload", "last_error"]
  }
}
