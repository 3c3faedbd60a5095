"""deployment-orchestrator's Python SDK: deploy Hugging Face models to Runpod Serverless and call them.

from dorch import Client
with Client() as client:  # DORCH_URL, DORCH_API_KEY
    dep = client.deploy("stabilityai/sdxl-turbo", gpu="A40").wait()
    print(dep.endpoint_url)
"""

from dorch.async_client import AsyncClient, AsyncCredentials
from dorch.async_deployment import AsyncDeployment
from dorch.client import Client, Credentials
from dorch.deployment import Deployment
from dorch.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    DeploymentFailed,
    DorchError,
    NotFound,
    RateLimited,
    ServerError,
    TaskFailed,
    Unauthorized,
    ValidationFailed,
    WaitTimeout,
)
from dorch.types import (
    Credential,
    ErrorInfo,
    Health,
    Job,
    LogLine,
    Model,
    Progress,
    Task,
    UsageRow,
    WebhookDelivery,
)

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncCredentials",
    "AsyncDeployment",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Credential",
    "Credentials",
    "Deployment",
    "DeploymentFailed",
    "DorchError",
    "ErrorInfo",
    "Health",
    "Job",
    "LogLine",
    "Model",
    "NotFound",
    "Progress",
    "RateLimited",
    "ServerError",
    "Task",
    "TaskFailed",
    "Unauthorized",
    "UsageRow",
    "ValidationFailed",
    "WaitTimeout",
    "WebhookDelivery",
]
