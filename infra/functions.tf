# One Cloud Function (2nd gen) per entry point in main.py, all from the same source zip.
# To deploy a new entry point, add it to local.functions (locals.tf); tests/test_infra.py fails until you do.

resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124:API Gateway and Runpod workers call from the internet; Cloud Tasks and Cloud Scheduler reach run_step/reconcile as internal only inside a VPC-SC perimeter, so those rely on IAM (tasks-invoker only) plus the OIDC check in code.
  for_each    = local.functions
  name        = "${local.prefix}-${local.function_names[each.key]}"
  location    = var.region
  description = "deployment-orchestrator ${each.key} (${var.environment})"

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    min_instance_count               = lookup(var.min_instances, each.key, 0)
    max_instance_count               = each.value.max
    max_instance_request_concurrency = each.value.concurrency
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.workload[each.value.workload].email
    environment_variables            = local.common_env

    dynamic "secret_environment_variables" {
      for_each = { for name, s in local.enabled_secrets : name => s if contains(s.workloads, each.value.workload) }
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.secret[secret_environment_variables.key].secret_id
        version    = var.secret_versions[secret_environment_variables.key]
      }
    }
  }

  labels = {
    app         = "deployment-orchestrator"
    environment = var.environment
  }

  depends_on = [google_secret_manager_secret_iam_member.accessor]
}

# Public functions: the API authenticates callers itself (API keys; the worker callback checks its
# per-deployment secret), and the gateway forwards their Authorization header untouched.
resource "google_cloud_run_v2_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:Public by design: the API checks API keys and per-deployment secrets in code; Runpod workers must reach the callback.
  for_each = { for k, f in local.functions : k => f if f.invoker == "public" }
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Internal functions: only the tasks-invoker account (Cloud Tasks, Cloud Scheduler) may call them.
resource "google_cloud_run_v2_service_iam_member" "internal" {
  for_each = { for k, f in local.functions : k => f if f.invoker == "tasks" }
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.tasks_invoker.member
}
