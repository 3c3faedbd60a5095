output "api_url" {
  description = "The public API: every public route of the seed, behind one host."
  value       = "https://${google_api_gateway_gateway.api.default_hostname}"
}

output "function_urls" {
  description = "Each function's own URL (the internal ones answer only the tasks-invoker account)."
  value       = local.function_origin
}

output "step_function_url" {
  value = local.common_env.STEP_FUNCTION_URL
}

output "tasks_queue" {
  value = google_cloud_tasks_queue.steps.id
}

output "service_accounts" {
  value = merge(
    { for k, sa in google_service_account.workload : k => sa.email },
    { tasks_invoker = google_service_account.tasks_invoker.email, build = google_service_account.build.email },
  )
}

output "secrets" {
  description = "Secret Manager secrets to fill with `gcloud secrets versions add` (see README.md)."
  value       = { for k, s in google_secret_manager_secret.secret : k => s.secret_id }
}

output "install_id" {
  description = "This install's identity: its Runpod endpoints are named `<endpoint_name_prefix><install_id>-<deployment id>`."
  value       = local.install_id
}

output "worker_image" {
  description = "The inference image the functions give Runpod (RUNPOD_WORKER_IMAGE), by digest."
  value       = local.worker_image
}
