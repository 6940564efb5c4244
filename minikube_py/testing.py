"""Helpers for testing against a real pykube server, used by pykube's own tests and benchmarks.

The server under test is the real ``pykube server`` command in a subprocess, on a free loopback
port with a throwaway data directory, so callers exercise exactly what a user starts, and blocking
``kubectl`` subprocesses never stall the server's event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
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

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

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
        self.process.terminate()
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def start_server(data_dir: Path, *extra: str, port: int | None = None, agent: bool = False) -> RunningServer:
    """Start ``pykube server`` and wait until it answers /readyz. Without ``agent`` the server runs no
    node of its own (``--no-agent``): control-plane tests bring hollow nodes instead of containers."""
    port = port or free_port()
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the subprocess owns it for its lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "minikube_py.cli.main", "server", "--data-dir", str(data_dir), "--bind-address",
         "127.0.0.1", "--port", str(port), *(() if agent else ("--no-agent",)), *extra],
        stdout=log, stderr=subprocess.STDOUT,
    )
    cache = data_dir.parent / f"{data_dir.name}-kubecache"
    cache.mkdir(exist_ok=True)
    server = RunningServer(f"https://127.0.0.1:{port}", data_dir, process, cache, log_path)
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
    """Remove every container the agent of ``node`` created on the local engine: pods still running
    when a test's server stops stay behind otherwise (a stopped agent leaves containers for the next
    one to adopt)."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.pykube.node={node}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
