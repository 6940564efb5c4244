"""Helpers for testing against a real pykube server, used by pykube's own tests and benchmarks.

The server under test is the real ``pykube server`` command in a subprocess, on a free loopback
port with a throwaway data directory, so callers exercise exactly what a user starts, and blocking
``kubectl`` subprocesses never stall the server's event loop.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

KUBECTL = "/usr/bin/kubectl"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    cache_dir: Path
    log_path: Path
    #: the server runs a node whose service proxy writes iptables rules and routes on this host
    node_network: bool = False

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    @property
    def node_token(self) -> str:
        """The join token, which is also the cluster token further servers on its datastore need."""
        return (self.data_dir / "node-token").read_text().strip()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.data_dir / "pki" / "ca.crt"))

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server; ``check`` raises with its output on failure."""
        full_env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache_dir),
                    **(env or {})}
        done = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=full_env,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                token: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One raw HTTPS request; returns (status, decoded JSON or text). ``token`` defaults to the
        admin token; an empty one sends no Authorization header at all (an anonymous request)."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token != "":
            req.add_header("Authorization", f"Bearer {self.admin_token if token is None else token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())

    def stop(self) -> int:
        """Stop the server; a node's proxy rules and routes (left on purpose by a stopping server, so
        that traffic flows on through a restart) are removed as ``pykube server --cleanup`` does."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        finally:
            if self.node_network:
                subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "server", "--cleanup"],
                               capture_output=True, check=False, timeout=60)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


#: servers of tests leave the node's ports 80 and 443 alone (parallel tests would fight over them);
#: a test of the ingress controller gives ports of its own after these
_NO_INGRESS = ("--ingress-http-port", "0", "--ingress-https-port", "0")


def start_server(data_dir: Path, *extra: str, port: int | None = None, agent: bool = False) -> RunningServer:
    """Start ``pykube server`` and wait until it answers /readyz. Without ``agent`` the server runs no
    node of its own (``--no-agent``): control-plane tests join fake nodes (agents on the fake runtime) instead."""
    port = port or free_port()
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the subprocess owns it for its lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "minikube_py.cli.main", "server", "--data-dir", str(data_dir), "--bind-address",
         "127.0.0.1", "--port", str(port), *(_NO_INGRESS if agent else ("--no-agent",)), *extra],
        stdout=log, stderr=subprocess.STDOUT,
    )
    cache = data_dir.parent / f"{data_dir.name}-kubecache"
    cache.mkdir(exist_ok=True)
    # only a node whose service proxy runs writes host rules and routes for the stop to remove
    flags = list(extra)
    proxy_off = any(flags[i:i + 2] in (["--proxy-mode", "none"], ["--agent-runtime", "fake"])
                    for i in range(len(flags) - 1))
    server = RunningServer(f"https://127.0.0.1:{port}", data_dir, process, cache, log_path,
                           node_network=agent and not proxy_off)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pykube server exited with {process.returncode}:\n{log_path.read_text()}")
        if (data_dir / "pki" / "ca.crt").exists() and (data_dir / "admin-token").exists():
            try:
                status, _ = server.request("GET", "/readyz")
                if status == 200:
                    return server
            except OSError:
                pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"pykube server did not become ready:\n{log_path.read_text()}")


def postgres_url() -> str:
    """The PostgreSQL server tests use: PYKUBE_TEST_POSTGRES_URL, or one that scripts/postgres.sh
    installs and starts. Fails loudly when neither works, so a missing database is never a skip."""
    url = os.environ.get("PYKUBE_TEST_POSTGRES_URL")
    if url:
        return url
    script = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/postgres.sh failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


@contextlib.asynccontextmanager
async def fresh_postgres_database(base: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``base`` (a URL), dropped afterwards."""
    name = f"pykube_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _pg_admin(url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE refuse to run inside one)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class PrivatePostgres:
    """A PostgreSQL cluster nobody else uses (scripts/postgres.sh on a free port under a directory of
    its own), so that a test may stop and restart it without disturbing any other test."""

    def __init__(self) -> None:
        self.base = Path(f"/tmp/pykube-ha-pg-{uuid.uuid4().hex[:8]}")
        self.port = free_port()
        self.url = ""

    def start(self) -> None:
        done = subprocess.run(["bash", str(_SCRIPTS / "postgres.sh"), str(self.base), str(self.port)],
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/postgres.sh failed:\n{done.stdout}\n{done.stderr}")
        self.url = done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """Stop at once, without a checkpoint, as a crash or a killed container would."""
        pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
        owner = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") and self.base.owner() == "postgres" else []
        subprocess.run([*owner, pg_ctl, "--pgdata", str(self.base / "data"), "stop", "-m", "immediate"],
                       capture_output=True, timeout=60, check=True)


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
            headers={"Authorization": f"Bearer {server.admin_token}"})
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


def eventually(check: Callable[[], T | None], what: str = "condition", *, timeout: float = 40.0) -> T:
    """Poll ``check`` until it returns something truthy, and return that: for effects of
    background work (controllers, garbage collection) that arrive a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


#: the image tests run: busybox from Debian's busybox-static, imported by scripts/docker.sh
BUSYBOX_IMAGE = "pykube.local/busybox:1.35"
_SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


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


def remove_node_containers(node: str) -> None:
    """Remove every container the agent of ``node`` created on the local engine, and then its pod
    network: pods still running when a test's server stops stay behind otherwise (a stopped agent
    leaves containers for the next one to adopt, and its network for them)."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.pykube.node={node}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
    subprocess.run(["docker", "network", "rm", f"pykube-{node}"[:60]], capture_output=True, check=False)


#: the host's address on the bridge that network-namespace nodes share (scripts/netns-node.sh)
BRIDGE_HOST_IP = "10.99.0.1"


def netns_node(action: str, index: int) -> list[str]:
    """``scripts/netns-node.sh up|down N``: node N as a network namespace with its own dockerd on the
    bridge; ``up`` returns (address, docker host)."""
    done = subprocess.run(["bash", str(_SCRIPTS / "netns-node.sh"), action, str(index)],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()[-2:]


def node_is_ready(server: RunningServer, name: str) -> bool:
    """The node has its pod subnet and reports Ready (False while the server does not answer)."""
    try:
        status, node = server.request("GET", f"/api/v1/nodes/{name}")
    except OSError:
        return False
    if status != 200 or not node["spec"].get("podCIDR"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


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
        script = ("import sys, urllib.request\n"
                  "print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode().strip())")
        done = self.on_node(node, sys.executable, "-c", script, url, str(timeout), timeout=timeout + 30)
        return done.stdout.strip() if done.returncode == 0 else None

    def start_agent(self, node: str) -> None:
        log = open(self.tmp / f"{node}.log", "ab")  # noqa: SIM115 - the agent process owns it
        self.agents[node] = subprocess.Popen(self.agent_args[node], stdout=log, stderr=subprocess.STDOUT,
                                             env={**os.environ, "PYTHONPATH": str(_SCRIPTS.parent)})

    def stop_agent(self, node: str, *, kill: bool = False) -> None:
        agent = self.agents.pop(node)
        agent.kill() if kill else agent.terminate()
        try:
            agent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


@contextlib.contextmanager
def netns_cluster(tmp: Path, server_node: str, nodes: dict[str, tuple[int, str]], *, cluster_cidr: str,
                  server_flags: tuple[str, ...] = ()) -> Iterator[NetnsCluster]:
    """A cluster of real nodes on one machine: the server's own node on this host (at the bridge address
    BRIDGE_HOST_IP) and, for each ``name: (index, proxy mode)``, a network namespace with its own dockerd
    running ``pykube agent``. Everything is torn down afterwards: agents, server, namespaces, the bridge,
    containers, and the host's proxy rules and routes."""
    ensure_docker()
    remove_node_containers(server_node)
    agents: dict[str, subprocess.Popen[bytes]] = {}
    server: RunningServer | None = None
    cluster: NetnsCluster | None = None
    try:
        joined = {name: netns_node("up", index) for name, (index, _) in nodes.items()}
        port = free_port()
        server = start_server(tmp / "server", "--node-name", server_node, "--node-ip", BRIDGE_HOST_IP,
                              "--advertise-address", BRIDGE_HOST_IP, "--bind-address", "0.0.0.0", "--cluster-cidr",
                              cluster_cidr, "--kubelet-port", "0", *server_flags, agent=True, port=port)
        token = (tmp / "server" / "node-token").read_text().strip()
        args = {name: ["nsenter", f"--net=/var/run/netns/pykube-node{index}", sys.executable, "-m",
                       "minikube_py.cli.main", "agent", "--join", f"https://{BRIDGE_HOST_IP}:{port}", "--token", token,
                       "--node-name", name, "--node-ip", joined[name][0], "--docker-host", joined[name][1],
                       "--data-dir", str(tmp / name), "--proxy-mode", mode]
                for name, (index, mode) in nodes.items()}
        cluster = NetnsCluster(server, server_node, {server_node: BRIDGE_HOST_IP, **{n: a for n, (a, _) in joined.items()}},
                               {n: i for n, (i, _) in nodes.items()}, agents, args, tmp)
        for name in nodes:
            cluster.start_agent(name)
        for name in cluster.ips:
            eventually(lambda n=name: node_is_ready(server, n), f"node {name} Ready", timeout=120)
        yield cluster
    finally:
        for name in list(agents):
            if cluster is not None:
                cluster.stop_agent(name)
        if server is not None:
            server.stop()
        for _, (index, _) in nodes.items():
            netns_node("down", index)
        remove_node_containers(server_node)
