"""The domain of deployment-orchestrator: it knows nothing of Flask or of HTTP handlers."""
