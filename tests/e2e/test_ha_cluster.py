"""Three servers on one PostgreSQL database and two agents in network namespaces: one cluster that
rides out the loss of servers and a restart of its database.

1. A Deployment of 4 replicas runs on both agents. The leader (the holder of the controller Lease)
   and the server each agent talks to are killed with SIGKILL: the surviving server takes the Lease
   within the lease duration, the agents carry on through it, kubectl through it (with the first
   server's kubeconfig) sees every object, no pod restarts (same containers, restartCount 0, the
   containers themselves untouched), and the Deployment scales to 6.
2. The killed servers are started again, and PostgreSQL is restarted while a stream of creates goes
   through all three servers and a watch runs on two of them: every acknowledged create is there
   afterwards, and each watch saw every object that exists exactly once.

The servers run with ``--no-agent``, so nothing writes this host's iptables; the agents are netns
nodes 60 and 61 (scripts/netns-node.sh) with a cluster CIDR of their own, and everything (agents,
servers, namespaces, containers, the private PostgreSQL) is torn down afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import BRIDGE_HOST_IP, PrivatePostgres, Watcher, ensure_docker, netns_node, private_postgres, stop_process

from minikube_py.testing import RunningServer, eventually, free_port, node_is_ready, start_server

Obj = dict[str, Any]
NODES = {"ha2-node60": 60, "ha2-node61": 61}
CLUSTER_CIDR = "10.236.0.0/16"
CLUSTER_TOKEN = "ha2-e2e-cluster-token-5b1f0c7e"
NAMESPACE = "ha-e2e"
CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
CONTROLLER_LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/pykube-controller-manager"
LEASE_DURATION, RETRY_PERIOD = 15, 2  # the servers' defaults (--leader-elect-lease-duration, -retry-period)


@dataclass
class Cluster:
    tmp: Path
    database: PrivatePostgres
    ports: dict[str, int] = field(default_factory=lambda: {name: free_port() for name in ("s1", "s2", "s3")})
    servers: dict[str, RunningServer] = field(default_factory=dict)
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    docker_hosts: dict[str, str] = field(default_factory=dict)
    #: node -> the server its agent joined through (the leader's first, another server's second)
    through: dict[str, str] = field(default_factory=dict)

    def start_server(self, name: str) -> RunningServer:
        self.servers[name] = start_server(
            self.tmp / name,
            "--datastore",
            self.database.url,
            "--token",
            CLUSTER_TOKEN,
            "--bind-address",
            "0.0.0.0",
            "--advertise-address",
            BRIDGE_HOST_IP,
            "--cluster-cidr",
            CLUSTER_CIDR,
            port=self.ports[name],
        )
        return self.servers[name]

    def start_agent(self, node: str, address: str, through: RunningServer) -> None:
        with (self.tmp / f"{node}.log").open("ab") as log:
            self.agents[node] = subprocess.Popen(
                [
                    "nsenter",
                    f"--net=/var/run/netns/pykube-node{NODES[node]}",
                    sys.executable,
                    "-m",
                    "minikube_py.cli.main",
                    "-v",
                    "agent",
                    "--join",
                    f"https://{BRIDGE_HOST_IP}:{self.ports[self.name_of(through)]}",
                    "--token",
                    through.node_token,
                    "--node-name",
                    node,
                    "--node-ip",
                    address,
                    "--docker-host",
                    self.docker_hosts[node],
                    "--data-dir",
                    str(self.tmp / node),
                    "--proxy-mode",
                    "none",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
            )

    def name_of(self, server: RunningServer) -> str:
        return next(name for name, s in self.servers.items() if s is server)

    def leader(self) -> str | None:
        """The name of the server holding the controller Lease, as any live server sees it."""
        live = next(s for s in self.servers.values() if s.process.poll() is None)
        status, lease = live.request("GET", CONTROLLER_LEASE)
        holder = lease["spec"].get("holderIdentity", "") if status == 200 else ""
        return next(
            (
                name
                for name, s in self.servers.items()
                if holder.endswith("_" + (s.data_dir / "server-id").read_text().strip())
            ),
            None,
        )

    def docker(self, node: str, *args: str) -> str:
        done = subprocess.run(
            ["docker", "-H", self.docker_hosts[node], *args], capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    ensure_docker()
    with private_postgres() as database:
        built = Cluster(tmp_path, database)
        try:
            addresses = {node: netns_node("up", index) for node, index in NODES.items()}
            built.docker_hosts = {node: host for node, (_, host) in addresses.items()}
            for name in ("s1", "s2", "s3"):
                built.start_server(name)
            leader = eventually(built.leader, "a server to lead")
            other = next(name for name in built.servers if name != leader)
            built.through = dict(zip(NODES, (leader, other), strict=True))
            for node, through in built.through.items():
                built.start_agent(node, addresses[node][0], built.servers[through])
            for node in NODES:
                eventually(lambda n=node: node_is_ready(built.servers[leader], n), f"node {node} Ready", timeout=120)
            yield built
        finally:
            for agent in built.agents.values():
                stop_process(agent)
            for server in built.servers.values():
                if server.process.poll() is None:
                    server.stop()
            for node, index in NODES.items():
                if node in built.docker_hosts:
                    with contextlib.suppress(subprocess.SubprocessError):
                        ids = built.docker(node, "ps", "-aq").split()
                        if ids:
                            built.docker(node, "rm", "-f", *ids)
                netns_node("down", index)
                for leftover in (Path(f"/var/lib/pykube-test/pykube-node{index}"), Path(f"/run/pykube-node{index}")):
                    shutil.rmtree(leftover, ignore_errors=True)  # the engine's state and run directory


def deployment(replicas: int) -> Obj:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "pykube.local/busybox:1.35", "command": ["sleep", "100000"]}],
                },
            },
        },
    }


def running_pods(server: RunningServer, count: int | None = None) -> dict[str, Obj]:
    """name -> (uid, node, container ID, restart count) of the namespace's running pods; with
    ``count``, empty unless exactly that many pods exist and all run."""
    status, listing = server.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")
    assert status == 200, listing
    pods = {}
    for pod in listing["items"]:
        containers = pod["status"].get("containerStatuses") or []
        if pod["status"].get("phase") == "Running" and containers and containers[0].get("containerID"):
            pods[pod["metadata"]["name"]] = {
                "uid": pod["metadata"]["uid"],
                "node": pod["spec"]["nodeName"],
                "container": containers[0]["containerID"],
                "restarts": containers[0]["restartCount"],
            }
    return pods if count is None or len(pods) == len(listing["items"]) == count else {}


def listed(server: RunningServer, path: str) -> dict[str, str]:
    status, listing = server.request("GET", path)
    assert status == 200, listing
    return {item["metadata"]["name"]: item["metadata"]["uid"] for item in listing["items"]}


def lease_renewed_after(server: RunningServer, node: str, when: datetime) -> bool:
    status, lease = server.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}")
    return status == 200 and _time(lease["spec"]["renewTime"]) > when


def known_servers(agent_dir: Path) -> list[str]:
    path = agent_dir / "api-servers"
    return path.read_text().split() if path.exists() else []


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_three_servers_ride_out_losing_two_and_a_database_restart(cluster: Cluster) -> None:
    leader = eventually(cluster.leader, "a server to lead")
    through = cluster.through
    assert through[next(iter(NODES))] == leader
    survivor_name = next(name for name in cluster.servers if name not in through.values())
    survivor, first = cluster.servers[survivor_name], cluster.servers[leader]
    first.kubectl("create", "namespace", NAMESPACE)
    first.kubectl("apply", "-f", "-", input=json.dumps(deployment(4)))
    before = eventually(lambda: running_pods(first, 4), "4 pods to run", timeout=180)
    assert {pod["node"] for pod in before.values()} == set(NODES), before  # spread over both agents
    started = {
        name: cluster.docker(
            pod["node"], "inspect", "-f", "{{.State.StartedAt}}", pod["container"].removeprefix("docker://")
        )
        for name, pod in before.items()
    }
    paths = {
        "deployments": f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
        "replicasets": f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets",
        "pods": f"/api/v1/namespaces/{NAMESPACE}/pods",
        "nodes": "/api/v1/nodes",
        "namespaces": "/api/v1/namespaces",
    }
    objects = {kind: listed(first, path) for kind, path in paths.items()}
    survivor_url = f"https://{BRIDGE_HOST_IP}:{cluster.ports[survivor_name]}"
    for node in NODES:  # each agent has learnt of every server (from the Endpoints) before its own goes
        eventually(lambda n=node: survivor_url in known_servers(cluster.tmp / n), f"{node} to learn of the survivor")

    # -- kill -9 the leader and the server each agent talks to -------------------------------------
    for name in set(through.values()):
        cluster.servers[name].process.kill()
        cluster.servers[name].process.wait(10)
    killed = datetime.now(UTC)

    eventually(
        lambda: cluster.leader() == survivor_name, "the surviving server to take the controller Lease", timeout=60
    )
    acquired = _time(survivor.request("GET", CONTROLLER_LEASE)[1]["spec"]["acquireTime"])
    assert (acquired - killed).total_seconds() <= LEASE_DURATION + 2 * RETRY_PERIOD, (acquired, killed)
    for node in NODES:
        eventually(
            lambda n=node: lease_renewed_after(survivor, n, killed), f"{node} to renew its Lease via the survivor"
        )
        assert "switching to" in (cluster.tmp / f"{node}.log").read_text()
        assert node_is_ready(survivor, node)
    # kubectl through the survivor, with the first server's kubeconfig, sees every object
    for kind, names in objects.items():
        shown = first.kubectl("--server", survivor.url, "get", kind, "-A", "-o", "json").stdout
        assert names.items() <= {(i["metadata"]["name"], i["metadata"]["uid"]) for i in json.loads(shown)["items"]}, (
            kind
        )
    # no pod restarted: the same containers, never restarted, running since before
    assert running_pods(survivor) == before
    for name, pod in before.items():
        assert (
            cluster.docker(
                pod["node"], "inspect", "-f", "{{.State.StartedAt}}", pod["container"].removeprefix("docker://")
            )
            == started[name]
        )
    first.kubectl("--server", survivor.url, "-n", NAMESPACE, "scale", "deployment", "web", "--replicas", "6")
    scaled = eventually(lambda: running_pods(survivor, 6), "the Deployment to scale to 6", timeout=180)
    assert {name: scaled[name] for name in before} == before

    # -- the killed servers come back, and PostgreSQL restarts under a stream of creates -----------
    for name in set(through.values()):
        cluster.start_server(name)
    servers = list(cluster.servers.values())
    resource_version = survivor.request("GET", CONFIGMAPS)[1]["metadata"]["resourceVersion"]
    watchers = [
        Watcher(survivor, CONFIGMAPS, resource_version),
        Watcher(cluster.servers[leader], CONFIGMAPS, resource_version),
    ]
    load = CreateStream(servers)
    load.start()
    try:
        eventually(lambda: len(load.acknowledged) >= 20, "creates to be acknowledged before the restart")
        cluster.database.stop()
        eventually(lambda: all(s.request("GET", "/readyz")[0] == 500 for s in servers), "the servers to be unready")
        eventually(lambda: load.refused >= 3, "creates to be refused while the database is down")
        cluster.database.start()
        eventually(
            lambda: all(s.request("GET", "/readyz")[0] == 200 for s in servers), "the servers to be ready", timeout=60
        )
        count = len(load.acknowledged)
        eventually(lambda: len(load.acknowledged) >= count + 20, "creates to be acknowledged after the restart")
    finally:
        load.stop()
    acknowledged = set(load.acknowledged)
    for server in servers:
        eventually(lambda s=server: acknowledged <= set(listed(s, CONFIGMAPS)), "every acknowledged create listed")
    present = set(listed(survivor, CONFIGMAPS)) - {"kube-root-ca.crt"}
    for watcher in watchers:
        eventually(lambda w=watcher: {name for _, name, _ in w.events} >= present, "the watch to see every object")
        names = [name for _, name, _ in watcher.events]
        assert sorted(names) == sorted(present), "each object seen exactly once"
        assert {kind for kind, _, _ in watcher.events} == {"ADDED"}
        revisions = [revision for _, _, revision in watcher.events]
        assert revisions == sorted(revisions)
    # nothing exited, and the pods ran on through it all
    assert all(s.process.poll() is None for s in servers)
    assert all(agent.poll() is None for agent in cluster.agents.values())
    assert {name: running_pods(survivor)[name] for name in scaled} == scaled


class CreateStream:
    """ConfigMaps created one after another from two threads, round-robin over the servers; keeps
    the names whose create was acknowledged (201) and counts the refused ones."""

    def __init__(self, servers: list[RunningServer]) -> None:
        self.servers = servers
        self.acknowledged: list[str] = []
        self.refused = 0
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(2)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(60)

    def _run(self, stream: int) -> None:
        sent = 0
        while not self._stopping.is_set():
            name = f"load-{stream}-{sent}"
            server = self.servers[sent % len(self.servers)]
            sent += 1
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": name}}
            try:
                status, _ = server.request("POST", CONFIGMAPS, body)
            except OSError:
                status = 0
            if status == 201:
                self.acknowledged.append(name)
            else:
                self.refused += 1
                self._stopping.wait(0.2)
