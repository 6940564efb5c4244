"""A node whose pod subnet is held by another cluster's leftovers says so, and recovers by itself.

As a user meets it: an earlier cluster's agent left its pod network ``pykube-<node>`` on this Docker
engine with a container still on it; a new server whose node gets the same subnet must not crash-loop
silently. Its node shows NetworkUnavailable with the cause and the fix, its pods get
FailedCreatePodSandBox events, and once the leftover is gone the pods run without a restart.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import busybox_pod, create, events_of, start_agent_server, wait_for, wait_running
from kubectl_helpers import Kubectl

from minikube_py.testing import BUSYBOX_IMAGE, ensure_docker, remove_node_containers

NODE = "pykube-e2e-netfail"
OLD_NODE = "pykube-e2e-netold"
OLD_NETWORK = f"pykube-{OLD_NODE}"
#: a cluster CIDR no other test uses: its first node subnet is 10.250.0.0/24
CLUSTER_CIDR = "10.250.0.0/16"
SUBNET = "10.250.0.0/24"


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def remove_leftover() -> None:
    remove_node_containers(OLD_NODE)
    docker("network", "rm", OLD_NETWORK, check=False)


@pytest.fixture
def leftover() -> Iterator[None]:
    """Another cluster's pod network on the subnet the new node will get, with a running container."""
    ensure_docker()
    remove_leftover()
    docker("network", "create", "--label", "io.pykube.managed=true", "--subnet", SUBNET, OLD_NETWORK)
    docker("run", "-d", "--name", f"{OLD_NODE}-pod", "--network", OLD_NETWORK, "--label", "io.pykube.managed=true",
           "--label", f"io.pykube.node={OLD_NODE}", BUSYBOX_IMAGE, "sleep", "3600")
    yield
    remove_leftover()


def network_condition(k: Kubectl) -> dict[str, str]:
    node = json.loads(k.out("get", "node", NODE, "-o", "json"))
    return next((c for c in node["status"].get("conditions", []) if c["type"] == "NetworkUnavailable"), {})


def test_a_taken_pod_subnet_is_reported_and_healed_without_a_restart(leftover: None, tmp_path: Path) -> None:
    remove_node_containers(NODE)
    server = start_agent_server(tmp_path / "data", NODE, "--proxy-mode", "none", cluster_cidr=CLUSTER_CIDR)
    server.node_network = False  # --proxy-mode none: no rules or routes to remove (others' tests keep theirs)
    k = Kubectl(server, "default")
    try:
        pid = server.process.pid
        expected = (f"pod subnet {SUBNET} overlaps Docker network {OLD_NETWORK} (1 container of node {OLD_NODE}); "
                    "run `pykube cleanup` or start with another --cluster-cidr")
        wait_for(lambda: network_condition(k).get("status") == "True", "NetworkUnavailable=True on the node")
        condition = network_condition(k)
        assert condition["reason"] == "PodSubnetOverlaps" and condition["message"] == expected
        described = " ".join(k.out("describe", "node", NODE).split())
        assert "NetworkUnavailable True" in described and "PodSubnetOverlaps" in described
        assert "run `pykube cleanup` or start with another --cluster-cidr" in described
        # the condition survives the heartbeats (the status is written with a merge patch of the whole list)
        wait_for(lambda: "PodSubnetOverlaps" in k.out("get", "events", "--field-selector",
                                                       f"involvedObject.kind=Node,involvedObject.name={NODE}",
                                                       "-o", "custom-columns=R:.reason", "--no-headers"),
                 "a Warning event on the node")

        create(k, busybox_pod("waits-for-network", "exec sleep 3600"))
        wait_for(lambda: f"FailedCreatePodSandBox Failed to create pod sandbox: {expected}"
                 in " ".join(events_of(k, "waits-for-network").split()), "FailedCreatePodSandBox with the cause")
        assert json.loads(k.out("get", "pod", "waits-for-network", "-o", "json"))["status"]["phase"] == "Pending"
        assert network_condition(k).get("status") == "True"  # still there after at least one heartbeat

        remove_leftover()
        pod = wait_running(k, "waits-for-network", timeout=90)
        assert pod["status"]["podIP"].startswith("10.250.0.")
        condition = network_condition(k)
        assert (condition["status"], condition["reason"]) == ("False", "PodNetworkReady")
        assert server.process.poll() is None and server.process.pid == pid
        log = server.log_path.read_text()
        assert log.count("pod network unavailable") == 1 and "Traceback" not in log, log[-3000:]

        k.run("delete", "pod", "waits-for-network", "--wait=true", "--timeout=60s")
    finally:
        server.stop()
        remove_node_containers(NODE)
        docker("network", "rm", f"pykube-{NODE}", check=False)


def test_drain_on_stop_leaves_no_container_behind(tmp_path: Path) -> None:
    """``--drain-on-stop``: SIGTERM stops the node's pods gracefully before the server exits."""
    ensure_docker()
    node = "pykube-e2e-drain"
    remove_node_containers(node)
    server = start_agent_server(tmp_path / "data", node, "--proxy-mode", "none", "--drain-on-stop",
                                cluster_cidr="10.252.0.0/16")
    server.node_network = False
    try:
        k = Kubectl(server, "default")
        create(k, busybox_pod("drained", "trap 'echo bye > /proc/1/fd/1; exit 0' TERM; while true; do sleep 1; done"))
        wait_running(k, "drained")
        assert docker("ps", "-q", "--filter", f"label=io.pykube.node={node}") != ""
        assert server.stop() == 0
        assert docker("ps", "-aq", "--filter", f"label=io.pykube.node={node}") == ""
        assert "drained node pykube-e2e-drain" in server.log_path.read_text()
    finally:
        if server.process.poll() is None:
            server.stop()
        remove_node_containers(node)
        docker("network", "rm", f"pykube-{node}", check=False)
