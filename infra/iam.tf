# One service account per workload, each with only what it needs.
#   api           - runs the public functions: reads/writes Firestore, enqueues steps.
#   admin         - runs the admin function (tenants, API keys, models): Firestore and the admin token.
#   step          - runs run_step and reconcile: the same, plus the optional operator HF token.
#   tasks-invoker - the identity Cloud Tasks and Cloud Scheduler sign calls with; may invoke only
#                   the internal functions (run_step, reconcile).
#   build         - Cloud Build: builds the functions and applies this configuration.

resource "google_service_account" "workload" {
  for_each     = toset(["api", "step", "admin"])
  account_id   = "${local.prefix}-${each.key}"
  display_name = "deployment-orchestrator ${each.key} functions (${var.environment})"
}

resource "google_service_account" "tasks_invoker" {
  account_id   = "${local.prefix}-tasks"
  display_name = "deployment-orchestrator Cloud Tasks/Scheduler invoker (${var.environment})"
}

resource "google_service_account" "build" {
  account_id   = "${local.prefix}-build"
  display_name = "deployment-orchestrator Cloud Build deployer (${var.environment})"
}

# Firestore has no per-collection IAM: data access is project-wide.
resource "google_project_iam_member" "workload_datastore" {
  for_each = google_service_account.workload
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = each.value.member
}

# Creating a task with an OIDC token for the invoker account means acting as it.
resource "google_service_account_iam_member" "workload_acts_as_invoker" {
  for_each           = local.enqueuing_workloads
  service_account_id = google_service_account.tasks_invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.workload[each.key].member
}

resource "google_project_service_identity" "cloudtasks" {
  provider = google-beta
  project  = var.project_id
  service  = "cloudtasks.googleapis.com"
}

resource "google_service_account_iam_member" "cloudtasks_agent_acts_as_invoker" {
  service_account_id = google_service_account.tasks_invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_project_service_identity.cloudtasks.email}"
}

# The deployer: builds function images, pushes the inference image (images.tf) and applies this configuration.
resource "google_project_iam_member" "build" {
  #checkov:skip=CKV_GCP_49:The deployer creates and manages this configuration's own service accounts (iam.serviceAccountAdmin); that is what applying it means.
  for_each = toset([
    "roles/apigateway.admin",
    "roles/artifactregistry.admin",
    "roles/cloudfunctions.developer",
    "roles/cloudscheduler.admin",
    "roles/cloudtasks.queueAdmin",
    "roles/datastore.owner",
    "roles/iam.serviceAccountAdmin",
    "roles/logging.logWriter",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/servicemanagement.admin",
    "roles/serviceusage.serviceUsageConsumer",
    "roles/storage.admin",
  ])
  project = var.project_id
  role    = each.key
  member  = google_service_account.build.member
}

# Deploying a function (or a scheduler job) that runs as an account means acting as that account.
resource "google_service_account_iam_member" "build_acts_as" {
  for_each = merge(
    { for k, sa in google_service_account.workload : k => sa.name },
    { tasks_invoker = google_service_account.tasks_invoker.name, build = google_service_account.build.name },
  )
  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.build.member
}
