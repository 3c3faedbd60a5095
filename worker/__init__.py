"""The inference container: a Runpod Serverless worker for diffusers and transformers models.

On start it downloads the model, reports `downloading_model` (with progress), `loading_model`, then
`ready` or `failed` to the orchestrator, and serves jobs through the Runpod handler SDK.

Heavy libraries (torch, diffusers, transformers, huggingface_hub, runpod) are imported only where they
are used, so every module here imports in the control plane's light environment too.
"""
