# The inference image (worker/): built and pushed by cloudbuild.yaml's worker-image step, tagged by
# scripts/worker_image_tag.py (a hash of worker/). The functions get it by digest (RUNPOD_WORKER_IMAGE
# in locals.tf), so what Runpod pulls is exactly what that build pushed.

resource "google_artifact_registry_repository" "worker" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption: the image is public by design (see infra/README.md), so a customer-managed key would protect nothing secret.
  location      = var.region
  repository_id = "${local.prefix}-worker"
  description   = "deployment-orchestrator inference image (worker/), pulled by Runpod"
  format        = "DOCKER"

  docker_config {
    immutable_tags = true
  }

  # Tags are content hashes: old ones are only needed for rollbacks, so keep the recent ten.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  labels = {
    app         = "deployment-orchestrator"
    environment = var.environment
  }
}

# Runpod pulls the image anonymously. It holds only the open-source worker code and its pinned
# dependencies (no secret, key or model weights: those reach a worker through the endpoint's
# environment), so public read access exposes nothing worth protecting. See infra/README.md.
resource "google_artifact_registry_repository_iam_member" "public_read" {
  #checkov:skip=CKV_GCP_101:Public by design: Runpod's workers pull the image anonymously and it holds no secret (infra/README.md).
  project    = var.project_id
  location   = google_artifact_registry_repository.worker.location
  repository = google_artifact_registry_repository.worker.name
  role       = "roles/artifactregistry.reader"
  member     = "allUsers"
}
