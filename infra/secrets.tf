# Secret containers and who may read each one. Values never pass through Terraform (so they are not
# in its state): add them with `gcloud secrets versions add` and pin the version in var.secret_versions.

resource "google_secret_manager_secret" "secret" {
  for_each  = local.enabled_secrets
  secret_id = "${local.prefix}-${each.value.secret_id}"

  replication {
    auto {}
  }

  labels = {
    app         = "deployment-orchestrator"
    environment = var.environment
  }
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = merge([
    for name, s in local.enabled_secrets : {
      for w in s.workloads : "${name}/${w}" => { secret = name, workload = w }
    }
  ]...)
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.workload[each.value.workload].member
}
