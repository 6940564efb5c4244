"""``pykube kubectl explain`` prints what kubectl v1.32 prints from the server's OpenAPI v3
documents: kinds, fields at any depth (through lists), --recursive, other versions, and the errors."""

from __future__ import annotations

import pytest
from pykube_kubectl_helpers import same_output

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl

COMMANDS = [
    "pods",
    "pods.spec.containers",
    "pods.spec.containers.ports",
    "pods.metadata.labels",
    "deployments.spec.strategy.rollingUpdate.maxSurge",
    "svc.spec.ports.targetPort",
    "nodes.status",
    "crd.spec.versions.schema.openAPIV3Schema",
    "pods --recursive",
    "crd --recursive",
    "hpa --api-version=autoscaling/v1",
    "events --api-version=events.k8s.io/v1",
    "pods.spec.bogus",
    "pods.spec.containers.resources.limits.cpu",
    "bogus",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_explain_prints_as_kubectl(server: RunningServer, command: str) -> None:
    same_output(server, "explain", *command.split(" "))
