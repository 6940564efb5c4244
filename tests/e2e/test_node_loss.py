"""Losing a node for real: three nodes (the server's and two network-namespace agents with their own
dockerd), one of which loses its agent, its Docker engine and its link at once, then comes back; and a
Docker engine restarted under a running agent. Driven by the real kubectl; the node lifecycle runs with
short periods (16 s grace, 5 s eviction) so the test takes about a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import HTTPD, busybox_pod, create, wait_for
from kubectl_helpers import Kubectl
from support import NetnsCluster, netns_cluster, netns_node

from minikube_py.testing import node_is_ready

SERVER_NODE = "pykube-loss-server"
SURVIVOR, VICTIM = "pykube-loss-node1", "pykube-loss-node2"
NODES = {SURVIVOR: (1, "kernel"), VICTIM: (2, "kernel")}
REPLICAS = 6

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsCluster]:
    with netns_cluster(
        tmp_path_factory.mktemp("loss"),
        SERVER_NODE,
        NODES,
        cluster_cidr="10.249.0.0/16",
        server_flags=("--node-monitor-grace-period", "16", "--pod-eviction-timeout", "5"),
    ) as c:
        yield c


@pytest.fixture
def k(cluster: NetnsCluster) -> Iterator[Kubectl]:
    name = f"loss-{os.urandom(3).hex()}"
    cluster.server.kubectl("create", "namespace", name)
    yield Kubectl(cluster.server, name)
    cluster.server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def web(k: Kubectl) -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": busybox_pod("x", HTTPD)["spec"]}
    create(
        k,
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {"name": "web"},
            "spec": {"replicas": REPLICAS, "selector": {"app": "web"}, "template": template},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )


def pods(k: Kubectl) -> list[Obj]:
    return list(json.loads(k.out("get", "pods", "-l", "app=web", "-o", "json"))["items"])


def serving(k: Kubectl) -> list[Obj]:
    """Running, ready, not terminating."""
    return [
        p
        for p in pods(k)
        if p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]


def endpoint_ips(k: Kubectl) -> set[str]:
    endpoints = json.loads(k.out("get", "endpoints", "web", "-o", "json"))
    return {a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []}


def node_ready_status(cluster: NetnsCluster, name: str) -> str:
    _, node = cluster.server.request("GET", f"/api/v1/nodes/{name}")
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


def docker_pid(cluster: NetnsCluster, node: str) -> int:
    return int(Path(f"/run/pykube-node{cluster.indexes[node]}/dockerd.pid").read_text())


def containers(cluster: NetnsCluster, node: str) -> set[str]:
    """Pod UIDs of the app containers running on a node's engine."""
    sock = f"unix:///run/pykube-node{cluster.indexes[node]}/docker.sock"
    out = subprocess.run(
        [
            "docker",
            "-H",
            sock,
            "ps",
            "--filter",
            "label=io.pykube.container.kind=app",
            "--format",
            '{{.Label "io.pykube.pod.uid"}}',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_a_lost_node_is_replaced_and_cleans_up_when_it_returns(cluster: NetnsCluster, k: Kubectl) -> None:
    web(k)
    on_victim = wait_for(
        lambda: [p for p in serving(k) if p["spec"]["nodeName"] == VICTIM] if len(serving(k)) == REPLICAS else None,
        "all replicas, some on the victim",
        timeout=120,
    )
    ip = json.loads(k.out("get", "service", "web", "-o", "json"))["spec"]["clusterIP"]
    lost = {p["status"]["podIP"] for p in on_victim}

    # the node dies all at once: agent, engine, link
    cluster.stop_agent(VICTIM, kill=True)
    os.kill(docker_pid(cluster, VICTIM), signal.SIGKILL)
    subprocess.run(["ip", "link", "set", f"pkv{cluster.indexes[VICTIM]}", "down"], check=True)
    wait_for(lambda: node_ready_status(cluster, VICTIM) == "Unknown", "the node to go Unknown", timeout=60)
    wait_for(lambda: not endpoint_ips(k) & lost, "the lost pods out of the endpoints", timeout=30)
    wait_for(
        lambda: len([p for p in serving(k) if p["spec"]["nodeName"] != VICTIM]) == REPLICAS,
        "replacements on the survivors",
        timeout=90,
    )
    # the service answers from the survivors on every node that is left, every time
    for node in (SERVER_NODE, SURVIVOR):
        wait_for(
            lambda n=node: all(cluster.fetch(n, f"http://{ip}/") for _ in range(12)),
            f"every request from {node} answered",
        )

    # the node comes back: its engine still has the old pods' containers, which must go
    subprocess.run(["ip", "link", "set", f"pkv{cluster.indexes[VICTIM]}", "up"], check=True)
    netns_node("up", cluster.indexes[VICTIM])
    cluster.start_agent(VICTIM)
    wait_for(lambda: node_is_ready(cluster.server, VICTIM), "the node back", timeout=90)
    lost_uids = {p["metadata"]["uid"] for p in on_victim}
    wait_for(lambda: not containers(cluster, VICTIM) & lost_uids, "the orphaned containers removed", timeout=90)
    wait_for(lambda: not [p for p in pods(k) if p["metadata"]["uid"] in lost_uids], "the lost pods deleted", timeout=60)
    running = serving(k)
    assert len(running) == REPLICAS and len({p["metadata"]["name"] for p in running}) == REPLICAS


def test_a_docker_restart_under_the_agent_brings_its_pods_back(cluster: NetnsCluster, k: Kubectl) -> None:
    pod = busybox_pod("steady", HTTPD)
    pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": SURVIVOR}
    create(k, pod)
    wait_for(
        lambda: json.loads(k.out("get", "pod", "steady", "-o", "json"))["status"].get("phase") == "Running",
        "the pod to run",
        timeout=60,
    )
    agent = cluster.agents[SURVIVOR]
    os.kill(docker_pid(cluster, SURVIVOR), signal.SIGTERM)
    netns_node("up", cluster.indexes[SURVIVOR])  # waits for the old engine to stop, then starts a new one

    def back() -> bool:
        got = json.loads(k.out("get", "pod", "steady", "-o", "json"))
        statuses = got["status"].get("containerStatuses") or [{}]
        return (
            got["status"].get("phase") == "Running"
            and "running" in statuses[0].get("state", {})
            and statuses[0].get("restartCount", 0) >= 1
        )

    wait_for(back, "the pod running again after the engine restart", timeout=120)
    ip = json.loads(k.out("get", "pod", "steady", "-o", "json"))["status"]["podIP"]
    assert wait_for(lambda: cluster.fetch(SERVER_NODE, f"http://{ip}/"), "the pod answering") == "hello-from-steady"
    assert agent.poll() is None, "the agent exited when its engine went away"
