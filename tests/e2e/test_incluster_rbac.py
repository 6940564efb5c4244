"""A pod using the official Python client's in-cluster configuration (``load_incluster_config``:
the ``KUBERNETES_SERVICE_HOST``/``PORT`` variables and the projected token, CA and namespace under
/var/run/secrets/kubernetes.io/serviceaccount/) is refused until a RoleBinding grants its
ServiceAccount what it asks, then served, through the ``kubernetes`` Service's ClusterIP.

The pod runs on the server's embedded agent on this host. Its Python is this test run's own
interpreter and venv (where the ``kubernetes`` package is), mounted read-only from the host with the
host's libraries, so no image with Python needs building or pulling. The cluster has service and pod
ranges of its own, so its kernel proxy rules cannot meet another cluster's on this host.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import create, fresh_namespace, node_server, wait_for
from kubectl_helpers import Kubectl
from support import BUSYBOX_IMAGE

from minikube_py.testing import RunningServer

NODE = "pykube-e2e-rbac-incluster"

CLIENT = """
import json
from kubernetes import client, config
config.load_incluster_config()
namespace = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
try:
    pods = client.CoreV1Api().list_namespaced_pod(namespace)
    print(json.dumps({"listed": sorted(p.metadata.name for p in pods.items)}))
except client.exceptions.ApiException as error:
    print(json.dumps({"status": error.status, "message": json.loads(error.body)["message"]}))
"""


def host_address() -> str:
    """This host's address on its default route: reachable from the pods (through their bridge) as
    the API server's advertised address, which the ``kubernetes`` Service's endpoints carry. The
    loopback address the other suites advertise would be each pod's own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # UDP: picks the route, sends nothing
        address: str = probe.getsockname()[0]
    assert not address.startswith("127."), "the host needs a non-loopback address for pods to reach the API"
    return address


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with node_server(
        tmp_path_factory.mktemp("incluster") / "data",
        NODE,
        "--service-cidr",
        "10.199.0.0/16",
        "--bind-address",
        "0.0.0.0",
        "--advertise-address",
        host_address(),
        cluster_cidr="10.246.0.0/16",
    ) as running:
        yield running


@pytest.fixture
def k(cluster: RunningServer, request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    yield from fresh_namespace(cluster, request, "r")


def _host_path(name: str, path: str) -> tuple[dict[str, object], dict[str, object]]:
    return (
        {"name": name, "hostPath": {"path": path, "type": "Directory"}},
        {"name": name, "mountPath": path, "readOnly": True},
    )


def python_pod(name: str, service_account: str) -> dict[str, object]:
    """A busybox pod that runs :data:`CLIENT` with this host's Python and venv, mounted read-only."""
    interpreter = Path(os.path.realpath(sys.executable))
    prefix = Path(sys.base_prefix)
    site = sysconfig.get_paths()["purelib"]
    mounts = [_host_path("lib", "/usr/lib"), _host_path("python", str(prefix)), _host_path("venv", site)]
    lib64 = os.path.realpath("/lib64")
    volumes = [v for v, _ in mounts] + [{"name": "lib64", "hostPath": {"path": lib64, "type": "Directory"}}]
    volume_mounts = [m for _, m in mounts] + [
        {"name": "lib", "mountPath": "/lib", "readOnly": True},
        {"name": "lib64", "mountPath": "/lib64", "readOnly": True},
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": service_account,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "volumes": volumes,
            "containers": [
                {
                    "name": "client",
                    "image": BUSYBOX_IMAGE,
                    "command": [str(interpreter), "-c", CLIENT],
                    "env": [{"name": "PYTHONPATH", "value": site}, {"name": "HOME", "value": "/tmp"}],
                    "volumeMounts": volume_mounts,
                }
            ],
        },
    }


def run_client(k: Kubectl, name: str, service_account: str) -> dict[str, object]:
    create(k, python_pod(name, service_account))

    def finished() -> str | None:
        phase = k.obj("pod", name)["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(finished, f"pod {name} to finish", timeout=120)
    output = k.out("logs", name)
    assert phase == "Succeeded", output
    result: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    return result


def test_a_pods_service_account_lists_pods_once_a_role_binding_allows_it(k: Kubectl) -> None:
    k.run("create", "serviceaccount", "reader")
    before = run_client(k, "before", "reader")
    assert before == {
        "status": 403,
        "message": (
            f'pods is forbidden: User "system:serviceaccount:{k.namespace}:reader" cannot list resource "pods" in API '
            f'group "" in the namespace "{k.namespace}"'
        ),
    }

    k.run("create", "role", "pod-reader", "--verb=list", "--resource=pods")
    k.run("create", "rolebinding", "reader-lists-pods", "--role=pod-reader", f"--serviceaccount={k.namespace}:reader")
    after = run_client(k, "after", "reader")
    assert after == {"listed": ["after", "before"]}

    # the token in the volume is bound to its pod and expires: a TokenRequest shape, not a secret
    pod = k.obj("pod", "after")
    volume = next(v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-"))
    assert volume["projected"]["sources"][0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
