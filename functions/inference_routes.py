"""Routes of the inference proxy (issue: the inference container and the inference proxy)."""

from __future__ import annotations

from functions.routing import Route

_JOB_ERRORS = {404: None, 409: None, 502: None, 504: None}
# Seconds to wait for a worker of a scaled-to-zero deployment (the answer's X-Scale-Up-Wait says how long it did).
_SCALE_UP = {
    "X-Scale-Up-Timeout": {
        "type": "number",
        "minimum": 0,
        "maximum": 3600,
        "description": "seconds to wait for a worker (default SCALE_UP_TIMEOUT_SECONDS)",
    }
}
_WAITING_ERRORS = {**_JOB_ERRORS, 503: None}

INFERENCE_ROUTES: list[Route] = [
    Route("POST", "/v1/deployments/{deployment_id}/run", "inference", "inference:run_job",
          "Queue a job on the deployment's Runpod endpoint", request="inference:RunRequest",
          responses={200: "inference:JobResponse", **_JOB_ERRORS}, tag="inference"),
    Route("POST", "/v1/deployments/{deployment_id}/runsync", "inference", "inference:run_job_sync",
          "Run a job and wait for its result (query `wait`: milliseconds, at most 120000)",
          request="inference:RunRequest",
          responses={200: "inference:JobResponse", **_WAITING_ERRORS}, tag="inference",
          query={"wait": {"type": "integer", "minimum": 1000, "maximum": 120000}}, headers=_SCALE_UP),
    Route("GET", "/v1/deployments/{deployment_id}/jobs/{job_id}", "inference", "inference:job_status",
          "A job's status and output",
          responses={200: "inference:JobResponse", **_JOB_ERRORS}, tag="inference"),
    Route("POST", "/v1/deployments/{deployment_id}/jobs/{job_id}/cancel", "inference", "inference:cancel_job",
          "Cancel a queued or running job", responses={200: "inference:JobResponse", **_JOB_ERRORS},
          tag="inference"),
    # Runpod's runtime paths, so the official `runpod` SDK works with endpoint_url_base = <host>/v1/deployments
    # (run, runsync and health above serve it as they are).
    Route("GET", "/v1/deployments/{deployment_id}/status/{job_id}", "inference", "inference:runpod_status",
          "A job's status and output (Runpod's path; the same as jobs/{job_id})",
          responses={200: "inference:JobResponse", **_JOB_ERRORS}, tag="inference"),
    Route("GET", "/v1/deployments/{deployment_id}/stream/{job_id}", "inference", "inference:job_stream",
          "A job's status and the output chunks produced since the last call (`stream`: always a list)",
          responses={200: "inference:JobStream", **_JOB_ERRORS}, tag="inference"),
    Route("POST", "/v1/deployments/{deployment_id}/cancel/{job_id}", "inference", "inference:runpod_cancel",
          "Cancel a queued or running job (Runpod's path; the same as jobs/{job_id}/cancel)",
          responses={200: "inference:JobResponse", **_JOB_ERRORS}, tag="inference"),
    Route("POST", "/v1/deployments/{deployment_id}/purge-queue", "inference", "inference:purge_queue",
          "Remove the deployment's queued jobs (running ones go on)",
          responses={200: "inference:PurgeQueueResponse", **_JOB_ERRORS}, tag="inference"),
    Route("POST", "/v1/chat/completions", "inference", "inference:chat_completions",
          "OpenAI-compatible chat completions, routed by `model` to your ready deployment (SSE when `stream`)",
          request="inference:OpenAIRequest", responses={200: None, **_WAITING_ERRORS}, tag="openai",
          headers=_SCALE_UP),
    Route("POST", "/v1/completions", "inference", "inference:completions",
          "OpenAI-compatible completions, routed by `model` to your ready deployment (SSE when `stream`)",
          request="inference:OpenAIRequest", responses={200: None, **_WAITING_ERRORS}, tag="openai",
          headers=_SCALE_UP),
    Route("POST", "/v1/embeddings", "inference", "inference:embeddings",
          "OpenAI-compatible embeddings, routed by `model` to your ready deployment of an embedding model",
          request="inference:EmbeddingRequest", responses={200: "inference:EmbeddingList", **_WAITING_ERRORS},
          tag="openai", headers=_SCALE_UP),
    Route("GET", "/v1/models", "inference", "inference:list_models", "Models you can call: your ready deployments",
          responses={200: "inference:ModelList"}, tag="openai"),
]  # fmt: skip
