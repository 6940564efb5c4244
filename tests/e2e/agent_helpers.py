"""Shared pieces of the agent end-to-end tests: pod manifests, waiting, and Docker clean-up."""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubectl_helpers import Kubectl
from support import BUSYBOX_IMAGE, ensure_docker

from minikube_py.testing import RunningServer, remove_node_containers, start_server
from minikube_py.testing import eventually as wait_for

Obj = dict[str, Any]


def start_agent_server(
    data_dir: Path, node: str, *extra: str, port: int | None = None, cluster_cidr: str = "10.244.0.0/16"
) -> RunningServer:
    """``pykube server`` with its embedded agent on node IP 127.0.0.1, once the node is Ready. Servers
    that run at the same time on one Docker engine need distinct ``cluster_cidr``s (pod networks)."""
    running = start_server(
        data_dir,
        "--node-name",
        node,
        "--node-ip",
        "127.0.0.1",
        "--cluster-cidr",
        cluster_cidr,
        "--kubelet-port",
        "0",
        *extra,
        agent=True,
        port=port,
    )
    try:
        wait_for(lambda: node_ready(running, node), f"node {node} to be Ready with a pod CIDR", timeout=90)
    except BaseException:
        running.stop()  # a server left behind would go on managing this node's containers
        raise
    return running


@contextlib.contextmanager
def node_server(data_dir: Path, node: str, *extra: str, cluster_cidr: str = "10.244.0.0/16") -> Iterator[RunningServer]:
    """A server with its embedded Docker agent for one test module; the node's containers are removed
    before (an earlier run's) and after."""
    ensure_docker()
    remove_node_containers(node)
    running = start_agent_server(data_dir, node, *extra, cluster_cidr=cluster_cidr)
    try:
        yield running
    finally:
        running.stop()
        remove_node_containers(node)


def fresh_namespace(cluster: RunningServer, request: pytest.FixtureRequest, prefix: str) -> Iterator[Kubectl]:
    """A fresh namespace for one test, named after it, deleted without waiting afterwards."""
    name = (
        f"{prefix}-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-") + f"-{os.urandom(2).hex()}"
    )
    cluster.kubectl("create", "namespace", name)
    yield Kubectl(cluster, name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def cluster_fixtures(
    node: str, *flags: str, cluster_cidr: str, namespace_prefix: str
) -> tuple[Callable[..., Iterator[RunningServer]], Callable[..., Iterator[Kubectl]]]:
    """A test module's ``cluster`` (a server of its own with the Docker agent as ``node``, on
    ``cluster_cidr``, for the whole module) and ``k`` (a fresh namespace on it for each test), to be
    assigned to those names: ``cluster, k = cluster_fixtures(...)``."""

    @pytest.fixture(scope="module")
    def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
        with node_server(tmp_path_factory.mktemp(node) / "data", node, *flags, cluster_cidr=cluster_cidr) as running:
            yield running

    @pytest.fixture
    def k(cluster: RunningServer, request: pytest.FixtureRequest) -> Iterator[Kubectl]:
        yield from fresh_namespace(cluster, request, namespace_prefix)

    return cluster, k


def node_ready(server: RunningServer, name: str) -> bool:
    status, node = server.request("GET", f"/api/v1/nodes/{name}")
    if status != 200 or not node["spec"].get("podCIDR"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def busybox_pod(name: str, script: str, **spec: Any) -> Obj:
    container: Obj = {"name": "main", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", script]}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [container], **spec},
    }


def sleeper_rc(name: str, replicas: int) -> Obj:
    """A ReplicationController of busybox pods that sleep, labelled app=<name>."""
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"app": name},
            "template": {"metadata": {"labels": {"app": name}}, "spec": busybox_pod("x", "exec sleep 3600")["spec"]},
        },
    }


def running_pods(k: Kubectl, app: str) -> list[Obj]:
    pods = json.loads(k.out("get", "pods", "-l", f"app={app}", "-o", "json"))["items"]
    return [p for p in pods if p["status"].get("phase") == "Running"]


def create(k: Kubectl, *objs: Obj) -> None:
    k.run("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))


def pod_obj(k: Kubectl, name: str) -> Obj:
    return json.loads(k.out("get", "pod", name, "-o", "json"))


def wait_running(k: Kubectl, name: str, timeout: float = 60) -> Obj:
    def running() -> Obj | None:
        pod = pod_obj(k, name)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
        return pod if pod["status"].get("phase") == "Running" and ready else None

    return wait_for(running, f"pod {name} to be Running and Ready", timeout=timeout)


def container_status(k: Kubectl, name: str) -> Obj:
    statuses = pod_obj(k, name)["status"].get("containerStatuses") or [{}]
    return statuses[0]


def waiting_reason(k: Kubectl, name: str) -> str:
    return ((container_status(k, name).get("state") or {}).get("waiting") or {}).get("reason", "")


def events_of(k: Kubectl, name: str) -> str:
    return k.out(
        "get",
        "events",
        "--field-selector",
        f"involvedObject.name={name}",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message",
        "--no-headers",
    )


HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def try_get(url: str) -> str | None:
    try:
        return http_get(url)
    except OSError:
        return None
