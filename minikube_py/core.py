"""Assembles and runs a pykube server: store, PKI, API and (later) reconcilers and the agent.

Start-up is ordered (store → credentials → API → bootstrap objects → ready) and shutdown runs in
reverse: stop accepting connections, end watches, close the store so every acknowledged write is
flushed. :class:`Server` is an async context manager so tests and the CLI share one lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import ssl
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from minikube_py import pki
from minikube_py.agent.agent import Agent, embedded_credentials
from minikube_py.api.allocators import ServiceAllocator
from minikube_py.api.app import READY, build_app
from minikube_py.api.auth import Authenticator
from minikube_py.api.bootstrap import ClusterNetwork, ensure_bootstrap_objects
from minikube_py.api.nodecreds import node_credentials_handler
from minikube_py.api.registry import Registry
from minikube_py.client.kubeconfig import load_kubeconfig, write_kubeconfig
from minikube_py.client.rest import ApiClient
from minikube_py.config import AgentConfig, ServerConfig
from minikube_py.reconcilers.base import run_controllers
from minikube_py.reconcilers.leader import ElectionTiming, LeaderElector
from minikube_py.reconcilers.manager import ControllerOptions, build_controllers
from minikube_py.store import open_store
from minikube_py.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    admin_token: str
    node_secret: str
    join_token: str


class Server:
    """One running pykube server; ``async with Server(config) as s`` starts and stops it."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store: Store | None = None
        self.credentials: Credentials | None = None
        self.kubeconfig_path = config.data_dir / "kubeconfig.yaml"
        self._runner: web.AppRunner | None = None
        self._controllers: asyncio.Task[None] | None = None
        self._agent: asyncio.Task[None] | None = None
        self._pki: pki.Pki | None = None
        self.port = config.port

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{_dial_host(self.config.bind_address)}:{self.port}"

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = open_store(cfg.datastore, retain_revisions=cfg.watch.history)
        await self.store.start()
        try:
            # history a previous run kept beyond the retention goes now, not a compaction interval later
            await self.store.compact(await self.store.current_revision() - cfg.watch.history)
            await self._start_api()
        except BaseException:
            await self.stop()
            raise

    async def _start_api(self) -> None:
        cfg = self.config
        assert self.store is not None
        allocator = ServiceAllocator(self.store, cfg.service_cidr, cfg.service_node_port_range)
        registry = Registry(self.store, allocator)
        hosts = [cfg.bind_address, cfg.advertise_address, allocator.first_ip, socket.gethostname()]
        tls = pki.ensure_pki(cfg.data_dir / "pki", hosts=[h for h in hosts if h and h not in ("0.0.0.0", "::")])
        self.credentials = _load_credentials(cfg.data_dir, tls.ca_pem)
        authenticator = Authenticator(self.credentials.admin_token, self.credentials.node_secret)
        self._pki = tls
        kubelet_ssl = _kubelet_client_context(tls)
        app = build_app(registry, authenticator, f"{cfg.advertise_address}:{cfg.port}", kubelet_ssl)
        ca_pem = tls.ca_pem

        async def cacerts(_: web.Request) -> web.Response:
            return web.Response(body=ca_pem, content_type="application/x-pem-file")
        app.router.add_get("/cacerts", cacerts)
        app.router.add_post(pki.NODE_CREDENTIALS_PATH, node_credentials_handler(tls))
        network = ClusterNetwork(cfg.cluster_cidr, cfg.service_cidr, cfg.cluster_dns_ip, cfg.cluster_domain)
        await ensure_bootstrap_objects(registry, address=cfg.advertise_address, port=cfg.port, network=network)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.bind_address, cfg.port,
                           ssl_context=tls.server_ssl_context() if cfg.tls else None, reuse_address=True)
        await site.start()
        if cfg.port == 0:
            self.port = _bound_port(self._runner)
        write_kubeconfig(self.kubeconfig_path, server=self.url, ca_pem=tls.ca_pem,
                         token=self.credentials.admin_token)
        (cfg.data_dir / "node-token").write_text(self.credentials.join_token + "\n")
        os.chmod(cfg.data_dir / "node-token", 0o600)
        self._controllers = asyncio.create_task(self._run_controllers(), name="controllers")
        if not cfg.no_agent:
            self._agent = asyncio.create_task(self._run_agent(tls.ca_pem), name="embedded agent")
        app[READY]["ready"] = True

    async def _run_agent(self, ca_pem: bytes) -> None:
        """The server's own node, through the same HTTP API a joined agent uses."""
        cfg = self.config
        assert self.credentials is not None
        agent_cfg = AgentConfig(node_name=cfg.node_name, node_ip=cfg.node_ip or cfg.advertise_address,
                                docker_host=cfg.docker_host, data_dir=cfg.data_dir / "agent", runtime=cfg.agent_runtime,
                                max_pods=cfg.max_pods, kubelet_port=cfg.kubelet_port, proxy_mode=cfg.proxy_mode,
                                cluster_domain=cfg.cluster_domain)
        assert self._pki is not None
        cert, key = pki.issue_client_cert(self._pki, f"system:node:{cfg.node_name}", "system:nodes")
        credentials = embedded_credentials(self.url, ca_pem, cert, key)
        while True:  # as a supervisor restarts a failed kubelet: the node comes back when the cause goes
            try:
                await Agent(agent_cfg, credentials, control_plane=True).run()
            except Exception:
                log.exception("the embedded agent stopped; starting it again in %.0f s", AGENT_RESTART_DELAY)
            await asyncio.sleep(AGENT_RESTART_DELAY)

    async def _run_controllers(self) -> None:
        """The reconcilers run only while this server leads: of several servers on one store, one
        does; a lone server wins the Lease at once."""
        cfg = self.config
        timing = ElectionTiming(cfg.leader_elect_lease_duration, cfg.leader_elect_renew_deadline,
                                cfg.leader_elect_retry_period)
        async with ApiClient(load_kubeconfig(self.kubeconfig_path), user_agent="pykube-leader-election") as client:
            await LeaderElector(client, _server_identity(cfg.data_dir), timing).run(self._lead)

    async def _lead(self) -> None:
        """One term of leadership. The reconcilers talk to this server through the same HTTP client
        a remote agent uses, so there is one code path for every writer; a fresh client per term
        gives them fresh shared informers rather than the caches of a term that ended."""
        cfg = self.config
        options = ControllerOptions(node_monitor_grace_period=cfg.node_monitor_grace_period,
                                    pod_eviction_timeout=cfg.pod_eviction_timeout, cluster_cidr=cfg.cluster_cidr,
                                    node_cidr_mask_size=cfg.node_cidr_mask_size)
        async with ApiClient(load_kubeconfig(self.kubeconfig_path), user_agent="pykube-controller-manager") as client:
            try:
                await run_controllers(build_controllers(client, options))
            except* Exception as group:
                for exc in group.exceptions:
                    log.error("controller stopped: %r", exc, exc_info=exc)
                raise

    async def stop(self) -> None:
        if self._agent is not None:
            self._agent.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._agent
            self._agent = None
        if self._controllers is not None:
            self._controllers.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._controllers
            self._controllers = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.store is not None:
            await self.store.close()
            self.store = None


#: seconds before a failed embedded agent is started again
AGENT_RESTART_DELAY = 5.0


def _kubelet_client_context(tls: pki.Pki) -> ssl.SSLContext:
    """How the API server dials agents for logs/exec/port-forward: it proves itself with a client
    certificate of the cluster CA; agents serve self-signed certificates (as kubelets do by default),
    which kube-apiserver does not verify unless given a kubelet CA, and neither does pykube."""
    cert, key = pki.issue_client_cert(tls, "kube-apiserver-kubelet-client", "system:masters")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with tempfile.TemporaryDirectory() as tmp:
        chain = Path(tmp) / "client.pem"
        pki.write_file(chain, cert + b"\n" + key)
        ctx.load_cert_chain(chain)
    return ctx


def _server_identity(data_dir: Path) -> str:
    """The leader-election identity: host name plus an id kept in the data directory, so a server
    restarted after a crash recognises the Lease as its own instead of waiting for it to expire."""
    path = data_dir / "server-id"
    if not path.exists():
        path.write_text(uuid.uuid4().hex + "\n")
    return f"{socket.gethostname().lower()}_{path.read_text().strip()}"


def _load_credentials(data_dir: Path, ca_pem: bytes) -> Credentials:
    """Tokens are made once and kept, so kubeconfigs and joined agents stay valid across restarts."""
    admin = _persisted_secret(data_dir / "admin-token")
    node = _persisted_secret(data_dir / "node-secret")
    return Credentials(admin, node, pki.join_token(ca_pem, node))


def _persisted_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    secret = pki.new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def _dial_host(bind_address: str) -> str:
    if bind_address in ("0.0.0.0", ""):
        return "127.0.0.1"
    if bind_address == "::":
        return "[::1]"
    return f"[{bind_address}]" if ":" in bind_address else bind_address


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the API server is not listening")


#: allocations between young-generation collections (CPython's default is 700): the server allocates
#: a few thousand short-lived objects per request, so at 700 the young collector ran several times a
#: request and promoted request garbage into the older generations, whose collections then walked the
#: object cache and the watch ring (hundreds of thousands of long-lived dicts) again and again
_GC_GEN0_THRESHOLD = 50_000


def _tune_gc() -> None:
    """Process-wide collector settings for the long-running server (not for embedders such as tests).

    Everything alive after start-up (modules, the loaded object cache, TLS and app state) lives as
    long as the process, so :func:`gc.freeze` moves it out of the collector's sight; the higher young
    threshold makes collections rare and each one cheap relative to the work between them. Reference
    cycles are still collected, only less often, for a bounded amount of extra memory."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_GEN0_THRESHOLD, 20, 100)


async def serve_forever(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Server(config) as server:
        assert server.credentials is not None
        _tune_gc()
        print(f"pykube server listening on {server.url}", flush=True)
        print(f"  export KUBECONFIG={server.kubeconfig_path}", flush=True)
        print(f"  join a node: pykube agent --join {server.url} --token $(cat {config.data_dir / 'node-token'})",
              flush=True)
        await stop.wait()
        print("pykube server shutting down", flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(sig)
