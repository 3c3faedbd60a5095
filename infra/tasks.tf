# The step queue. Delivery is at least once; 2xx ends a task, 503 + Retry-After retries it.

resource "google_cloud_tasks_queue" "steps" {
  name     = "${local.prefix}-steps"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 50
    max_concurrent_dispatches = 100
  }

  # Every field explicit. A step that keeps answering 503 is also bounded by the deployment's own
  # deadline (DEPLOY_TIMEOUT_SECONDS, 1 h): two hours of retries outlive it.
  retry_config {
    max_attempts       = 100
    max_retry_duration = "7200s"
    min_backoff        = "1s"
    max_backoff        = "300s"
    max_doublings      = 5
  }

  stackdriver_logging_config {
    sampling_ratio = 0.1
  }
}

# Only the functions that enqueue, and only on this queue.
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.enqueuing_workloads
  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.steps.name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.workload[each.key].member
}

check "queue_fits_the_step_function" {
  assert {
    condition = (
      google_cloud_tasks_queue.steps.rate_limits[0].max_concurrent_dispatches
      <= local.functions["run_step"].max * local.functions["run_step"].concurrency
    )
    error_message = "max_concurrent_dispatches exceeds what run_step can serve (max instances x concurrency)."
  }
}
