"""A host that ran a cluster before: the next one says what is in its way, and `pykube cleanup` clears it.

As a user meets it: a first cluster is stopped (SIGTERM, as Ctrl-C) while a Deployment's pods are
still terminating; its agent, by design, leaves their containers and its pod network ``pykube-<node>``
on the engine. A second cluster with a new data dir whose node gets the same subnet must not crash-loop
silently: its log names the leftovers at start with the command that removes them, its node shows
NetworkUnavailable with the cause and the fix, its pods get FailedCreatePodSandBox events, and once
``pykube cleanup --node <old>`` has run, the pods run without a restart of anything.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from agent_helpers import busybox_pod, create, events_of, start_agent_server, wait_for, wait_running
from kubectl_helpers import Kubectl
from support import ensure_docker

from minikube_py.testing import remove_node_containers

NODE = "pykube-e2e-netfail"
OLD_NODE = "pykube-e2e-netold"
OLD_NETWORK = f"pykube-{OLD_NODE}"
#: a cluster CIDR no other test uses: the first node subnet of both clusters is 10.250.0.0/24
CLUSTER_CIDR = "10.250.0.0/16"
SUBNET = "10.250.0.0/24"


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def pykube(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", *args], capture_output=True, text=True, timeout=120, check=False
    )


def network_condition(k: Kubectl) -> dict[str, str]:
    node = json.loads(k.out("get", "node", NODE, "-o", "json"))
    return next((c for c in node["status"].get("conditions", []) if c["type"] == "NetworkUnavailable"), {})


def stop_mid_termination(tmp_path: Path) -> None:
    """The first cluster: a Deployment whose pods take their time to stop, deleted, and the server
    stopped at once, leaving the containers and the pod network behind."""
    first = start_agent_server(tmp_path / "first", OLD_NODE, "--proxy-mode", "none", cluster_cidr=CLUSTER_CIDR)
    k = Kubectl(first, "default")
    pod = busybox_pod("x", "trap 'sleep 60' TERM; sleep 3600 & wait", terminationGracePeriodSeconds=60)
    try:
        k.run(
            "create",
            "-f",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "slow-stop"},
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": {"app": "slow-stop"}},
                        "template": {"metadata": {"labels": {"app": "slow-stop"}}, "spec": pod["spec"]},
                    },
                }
            ),
        )
        k.run("rollout", "status", "deployment/slow-stop", "--timeout=90s")
        k.run("delete", "deployment", "slow-stop", "--wait=false")
    finally:
        assert first.stop() == 0
    assert docker("network", "ls", "-q", "--filter", f"name=^{OLD_NETWORK}$") != ""


def test_a_previous_clusters_leftovers_are_reported_and_cleanup_lets_the_new_one_run(tmp_path: Path) -> None:
    ensure_docker()
    for node in (OLD_NODE, NODE):
        remove_node_containers(node)
    server = None
    try:
        stop_mid_termination(tmp_path)
        left = docker("ps", "-aq", "--filter", f"label=io.pykube.node={OLD_NODE}").split()

        server = start_agent_server(tmp_path / "second", NODE, "--proxy-mode", "none", cluster_cidr=CLUSTER_CIDR)
        k = Kubectl(server, "default")
        pid = server.process.pid
        wait_for(lambda: f"`pykube cleanup --node {OLD_NODE}`" in server.log_path.read_text(), "the start-up warning")
        assert (
            f"this Docker engine holds what pykube node {OLD_NODE} left: {len(left)} container"
            in server.log_path.read_text()
        )

        wait_for(lambda: network_condition(k).get("status") == "True", "NetworkUnavailable=True on the node")
        condition = network_condition(k)
        assert condition["reason"] == "PodSubnetOverlaps"
        assert re.fullmatch(
            rf"pod subnet {SUBNET} overlaps Docker network {OLD_NETWORK} \(\d+ containers? of node "
            rf"{OLD_NODE}\); run `pykube cleanup --node {OLD_NODE}` or start with another "
            r"--cluster-cidr",
            condition["message"],
        ), condition["message"]
        described = " ".join(k.out("describe", "node", NODE).split())
        assert "NetworkUnavailable True" in described and "PodSubnetOverlaps" in described
        assert f"run `pykube cleanup --node {OLD_NODE}` or start with another --cluster-cidr" in described
        # the condition survives the heartbeats (the status is written with a merge patch of the whole list)
        wait_for(
            lambda: (
                "PodSubnetOverlaps"
                in k.out(
                    "get",
                    "events",
                    "--field-selector",
                    f"involvedObject.kind=Node,involvedObject.name={NODE}",
                    "-o",
                    "custom-columns=R:.reason",
                    "--no-headers",
                )
            ),
            "a Warning event on the node",
        )

        # the node lifecycle controller keeps the scheduler's pods off (TaintNodesByCondition); a pod
        # bound to the node directly lands, and waits for the network
        taints = json.loads(k.out("get", "node", NODE, "-o", "json"))["spec"].get("taints") or []
        assert {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"} in taints
        create(k, busybox_pod("waits-for-network", "exec sleep 3600", nodeName=NODE))
        wait_for(
            lambda: (
                "FailedCreatePodSandBox Failed to create pod sandbox: " + condition["message"]
                in " ".join(events_of(k, "waits-for-network").split())
            ),
            "FailedCreatePodSandBox with the cause",
        )
        assert json.loads(k.out("get", "pod", "waits-for-network", "-o", "json"))["status"]["phase"] == "Pending"
        assert network_condition(k).get("status") == "True"  # still there after at least one heartbeat

        # the dry run lists exactly the old node's containers and network; the cleanup removes them
        dry = pykube("cleanup", "--node", OLD_NODE, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        listed = dry.stdout.splitlines()
        assert len(listed) == len(left) + 1 and sum(f"network {OLD_NETWORK} ({SUBNET})" in line for line in listed) == 1
        assert all(any(c in line for line in listed) for c in (c[:12] for c in left))
        done = pykube("cleanup", "--node", OLD_NODE)
        assert done.returncode == 0, done.stderr
        assert docker("ps", "-aq", "--filter", f"label=io.pykube.node={OLD_NODE}") == ""

        pod = wait_running(k, "waits-for-network", timeout=90)
        assert pod["status"]["podIP"].startswith("10.250.0.")
        condition = network_condition(k)
        assert (condition["status"], condition["reason"]) == ("False", "PodNetworkReady")
        wait_for(
            lambda: not json.loads(k.out("get", "node", NODE, "-o", "json"))["spec"].get("taints"),
            "the network-unavailable taint to come off",
        )
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
        assert server.process.poll() is None and server.process.pid == pid
        log = server.log_path.read_text()
        assert log.count("pod network unavailable") == 1 and "Traceback" not in log, log[-3000:]

        k.run("delete", "pod", "waits-for-network", "--wait=true", "--timeout=60s")
    finally:
        if server is not None:
            server.stop()
        for node in (OLD_NODE, NODE):
            remove_node_containers(node)


def test_drain_on_stop_leaves_no_container_behind(tmp_path: Path) -> None:
    """``--drain-on-stop``: SIGTERM stops the node's pods gracefully before the server exits."""
    ensure_docker()
    node = "pykube-e2e-drain"
    remove_node_containers(node)
    server = start_agent_server(
        tmp_path / "data", node, "--proxy-mode", "none", "--drain-on-stop", cluster_cidr="10.252.0.0/16"
    )
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
