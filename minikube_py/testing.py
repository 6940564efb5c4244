"""Helpers for testing against a real pykube server: start one, talk to it, wait for a condition.

The server under test is the real ``pykube server`` command in a subprocess, on a free loopback
port with a throwaway data directory, so callers exercise exactly what a user starts, and blocking
``kubectl`` subprocesses never stall the server's event loop. Everything here works from an installed
package (it starts the server as ``python -m minikube_py.cli.main`` and finds kubectl on PATH); what
needs pykube's repository (the install scripts, the test images, network-namespace nodes) is the test
suite's own, in ``tests/support.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

#: the kubectl that ``RunningServer.kubectl`` runs: the one on PATH
KUBECTL = shutil.which("kubectl") or "kubectl"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerEndpoint:
    """A pykube server as a test reaches it: its URL, its data directory (kubeconfig, tokens, CA) and
    its log, wherever it runs (a subprocess here, or a thread of the test process in pykube's own
    test suite)."""

    url: str
    data_dir: Path
    cache_dir: Path
    log_path: Path

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

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server; ``check`` raises with its output on failure."""
        full_env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.cache_dir),
            **(env or {}),
        }
        done = subprocess.run(
            [KUBECTL, *args], input=input, capture_output=True, text=True, env=full_env, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One raw HTTPS request; returns (status, decoded JSON or text). ``token`` defaults to the
        admin token; an empty one sends no Authorization header at all (an anonymous request)."""
        status, _, answer = self.exchange(method, path, body, content_type=content_type, token=token, headers=headers)
        return status, answer

    def exchange(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Message, Any]:
        """:meth:`request`, also returning the answer's headers (its ``Warning`` headers, say)."""
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
                return resp.status, resp.headers, _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, err.headers, _decode(err.read())


@dataclass
class RunningServer(ServerEndpoint):
    """``pykube server`` in a subprocess (see :func:`start_server`)."""

    process: subprocess.Popen[bytes]
    #: the server runs a node whose service proxy writes iptables rules and routes on this host
    node_network: bool = False

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
                subprocess.run(
                    [sys.executable, "-m", "minikube_py.cli.main", "server", "--cleanup"],
                    capture_output=True,
                    check=False,
                    timeout=60,
                )


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


#: servers of tests leave the node's ports 80 and 443 alone (parallel tests would fight over them);
#: a test of the ingress controller gives ports of its own after these
_NO_INGRESS = ("--ingress-http-port", "0", "--ingress-https-port", "0")


def server_flags(data_dir: Path, port: int, *extra: str, agent: bool = False) -> list[str]:
    """The flags of a test's ``pykube server``: ``data_dir``, loopback on ``port``, and without
    ``agent`` no node of its own (``--no-agent``), then ``extra``."""
    return [
        "--data-dir",
        str(data_dir),
        "--bind-address",
        "127.0.0.1",
        "--port",
        str(port),
        *(_NO_INGRESS if agent else ("--no-agent",)),
        *extra,
    ]


def server_files(data_dir: Path) -> tuple[Path, Path]:
    """Where a test's server beside ``data_dir`` logs, and kubectl's cache directory for it (made)."""
    cache = data_dir.parent / f"{data_dir.name}-kubecache"
    cache.mkdir(parents=True, exist_ok=True)
    return data_dir.parent / f"{data_dir.name}-server.log", cache


def start_server(data_dir: Path, *extra: str, port: int | None = None, agent: bool = False) -> RunningServer:
    """Start ``pykube server`` and wait until it answers /readyz. Without ``agent`` the server runs no
    node of its own (``--no-agent``): control-plane tests join fake nodes (agents on the fake runtime) instead."""
    port = port or free_port()
    log_path, cache = server_files(data_dir)
    log = open(log_path, "ab")  # noqa: SIM115 - the subprocess owns it for its lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "minikube_py.cli.main", "server", *server_flags(data_dir, port, *extra, agent=agent)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # only a node whose service proxy runs writes host rules and routes for the stop to remove
    flags = list(extra)
    proxy_off = any(
        flags[i : i + 2] in (["--proxy-mode", "none"], ["--agent-runtime", "fake"]) for i in range(len(flags) - 1)
    )
    server = RunningServer(
        f"https://127.0.0.1:{port}", data_dir, cache, log_path, process=process, node_network=agent and not proxy_off
    )
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


def remove_node_containers(node: str) -> None:
    """Remove every container the agent of ``node`` created on the local engine, and then its pod
    network: pods still running when a test's server stops stay behind otherwise (a stopped agent
    leaves containers for the next one to adopt, and its network for them)."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=io.pykube.node={node}"], capture_output=True, text=True, check=True
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
    subprocess.run(["docker", "network", "rm", f"pykube-{node}"[:60]], capture_output=True, check=False)


def node_is_ready(server: ServerEndpoint, name: str) -> bool:
    """The node has its pod subnet and reports Ready (False while the server does not answer)."""
    try:
        status, node = server.request("GET", f"/api/v1/nodes/{name}")
    except OSError:
        return False
    return status == 200 and is_ready_node(node)


def is_ready_node(node: dict[str, Any]) -> bool:
    """A Node object with its pod subnet and a Ready condition that is True."""
    if not node["spec"].get("podCIDR"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
