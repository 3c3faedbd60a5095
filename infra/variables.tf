variable "project_id" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions, the task queue and the source bucket."
  type        = string
  default     = "us-central1"
}

variable "gateway_region" {
  description = "Region of the API Gateway (it runs in fewer regions than Cloud Functions)."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Location of the Firestore database (a region such as us-central1, or nam5)."
  type        = string
  default     = "us-central1"
}

variable "environment" {
  description = "Environment name (dev, staging, prod); part of every resource name."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment: 2-10 lower-case letters and digits, starting with a letter."
  }
}

variable "name" {
  description = "Short name prefix of every resource."
  type        = string
  default     = "orch"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,9}$", var.name))
    error_message = "name: 2-10 lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "source_zip" {
  description = "The functions' source bundle, built by `make source-zip`."
  type        = string
  default     = "../build/function-source.zip"
}

variable "worker_image_digest" {
  description = "Digest (sha256:...) of the inference image cloudbuild.yaml's worker-image step pushed; see infra/README.md to build it by hand."
  type        = string

  validation {
    condition     = can(regex("^sha256:[0-9a-f]{64}$", var.worker_image_digest))
    error_message = "worker_image_digest: the pushed image's digest, sha256:<64 hex digits>."
  }
}

variable "secret_versions" {
  description = "Pinned Secret Manager version of each secret (bump after `gcloud secrets versions add`)."
  type        = map(string)
  default = {
    API_KEYS                = "1"
    ADMIN_TOKEN             = "1"
    INTERNAL_SECRET         = "1"
    ENCRYPTION_KEYS         = "1"
    HF_TOKEN                = "1"
    OPERATOR_RUNPOD_API_KEY = "1"
  }

  validation {
    condition     = alltrue([for v in values(var.secret_versions) : can(regex("^[0-9]+$", v))])
    error_message = "secret_versions: pin numbered versions, never \"latest\"."
  }
}

variable "hf_token_enabled" {
  description = "Give the step function an operator Hugging Face token (secret hf-token) for gated models."
  type        = bool
  default     = false
}

variable "operator_runpod_key_enabled" {
  description = "Give the admin function the operator's Runpod key (secret operator-runpod-api-key) for node launches."
  type        = bool
  default     = false
}

variable "min_instances" {
  description = "Warm instances per function (entry point name => count); 0 scales to zero at rest."
  type        = map(number)
  default     = {}
}

variable "rate_limit_per_minute" {
  description = "API requests per minute per API key."
  type        = number
  default     = 100
}

variable "tiers" {
  description = "What each tenant tier may do: the JSON of shared/accounts/data/tiers.json's shape. Empty: that shipped table (seed 004's)."
  type        = string
  default     = ""
}

variable "metrics_public" {
  description = "Serve GET /metrics without the admin token (for a Prometheus scraper)."
  type        = bool
  default     = false
}

variable "endpoint_name_prefix" {
  description = "Prefix of the Runpod endpoints this deployment creates (the reconciler owns endpoints with it)."
  type        = string
  default     = "do-"
}

variable "install_id" {
  description = "This install's identity, carried by every Runpod endpoint it creates; the reconciler only deletes endpoints marked with it. Empty: derived from the project and resource prefix. Never change it once endpoints exist."
  type        = string
  default     = ""

  validation {
    condition     = var.install_id == "" || can(regex("^[a-z0-9]{4,16}$", var.install_id))
    error_message = "install_id: 4 to 16 lower-case letters and digits (or empty to derive it)."
  }
}

variable "trusted_proxy_hops" {
  description = "X-Forwarded-For entries, from the right, appended by proxies you trust. Google's front end appends the caller's address, so 1 counts failed authentications per real client (0 would count every caller as the front end's one address)."
  type        = number
  default     = 1
  validation {
    condition     = var.trusted_proxy_hops >= 0 && var.trusted_proxy_hops <= 10
    error_message = "trusted_proxy_hops: 0 to 10."
  }
}

variable "reconcile_dry_run" {
  description = "The reconciler reports the leftover endpoints it would delete (stats and logs) and deletes none."
  type        = bool
  default     = false
}

variable "sandbox_enabled" {
  description = "Accept sandbox deployments (Runpod key `sandbox`): the real product against a simulated Runpod, free, never reaching Runpod. Off by default in production."
  type        = bool
  default     = false
}

variable "reconcile_schedule" {
  description = "Cloud Scheduler cron for the reconciler."
  type        = string
  default     = "*/5 * * * *"
}
