"""Two nodes: ``pykube server`` with its embedded agent on this host, and ``pykube agent --join`` on a
second host made of a network namespace with its own Docker engine (scripts/netns-node.sh), both on the
bridge 10.99.0.0/24. The real kubectl drives the cluster; traffic stays on that bridge and loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import (
    HTTPD,
    busybox_pod,
    create,
    node_ready,
    pod_obj,
    running_pods,
    sleeper_rc,
    start_agent_server,
    wait_for,
)
from kubectl_helpers import Kubectl
from support import ensure_docker

from minikube_py.testing import RunningServer, free_port, remove_node_containers

ROOT = Path(__file__).resolve().parents[2]
SERVER_NODE = "pykube-mn-server"
JOINED_NODE = "pykube-mn-node1"
NETNS_INDEX = "1"
HOST_BRIDGE_IP = "10.99.0.1"


@dataclass
class TwoNodes:
    server: RunningServer
    joined_ip: str
    docker_host: str


def netns_node(action: str) -> list[str]:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "netns-node.sh"), action, NETNS_INDEX],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    ensure_docker()
    remove_node_containers(SERVER_NODE)
    joined_ip, docker_host = netns_node("up")[-2:]
    tmp = tmp_path_factory.mktemp("multinode")
    port = free_port()
    server = start_agent_server(
        tmp / "server",
        SERVER_NODE,
        "--bind-address",
        "0.0.0.0",
        "--advertise-address",
        HOST_BRIDGE_IP,
        port=port,
        cluster_cidr="10.246.0.0/16",
    )
    token = (tmp / "server" / "node-token").read_text().strip()
    log = open(tmp / "agent.log", "ab")  # noqa: SIM115 - the agent process owns it
    agent = subprocess.Popen(
        [
            "nsenter",
            f"--net=/var/run/netns/pykube-node{NETNS_INDEX}",
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "agent",
            "--join",
            f"https://{HOST_BRIDGE_IP}:{port}",
            "--token",
            token,
            "--node-name",
            JOINED_NODE,
            "--node-ip",
            joined_ip,
            "--docker-host",
            docker_host,
            "--data-dir",
            str(tmp / "agent"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for(lambda: node_ready(server, JOINED_NODE), f"node {JOINED_NODE} Ready", timeout=90)
        yield TwoNodes(server, joined_ip, docker_host)
    finally:
        agent.terminate()
        try:
            agent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            agent.kill()
        server.stop()
        netns_node("down")
        remove_node_containers(SERVER_NODE)


@pytest.fixture
def k(nodes: TwoNodes) -> Iterator[Kubectl]:
    name = f"mn-{os.urandom(3).hex()}"
    nodes.server.kubectl("create", "namespace", name)
    yield Kubectl(nodes.server, name)
    nodes.server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def on_joined_node(pod: dict[str, Any]) -> dict[str, Any]:
    pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": JOINED_NODE}
    return pod


def test_both_nodes_report_themselves(nodes: TwoNodes, k: Kubectl) -> None:
    listed = {n["metadata"]["name"]: n for n in json.loads(k.out("get", "nodes", "-o", "json"))["items"]}
    joined = listed[JOINED_NODE]
    assert {"type": "InternalIP", "address": nodes.joined_ip} in joined["status"]["addresses"]
    assert joined["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("docker://")
    assert int(joined["status"]["capacity"]["pods"]) > 0
    assert "node-role.kubernetes.io/control-plane" in listed[SERVER_NODE]["metadata"]["labels"]
    assert "node-role.kubernetes.io/control-plane" not in joined["metadata"]["labels"]
    assert joined["spec"]["podCIDR"] != listed[SERVER_NODE]["spec"]["podCIDR"]


def test_host_port_answers_on_the_joined_node(nodes: TwoNodes, k: Kubectl) -> None:
    pod = busybox_pod("web", HTTPD, container={"ports": [{"containerPort": 80, "hostPort": 18080}]})
    create(k, on_joined_node(pod))

    def answer() -> str | None:
        try:
            with urllib.request.urlopen(f"http://{nodes.joined_ip}:18080/", timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            return None

    assert wait_for(answer, "httpd on the joined node's hostPort", timeout=60) == "hello-from-web\n"
    assert pod_obj(k, "web")["status"]["hostIP"] == nodes.joined_ip


def test_replication_controller_runs_on_both_nodes(k: Kubectl) -> None:
    create(k, sleeper_rc("spread", 4))

    def running_nodes() -> set[str] | None:
        running = running_pods(k, "spread")
        return {p["spec"]["nodeName"] for p in running} if len(running) == 4 else None

    assert wait_for(running_nodes, "4 running replicas", timeout=90) == {SERVER_NODE, JOINED_NODE}


def test_logs_and_exec_reach_the_joined_node(k: Kubectl) -> None:
    create(k, on_joined_node(busybox_pod("talker", "echo hello-from-node1; exec sleep 3600")))
    wait_for(lambda: pod_obj(k, "talker")["status"].get("phase") == "Running", "the pod to run", timeout=60)
    assert wait_for(lambda: "hello-from-node1" in k.out("logs", "talker"), "its log line")
    assert k.run("exec", "talker", "--", "hostname").stdout.strip() == "talker"
    started = time.monotonic()
    assert k.run("exec", "talker", "--", "sh", "-c", "exit 4", check=False).returncode == 4
    assert time.monotonic() - started < 20
