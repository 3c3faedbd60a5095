# The reconciler runs every few minutes, called by Cloud Scheduler with the tasks-invoker's OIDC token.

resource "google_cloud_scheduler_job" "reconcile" {
  name             = "${local.prefix}-reconcile"
  region           = var.region
  schedule         = var.reconcile_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "600s"

  retry_config {
    retry_count          = 1
    min_backoff_duration = "30s"
    max_backoff_duration = "120s"
  }

  http_target {
    http_method = "POST"
    uri         = local.common_env.RECONCILE_FUNCTION_URL
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.tasks_invoker.email
      audience              = local.function_origin["reconcile"]
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.internal]
}
