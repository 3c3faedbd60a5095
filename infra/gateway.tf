# One public host for the API: API Gateway, routing each path to its function. Chosen over an HTTPS
# load balancer because it costs nothing at rest (a load balancer's forwarding rule bills by the hour)
# and needs no domain or certificate; see README.md. The OpenAPI document is generated from the
# route table (scripts/gateway_spec.py), so the gateway serves exactly the code's public routes.

resource "google_api_gateway_api" "api" {
  provider     = google-beta
  api_id       = "${local.prefix}-api"
  display_name = "deployment-orchestrator (${var.environment})"
}

resource "google_api_gateway_api_config" "api" {
  provider             = google-beta
  api                  = google_api_gateway_api.api.api_id
  api_config_id_prefix = "${local.prefix}-"

  openapi_documents {
    document {
      path = "openapi.yaml"
      contents = base64encode(templatefile("${path.module}/gateway/openapi.yaml.tftpl", {
        title    = "deployment-orchestrator-${var.environment}"
        backends = local.function_origin
        timeouts = { for k, f in local.functions : k => f.timeout }
      }))
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_api_gateway_gateway" "api" {
  provider     = google-beta
  region       = var.gateway_region
  gateway_id   = "${local.prefix}-gw"
  api_config   = google_api_gateway_api_config.api.id
  display_name = "deployment-orchestrator (${var.environment})"
}
