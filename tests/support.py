"""What pykube's own tests and benchmarks need from this repository: the scripts that install and start
Docker, the private registry and PostgreSQL, the test images they build, and nodes in network namespaces
(scripts/netns-node.sh). The public, installable half (start a server, wait for a condition) is
``minikube_py.testing``; benches reach this module through ``bench/testbed.py``."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minikube_py import testing
from minikube_py.testing import RunningServer

_SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def apply_list(server: testing.ServerEndpoint, namespace: str, *manifests: dict[str, Any]) -> None:
    """``kubectl apply -n NAMESPACE -f -`` of ``manifests`` sent as one List, as a user applies a file."""
    items = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    server.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(items))


def pods_by_name(server: testing.ServerEndpoint, namespace: str) -> dict[str, dict[str, Any]]:
    """The pods of ``namespace`` by name, as the API lists them now."""
    status, body = server.request("GET", f"/api/v1/namespaces/{namespace}/pods")
    assert status == 200, body
    return {p["metadata"]["name"]: p for p in body["items"]}


def namespace_of_test(server: testing.ServerEndpoint, request: Any) -> Iterator[str]:
    """A namespace named for the running test (a fixture's body), its pods gone after it, so that the
    next test of a module has the nodes' room."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:40].strip("-")
    server.kubectl("create", "namespace", name)
    yield name
    server.kubectl("delete", "namespace", name, "--wait=false")
    testing.eventually(lambda: not pods_by_name(server, name), what=f"pods in {name} to go")


def cpu_pod(name: str, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    """A pod of one container that requests ``cpu``, with ``spec`` fields beside its containers."""
    container = {"name": "app", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def fake_node_flags(node: str) -> tuple[str, ...]:
    """The server flags that make its embedded agent run ``node`` on the fake runtime: containers in
    memory, no pod network or service rules on this host, no kubelet port to clash with another's."""
    return ("--agent-runtime", "fake", "--node-name", node, "--node-ip", "127.0.0.1", "--kubelet-port", "0")


def postgres_url() -> str:
    """The PostgreSQL server tests use: PYKUBE_TEST_POSTGRES_URL, or one that scripts/postgres.sh
    installs and starts. Fails loudly when neither works, so a missing database is never a skip."""
    url = os.environ.get("PYKUBE_TEST_POSTGRES_URL")
    if url:
        return url
    script = _SCRIPTS / "postgres.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/postgres.sh failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


#: the image tests run: busybox from Debian's busybox-static, imported by scripts/docker.sh
BUSYBOX_IMAGE = "pykube.local/busybox:1.35"


def ensure_docker() -> str:
    """Install and start Docker and build the test image if needed (scripts/docker.sh); a test that
    needs Docker fails here, loudly, when it cannot have it."""
    subprocess.run(["bash", str(_SCRIPTS / "docker.sh")], check=True)
    return "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Registry:
    address: str
    username: str
    password: str
    private_image: str


def ensure_registry() -> Registry:
    """The private registry with basic auth on 127.0.0.1:5000 (scripts/registry.sh) and its test image."""
    ensure_docker()
    done = subprocess.run(["bash", str(_SCRIPTS / "registry.sh")], check=True, capture_output=True, text=True)
    address, username, password, image = done.stdout.split()[-4:]
    return Registry(address, username, password, image)


#: the host's address on the bridge that network-namespace nodes share (scripts/netns-node.sh)
BRIDGE_HOST_IP = "10.99.0.1"


def netns_node(action: str, index: int) -> list[str]:
    """``scripts/netns-node.sh up|down N``: node N as a network namespace with its own dockerd on the
    bridge; ``up`` returns (address, docker host)."""
    done = subprocess.run(
        ["bash", str(_SCRIPTS / "netns-node.sh"), action, str(index)], capture_output=True, text=True, check=True
    )
    return done.stdout.split()[-2:]


@dataclass
class NetnsCluster:
    """``pykube server`` with its node on this host plus agents in network namespaces on one bridge."""

    server: RunningServer
    server_node: str
    ips: dict[str, str]  # node name -> InternalIP (the server's node first)
    indexes: dict[str, int]  # joined node name -> its netns-node.sh index
    agents: dict[str, subprocess.Popen[bytes]]
    agent_args: dict[str, list[str]]
    tmp: Path

    def netns(self, node: str) -> str:
        return f"/var/run/netns/pykube-node{self.indexes[node]}"

    def on_node(self, node: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command in a node's network namespace (the host's for the server's node)."""
        prefix = [] if node == self.server_node else ["nsenter", f"--net={self.netns(node)}"]
        return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=timeout, check=False)

    def fetch(self, node: str, url: str, timeout: float = 3) -> str | None:
        """An HTTP GET from a node's own network namespace; None on any failure."""
        script = (
            "import sys, urllib.request\n"
            "print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode().strip())"
        )
        done = self.on_node(node, sys.executable, "-c", script, url, str(timeout), timeout=timeout + 30)
        return done.stdout.strip() if done.returncode == 0 else None

    def start_agent(self, node: str) -> None:
        log = open(self.tmp / f"{node}.log", "ab")  # noqa: SIM115 - the agent process owns it
        self.agents[node] = subprocess.Popen(
            self.agent_args[node],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(_SCRIPTS.parent)},
        )

    def stop_agent(self, node: str, *, kill: bool = False) -> None:
        agent = self.agents.pop(node)
        agent.kill() if kill else agent.terminate()
        try:
            agent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


@contextlib.contextmanager
def netns_cluster(
    tmp: Path,
    server_node: str,
    nodes: dict[str, tuple[int, str]],
    *,
    cluster_cidr: str,
    server_flags: tuple[str, ...] = (),
) -> Iterator[NetnsCluster]:
    """A cluster of real nodes on one machine: the server's own node on this host (at the bridge address
    BRIDGE_HOST_IP) and, for each ``name: (index, proxy mode)``, a network namespace with its own dockerd
    running ``pykube agent``. Everything is torn down afterwards: agents, server, namespaces, the bridge,
    containers, and the host's proxy rules and routes."""
    ensure_docker()
    testing.remove_node_containers(server_node)
    agents: dict[str, subprocess.Popen[bytes]] = {}
    server: RunningServer | None = None
    cluster: NetnsCluster | None = None
    try:
        joined = {name: netns_node("up", index) for name, (index, _) in nodes.items()}
        port = testing.free_port()
        server = testing.start_server(
            tmp / "server",
            "--node-name",
            server_node,
            "--node-ip",
            BRIDGE_HOST_IP,
            "--advertise-address",
            BRIDGE_HOST_IP,
            "--bind-address",
            "0.0.0.0",
            "--cluster-cidr",
            cluster_cidr,
            "--kubelet-port",
            "0",
            *server_flags,
            agent=True,
            port=port,
        )
        token = (tmp / "server" / "node-token").read_text().strip()
        args = {
            name: [
                "nsenter",
                f"--net=/var/run/netns/pykube-node{index}",
                sys.executable,
                "-m",
                "minikube_py.cli.main",
                "agent",
                "--join",
                f"https://{BRIDGE_HOST_IP}:{port}",
                "--token",
                token,
                "--node-name",
                name,
                "--node-ip",
                joined[name][0],
                "--docker-host",
                joined[name][1],
                "--data-dir",
                str(tmp / name),
                "--proxy-mode",
                mode,
            ]
            for name, (index, mode) in nodes.items()
        }
        cluster = NetnsCluster(
            server,
            server_node,
            {server_node: BRIDGE_HOST_IP, **{n: a for n, (a, _) in joined.items()}},
            {n: i for n, (i, _) in nodes.items()},
            agents,
            args,
            tmp,
        )
        for name in nodes:
            cluster.start_agent(name)
        for name in cluster.ips:
            testing.eventually(lambda n=name: testing.node_is_ready(server, n), f"node {name} Ready", timeout=120)
        yield cluster
    finally:
        for name in list(agents):
            if cluster is not None:
                cluster.stop_agent(name)
        if server is not None:
            server.stop()
        for _, (index, _) in nodes.items():
            netns_node("down", index)
        testing.remove_node_containers(server_node)


class PrivatePostgres:
    """A PostgreSQL cluster nobody else uses (scripts/postgres.sh on a free port under a directory of
    its own), so that a test may stop and restart it without disturbing any other test."""

    def __init__(self) -> None:
        self.base = Path(f"/tmp/pykube-ha-pg-{uuid.uuid4().hex[:8]}")
        self.port = testing.free_port()
        self.url = ""

    def start(self) -> None:
        done = subprocess.run(
            ["bash", str(_SCRIPTS / "postgres.sh"), str(self.base), str(self.port)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scripts/postgres.sh failed:\n{done.stdout}\n{done.stderr}")
        self.url = done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """Stop at once, without a checkpoint, as a crash or a killed container would."""
        pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
        owner = (
            ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") and self.base.owner() == "postgres" else []
        )
        subprocess.run(
            [*owner, pg_ctl, "--pgdata", str(self.base / "data"), "stop", "-m", "immediate"],
            capture_output=True,
            timeout=60,
            check=True,
        )


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started :class:`PrivatePostgres`, stopped and removed afterwards."""
    database = PrivatePostgres()
    database.start()
    try:
        yield database
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            database.stop()
        shutil.rmtree(database.base, ignore_errors=True)


class Watcher:
    """One watch of a collection (``path``), read in a thread until the server ends it (a response
    cannot be closed from another thread while that one reads it). ``events`` holds (type, name,
    resourceVersion) of every event but bookmarks and the ``kube-root-ca.crt`` ConfigMap, which
    every namespace gets by itself."""

    def __init__(self, server: RunningServer, path: str, resource_version: str) -> None:
        request = urllib.request.Request(
            f"{server.url}{path}?watch=true&resourceVersion={resource_version}&timeoutSeconds=600",
            headers={"Authorization": f"Bearer {server.admin_token}"},
        )
        self._response = urllib.request.urlopen(request, context=server.ssl_context(), timeout=600)
        self.events: list[tuple[str, str, int]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._response:
            event = json.loads(line)
            meta = event["object"]["metadata"]
            if event["type"] != "BOOKMARK" and meta["name"] != "kube-root-ca.crt":
                self.events.append((event["type"], meta["name"], int(meta["resourceVersion"])))


def stop_process(process: subprocess.Popen[bytes], grace: float = 30) -> bool:
    """SIGTERM, as a service manager stops a process, then a kill if it has not ended within ``grace``
    seconds; True when it stopped by itself (callers that expect it to assert so)."""
    process.terminate()
    try:
        process.wait(grace)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return False


def on_fresh_postgres(scenario: Callable[[str], None]) -> None:
    """Run the blocking ``scenario(url)`` on a scratch database of the repository's PostgreSQL (dropped
    afterwards), off the event loop that holds the database."""

    async def run() -> None:
        async with testing.fresh_postgres_database(postgres_url()) as url:
            await asyncio.to_thread(scenario, url)

    asyncio.run(run())
