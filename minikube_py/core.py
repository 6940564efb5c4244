"""Assembles and runs a pykube server: store, PKI, API, the controllers and the embedded agent.

Start-up is ordered (store → credentials → API → bootstrap objects → controllers → embedded agent →
ready) and shutdown runs in reverse: stop the agent and the controllers, stop accepting connections,
end watches, close the store so every acknowledged write is flushed. :class:`Server` is an async
context manager so tests and the CLI share one lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import os
import signal
import socket
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from minikube_py import pki
from minikube_py.client.kubeconfig import ClientConfig, write_kubeconfig
from minikube_py.client.rest import ApiClient
from minikube_py.config import DRAIN_TIMEOUT, AgentConfig, ServerConfig, audit_policy, carried
from minikube_py.guard import RESTART, STOP_TIMEOUT, Backoff, Health, PartFailed, guarded_task
from minikube_py.reconcilers.apiserverendpoints import ApiServerEndpoints
from minikube_py.reconcilers.base import run_controllers
from minikube_py.reconcilers.leader import ElectionTiming, LeaderElector
from minikube_py.store import open_store
from minikube_py.store.base import Store
from minikube_py.store.bootstrap import publish_sealed, read_record, read_sealed
from minikube_py.store.encryption import Encryption, EncryptionError

if TYPE_CHECKING:
    from aiohttp import web

    from minikube_py.api.audit import AuditLog
    from minikube_py.api.auth import Authenticator
    from minikube_py.model.audit import Policy

#: the files that make a cluster's identity, relative to the data directory: the same on every server
IDENTITY_FILES = ("pki/ca.crt", "pki/ca.key", "pki/service-account.key", "admin-token", "node-secret")
#: how often a server looks for a rotated cluster token in the datastore (a read of its memory cache)
TOKEN_POLL_INTERVAL = 2.0
#: the API's socket for the server's own parts, in its data directory
LOOPBACK_SOCKET = "api.sock"
#: the module that brings the API's imports (the kinds' rules, strategies, handlers, aiohttp's server):
#: see :meth:`Server._start`
API_MODULE = "minikube_py.api.app"


class ClusterIdentityError(Exception):
    """The server cannot take on its cluster's identity (a wrong or missing cluster token): it refuses
    to start rather than serve with credentials the other servers would refuse."""


@dataclass(frozen=True)
class Credentials:
    admin_token: str
    node_secret: str
    join_token: str


class Server:
    """One running pykube server; ``async with Server(config) as s`` starts and stops it.

    Each part is started with its teardown pushed beside it on one :class:`~contextlib.AsyncExitStack`
    (store → API → controllers → embedded agent), so a start-up that fails half-way and a normal stop
    both take down exactly what had started, in reverse. The background parts run as guarded tasks
    (:mod:`minikube_py.guard`): a crash is logged and the part restarted with ``restart``'s back-off.
    With ``restart=None`` (fail fast, for tests) a crash ends the server instead, as would any part
    ending for good: :meth:`wait` returns and :attr:`failure` says which part."""

    def __init__(self, config: ServerConfig, *, restart: Backoff | None = RESTART) -> None:
        self.config = config
        self.store: Store | None = None
        self.credentials: Credentials | None = None
        self.kubeconfig_path = config.data_dir / "kubeconfig.yaml"
        self.port = config.port
        #: why the server ended on its own (a part that could not be restarted); None while it runs
        self.failure: PartFailed | None = None
        self._restart = restart
        #: the controller manager's (scheduler included), which ComponentStatus reports
        self._control_plane = Health()
        self._pki: pki.Pki | None = None
        self._authenticator: Authenticator | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._ended = asyncio.Event()
        #: the API's own socket for this server's parts (see :meth:`_loopback`), set once it listens
        self._loopback_socket = ""

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
        async with contextlib.AsyncExitStack() as stack:
            await self._start(stack)
            self._stack = stack.pop_all()

    async def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
        self.store = None

    def request_stop(self) -> None:
        """End :meth:`wait` (what a signal handler calls)."""
        self._ended.set()

    async def wait(self) -> None:
        """Until :meth:`request_stop`, or until a background part ended for good (see :attr:`failure`)."""
        await self._ended.wait()

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        cfg = self.config
        # The database, keys and tokens are private from their creation: under umask 077 no file is
        # ever readable by others, not even between its creation and a chmod (SQLite's WAL and SHM
        # files take the database's mode). The umask is the process's, so it is restored before the
        # agent starts, whose pod volumes must stay readable by the pods' users.
        previous_umask = os.umask(0o077)
        try:
            _private_dir(cfg.data_dir)
            # the token opens the Secrets' keys, which the store needs before it loads any Secret
            encryption = Encryption(_cluster_secret(cfg.data_dir, cfg.token))
            self.store = store = open_store(cfg.datastore, encryption=encryption, retain_revisions=cfg.watch.history)
            stack.push_async_callback(store.close)  # also after a failed start: it closes what was opened
            try:
                await store.start()
            except EncryptionError as exc:
                raise ClusterIdentityError(str(exc)) from None
            # history a previous run kept beyond the retention goes now, not a compaction interval later
            await store.compact(await store.current_revision() - cfg.watch.history)
            # The API's modules (~0.07 s of imports) load on a worker thread meanwhile: the cluster
            # identity's scrypt (as long, sealing on a first start and opening on every other)
            # releases the GIL, so the two overlap on a second core. Not earlier: opening the store
            # hops between the loop and SQLite's thread, and each hop would wait for the GIL.
            api_imported = asyncio.ensure_future(_import_aside(API_MODULE))
            stack.callback(api_imported.cancel)  # a start that fails before it is awaited leaves it behind
            await adopt_cluster_identity(store, cfg.data_dir, cfg.token)
            encryption.secret = (cfg.data_dir / "node-secret").read_text().strip()
            await api_imported
            # loaded by now (see API_MODULE), as are those _start_api and the functions it calls import
            from minikube_py.api.app import READY
            from minikube_py.api.encryption import enable as enable_encryption

            if cfg.secrets_encryption:
                await enable_encryption(store)
            app = await self._start_api(stack, store)
            _server_identity(cfg.data_dir)  # made now, under the umask, for the leader elector
        finally:
            os.umask(previous_umask)
        await self._start_part(stack, "API server endpoints", self._keep_endpoints)
        await self._start_part(stack, "cluster token", self._follow_cluster_token)
        await self._start_part(stack, "controller manager", self._run_controllers, health=self._control_plane)
        if not cfg.no_agent:
            # a draining agent needs its pods' grace periods to stop them, not the usual few seconds
            await self._start_part(
                stack,
                "embedded agent",
                self._embedded_agent(),
                stop_timeout=DRAIN_TIMEOUT if cfg.drain_on_stop else STOP_TIMEOUT,
            )
        app[READY]["ready"] = True

    async def _start_api(self, stack: contextlib.AsyncExitStack, store: Store) -> web.Application:
        from aiohttp import web

        from minikube_py.api.allocators import ServiceAllocator
        from minikube_py.api.app import build_app
        from minikube_py.api.auth import Authenticator
        from minikube_py.api.bootstrap import ClusterNetwork, ensure_bootstrap_objects
        from minikube_py.api.connections import HeaderDeadline
        from minikube_py.api.limits import MAX_REQUEST_LINE
        from minikube_py.api.registry import Registry
        from minikube_py.model.apiservices import PROXY_CLIENT_NAME, authentication_config

        cfg = self.config
        allocator = ServiceAllocator(store, cfg.service_cidr, cfg.service_node_port_range)
        registry = Registry(store, allocator)
        hosts = [
            cfg.bind_address,
            cfg.advertise_address,
            allocator.first_ip,
            socket.gethostname(),
            *cfg.tls_san.split(","),
        ]
        tls = pki.ensure_pki(cfg.data_dir / "pki", hosts=[h for h in hosts if h and h not in ("0.0.0.0", "::")])
        self.credentials = _load_credentials(cfg.data_dir, tls.ca_pem)
        self._pki = tls
        self._authenticator = authenticator = Authenticator(self.credentials.admin_token, self.credentials.node_secret)
        front_proxy = pki.front_proxy(cfg.data_dir / "pki", PROXY_CLIENT_NAME)
        app = build_app(
            registry,
            authenticator,
            f"{cfg.advertise_address}:{cfg.port}",
            tls,
            _kubelet_client_context(tls),
            front_proxy=front_proxy,
            max_readonly=cfg.max_requests_inflight,
            max_mutating=cfg.max_mutating_requests_inflight,
            issuer=f"https://kubernetes.default.svc.{cfg.cluster_domain}",
            audit=_audit(cfg),
            control_plane=self._control_plane,
        )
        network = ClusterNetwork(cfg.cluster_cidr, cfg.service_cidr, cfg.cluster_dns_ip, cfg.cluster_domain)
        await ensure_bootstrap_objects(
            registry,
            address=cfg.advertise_address,
            port=cfg.port,
            network=network,
            extension_authentication=authentication_config(tls.ca_pem, front_proxy.ca_pem),
        )
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=2.0,
            keepalive_timeout=cfg.idle_timeout,
            max_line_size=MAX_REQUEST_LINE,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        assert runner.server is not None
        deadline = HeaderDeadline(runner.server, cfg.request_header_timeout)
        deadline.start()
        stack.push_async_callback(deadline.stop)
        site = web.TCPSite(
            runner,
            cfg.bind_address,
            cfg.port,
            ssl_context=tls.server_ssl_context() if cfg.tls else None,
            reuse_address=True,
        )
        await site.start()
        await self._listen_loopback(stack, runner)
        if cfg.port == 0:
            self.port = _bound_port(runner)
        write_kubeconfig(self.kubeconfig_path, server=self.url, ca_pem=tls.ca_pem, token=self.credentials.admin_token)
        (cfg.data_dir / "node-token").write_text(self.credentials.join_token + "\n")  # 0600: the umask
        return app

    async def _listen_loopback(self, stack: contextlib.AsyncExitStack, runner: web.AppRunner) -> None:
        """The API on ``api.sock`` in the data directory (private: made under the umask 077) for
        this server's own parts. They dial it as ``/proc/self/fd/<the directory>/api.sock``: a
        socket's address holds at most 107 bytes, which a deep data directory's path can pass, and
        uvloop cannot dial Linux's abstract socket names; a directory descriptor of this process
        names it in 25."""
        from aiohttp import web

        directory = os.open(self.config.data_dir, os.O_RDONLY | os.O_DIRECTORY)
        stack.callback(os.close, directory)
        self._loopback_socket = f"/proc/self/fd/{directory}/{LOOPBACK_SOCKET}"
        await web.UnixSite(runner, self._loopback_socket).start()
        stack.callback(_unlink, self.config.data_dir / LOOPBACK_SOCKET)

    async def _start_part(
        self,
        stack: contextlib.AsyncExitStack,
        name: str,
        run: Callable[[], Awaitable[None]],
        *,
        stop_timeout: float = STOP_TIMEOUT,
        health: Health | None = None,
    ) -> None:
        """Run ``run`` as a guarded background task until the server stops. Should its task ever end
        by itself (only a part that cannot be restarted does), the server ends too, with that
        failure, rather than running on without the part. ``health`` follows the part for reports."""
        task = await stack.enter_async_context(
            guarded_task(name, run, restart=self._restart, stop_timeout=stop_timeout, health=health)
        )

        def ended(done: asyncio.Task[None]) -> None:
            if done.cancelled():
                return  # stopped with the server
            error = done.exception()
            self.failure = error if isinstance(error, PartFailed) else PartFailed(name)
            self._ended.set()

        task.add_done_callback(ended)

    def _embedded_agent(self) -> Callable[[], Awaitable[None]]:
        """The server's own node, through the same HTTP API a joined agent uses; a fresh Agent per
        (re)start, as a supervisor restarts a failed kubelet."""
        cfg = self.config
        assert self.credentials is not None and self._pki is not None
        agent_cfg = carried(
            AgentConfig,
            cfg,
            node_ip=cfg.node_ip or cfg.advertise_address,
            data_dir=cfg.data_dir / "agent",
            runtime=cfg.agent_runtime,
            token="",  # the embedded agent holds the node's credentials, not a join token
        )
        loopback, ca_pem = self._loopback(), self._pki.ca_pem

        async def run() -> None:
            agent = await _import_aside("minikube_py.agent.agent")
            credentials = agent.embedded_credentials(loopback, ca_pem, cfg.node_name)
            await agent.Agent(agent_cfg, credentials, control_plane=True).run()

        return run

    def _loopback(self) -> ClientConfig:
        """How this server's own parts reach its API, as kube-apiserver's loopback client does: the
        admin's token over a Unix socket of the process, so the controllers' watches and writes skip
        the TLS that a network client needs (Python's TLS layer cost the scheduler bench ~4% of the
        event loop, and 512 KiB of buffers per connection) and still go through authentication,
        authorization and admission like any other request."""
        assert self.credentials is not None
        return ClientConfig(
            server="http://pykube-loopback", token=self.credentials.admin_token, unix_socket=self._loopback_socket
        )

    async def _keep_endpoints(self) -> None:
        """This server's Lease and, with the other servers, the ``default/kubernetes`` Endpoints that
        list every live server, so agents know where to fail over to."""
        cfg = self.config
        async with ApiClient(self._loopback(), user_agent="pykube-apiserver-endpoints") as client:
            await ApiServerEndpoints(client, _server_identity(cfg.data_dir), cfg.advertise_address, self.port).run()

    async def _follow_cluster_token(self) -> None:
        """Take on a cluster token rotated through any server (see :mod:`minikube_py.api.clustertoken`):
        the old one stops joining nodes here too, and the data directory's node-secret and
        node-token name the new one, so this server restarts into the same cluster."""
        assert self.store is not None and self._pki is not None and self._authenticator is not None
        servers_secret = pki.servers_secret(self._pki.ca_key.read_bytes())
        seen: dict[str, object] | None = None
        while True:
            record = await read_record(self.store)
            if record is not None and record.servers is not None and record.servers != seen:
                files = await asyncio.to_thread(pki.unseal, servers_secret, record.servers)
                secret = files["node-secret"].decode()
                self._authenticator.node_token = secret
                if self.credentials is None or secret != self.credentials.node_secret:
                    self.credentials = _load_credentials(self.config.data_dir, self._pki.ca_pem, node_secret=secret)
                    pki.write_file(self.config.data_dir / "node-token", (self.credentials.join_token + "\n").encode())
                seen = record.servers
            await asyncio.sleep(TOKEN_POLL_INTERVAL)

    async def _run_controllers(self) -> None:
        """The reconcilers run only while this server leads: of several servers on one store, one
        does; a lone server wins the Lease at once. A controller that fails ends the term (the Lease
        is released on the way out) and the guard starts a new election after its back-off."""
        cfg = self.config
        timing = ElectionTiming(
            cfg.leader_elect_lease_duration, cfg.leader_elect_renew_deadline, cfg.leader_elect_retry_period
        )
        async with ApiClient(self._loopback(), user_agent="pykube-leader-election") as client:
            await LeaderElector(client, _server_identity(cfg.data_dir), timing).run(self._lead)

    async def _lead(self) -> None:
        """One term of leadership. The reconcilers talk to this server through the same HTTP client
        and API a remote agent uses (over the :meth:`_loopback` socket), so there is one code path for
        every writer; a fresh client per term gives them fresh shared informers rather than the
        caches of a term that ended."""
        cfg = self.config
        assert self._pki is not None
        controllers = await _import_aside("minikube_py.reconcilers.manager")
        options = carried(controllers.ControllerOptions, cfg, root_ca_pem=self._pki.ca_pem, signing_ca=self._pki)
        async with ApiClient(self._loopback(), user_agent="pykube-controller-manager") as client:
            await run_controllers(controllers.build_controllers(client, options))


async def _import_aside(module: str) -> ModuleType:
    """Import ``module`` on a worker thread. The parts started after the API listens (the controllers
    and the embedded agent) bring ~0.2 s of imports; on the loop's thread they would hold back the
    first requests, and ``/readyz`` with them, though the API needs none of it. The API's own modules
    load so too, while the loop waits on the store and the cluster identity's scrypt."""
    return await asyncio.to_thread(importlib.import_module, module)


def _audit(cfg: ServerConfig) -> tuple[Policy, AuditLog] | None:
    if not cfg.audit_log_path:
        return None
    from minikube_py.api.audit import AuditLog

    return audit_policy(cfg), AuditLog(
        cfg.audit_log_path, max_size=cfg.audit_log_maxsize, max_backups=cfg.audit_log_maxbackup
    )


def _kubelet_client_context(tls: pki.Pki) -> ssl.SSLContext:
    """How the API server dials agents for logs/exec/port-forward, nodes/proxy and metrics: it proves
    itself with a client certificate of the cluster CA, and verifies the agent's serving certificate
    against the cluster CA (as kube-apiserver with --kubelet-certificate-authority): each dial names
    the node (``server_hostname``), whose name the certificate the CA issued to it holds, so a node's
    daemon endpoint pointed at any other listener fails closed."""
    cert, key = pki.issue_client_cert(tls, "kube-apiserver-kubelet-client", "system:masters")
    ctx = ssl.create_default_context(cadata=tls.ca_pem.decode())
    pki.load_client_identity(ctx, cert, key)
    return ctx


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _private_dir(path: Path) -> None:
    """The data directory, 0700 even when it existed with another mode, and the files an older
    version left readable made private (they were created before the umask was set)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    for name in (
        "state.db",
        "state.db-wal",
        "state.db-shm",
        "admin-token",
        "node-secret",
        "node-token",
        "kubeconfig.yaml",
        "server-id",
    ):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path / name, 0o600)


def _server_identity(data_dir: Path) -> str:
    """The leader-election identity: host name plus an id kept in the data directory, so a server
    restarted after a crash recognises the Lease as its own instead of waiting for it to expire."""
    path = data_dir / "server-id"
    if not path.exists():
        path.write_text(uuid.uuid4().hex + "\n")
    return f"{socket.gethostname().lower()}_{path.read_text().strip()}"


async def adopt_cluster_identity(store: Store, data_dir: Path, token: str) -> None:
    """Make the data directory's CA, signing key and tokens the cluster's (see
    :mod:`minikube_py.store.bootstrap`). With bootstrap data in the datastore they are opened with the
    cluster token and written here; without, this is the first server: it makes them (or keeps those
    of an earlier single-server life) and stores them sealed with the node secret, which is the
    cluster token. Two first servers starting at once both try; the loser of the conditional create
    adopts the winner's."""
    try:
        pin = pki.parse_join_token(token)[0] if token else None
    except ValueError as exc:
        raise ClusterIdentityError(f"--token: {exc}") from None
    secret = _cluster_secret(data_dir, token)
    while True:
        sealed = await read_sealed(store)
        if sealed is not None:
            break
        secret = _make_identity(data_dir, secret)
        files = {name: (data_dir / name).read_bytes() for name in IDENTITY_FILES}
        if await publish_sealed(store, await asyncio.to_thread(pki.seal, secret, files)):
            return
    if secret is None:
        raise ClusterIdentityError(
            "the datastore already holds a cluster: start this server with --token set to the cluster token "
            "(the node-token file in the first server's data directory)"
        )
    try:
        files = await asyncio.to_thread(pki.unseal, secret, sealed)
    except pki.WrongToken:
        raise ClusterIdentityError(
            "the cluster token does not match the one this datastore's cluster was created with: start this "
            "server with --token set to the cluster token (the node-token file in the first server's data "
            "directory)"
        ) from None
    if pin is not None and pki.ca_hash(files["pki/ca.crt"]) != pin:
        raise ClusterIdentityError("the cluster's CA does not match the CA hash in --token")
    for name, data in files.items():
        path = data_dir / name
        if not path.exists() or path.read_bytes() != data:
            pki.write_file(path, data, mode=0o644 if name.endswith(".crt") else 0o600)


def _cluster_secret(data_dir: Path, token: str) -> str | None:
    """The cluster token's secret: from ``--token``, else this server's own from an earlier start
    (None: a first start without one; :func:`adopt_cluster_identity` makes it)."""
    if token:
        try:
            return pki.parse_join_token(token)[1]
        except ValueError as exc:
            raise ClusterIdentityError(f"--token: {exc}") from None
    if (data_dir / "node-secret").exists():
        return (data_dir / "node-secret").read_text().strip()
    return None


def _make_identity(data_dir: Path, secret: str | None) -> str:
    """The first server's identity files, made where missing; returns the node secret (``secret`` if
    given: the cluster token chosen for a new cluster)."""
    pki.ensure_ca(data_dir / "pki")
    pki.ensure_ec_key(data_dir / "pki" / "service-account.key")
    _persisted_secret(data_dir / "admin-token")
    if secret is None:
        return _persisted_secret(data_dir / "node-secret")
    if not (data_dir / "node-secret").exists():
        pki.write_file(data_dir / "node-secret", (secret + "\n").encode())
    elif (data_dir / "node-secret").read_text().strip() != secret:
        raise ClusterIdentityError(f"{data_dir} belongs to a cluster with another token than --token")
    return secret


def _load_credentials(data_dir: Path, ca_pem: bytes, *, node_secret: str | None = None) -> Credentials:
    """Tokens are made once and kept, so kubeconfigs and joined agents stay valid across restarts;
    ``node_secret`` replaces the kept node secret (a rotated cluster token)."""
    admin = _persisted_secret(data_dir / "admin-token")
    if node_secret is not None:
        pki.write_file(data_dir / "node-secret", (node_secret + "\n").encode())
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
    cycles are still collected, only less often, for a bounded amount of extra memory.

    Only the young generations are collected before the freeze: a full pass over the ~90,000 objects
    the imports leave takes ~40 ms of the loop at the moment ``/readyz`` starts answering, and right
    after a start it finds no garbage (start-up's short-lived objects die young)."""
    gc.collect(1)
    gc.freeze()
    gc.set_threshold(_GC_GEN0_THRESHOLD, 20, 100)


async def serve_forever(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly. Raises :class:`PartFailed` (after the
    same clean shutdown) when a part of the server ended for good, so that the process exits with an
    error instead of serving on without it."""
    server = Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.request_stop)
    try:
        async with server:
            assert server.credentials is not None
            _tune_gc()
            print(f"pykube server listening on {server.url}", flush=True)
            print(f"  export KUBECONFIG={server.kubeconfig_path}", flush=True)
            print(
                f"  join a node: pykube agent --join {server.url} --token $(cat {config.data_dir / 'node-token'})",
                flush=True,
            )
            print(
                f"  add a server: pykube server --datastore <the same> --token $(cat {config.data_dir / 'node-token'})",
                flush=True,
            )
            await server.wait()
            print("pykube server shutting down", flush=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    if server.failure is not None:
        raise server.failure
