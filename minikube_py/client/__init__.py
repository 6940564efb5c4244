"""Async Kubernetes API client: kubeconfig loading, REST verbs with typed errors, and watches.

Used by the agent and the CLI, against pykube or any Kubernetes API server.
"""

from minikube_py.client.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
    UnauthorizedError,
)
from minikube_py.client.kubeconfig import ClientConfig, KubeconfigError, load_kubeconfig, write_kubeconfig
from minikube_py.client.rest import ApiClient, resource_path
from minikube_py.client.watching import Listing, WatchEvent, list_and_watch, stream_watch, watch_forever

__all__ = [
    "AlreadyExistsError",
    "ApiClient",
    "ApiError",
    "ClientConfig",
    "ConflictError",
    "ForbiddenError",
    "GoneError",
    "InvalidError",
    "KubeconfigError",
    "Listing",
    "NotFoundError",
    "UnauthorizedError",
    "WatchEvent",
    "list_and_watch",
    "load_kubeconfig",
    "resource_path",
    "stream_watch",
    "watch_forever",
    "write_kubeconfig",
]
