"""The node agent: joins the cluster, registers its Node, heartbeats, and runs the pods bound to it.

The same code runs inside ``pykube server`` (credentials handed over in-process) and as ``pykube agent
--join URL --token T`` on other hosts, where the token's CA hash pins the server's certificate
authority before any secret is sent (k3s' scheme).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shutil
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from minikube_py import pki
from minikube_py.agent.cleanup import report_foreign_objects
from minikube_py.agent.context import NodeContext
from minikube_py.agent.eviction import MemoryEviction
from minikube_py.agent.health import RULES, DiskCheck, NodeHealth, Part, Problem, runtime_down
from minikube_py.agent.imagegc import ImageCollector
from minikube_py.agent.localpath import storage_root
from minikube_py.agent.localstorage import LocalStorageEviction
from minikube_py.agent.network import NETWORK_UNAVAILABLE, PodNetwork, network_name
from minikube_py.agent.node import CONTROL_PLANE_LABEL, node_labels, node_status, status_changed
from minikube_py.agent.node import now as node_now
from minikube_py.agent.pods import PodManager, PodSources
from minikube_py.agent.runtime.base import MachineInfo, Runtime, host_machine
from minikube_py.agent.server import KubeletServer
from minikube_py.agent.stats import NodeStats, node_is_host
from minikube_py.client.errors import AlreadyExistsError, ApiError, ConflictError, NotFoundError
from minikube_py.client.events import EventRecorder
from minikube_py.client.informer import Informer
from minikube_py.client.kubeconfig import ClientConfig
from minikube_py.client.rest import ApiClient, resource_path
from minikube_py.config import DRAIN_SECONDS, AgentConfig, default_advertise_address
from minikube_py.guard import guard
from minikube_py.model import eviction
from minikube_py.model.apiserverleases import server_urls
from minikube_py.model.csi import csi_node
from minikube_py.model.eviction import parse_thresholds
from minikube_py.model.quantity import value
from minikube_py.model.rbac import NODE_USER_PREFIX, NODES_GROUP
from minikube_py.model.times import rfc3339_micro
from minikube_py.model.volumebinding import LOCAL_PATH_ROOT_ANNOTATION
from minikube_py.netproxy.ingress import IngressController, IngressOptions
from minikube_py.netproxy.proxy import ProxyOptions, ServiceProxy

log = logging.getLogger(__name__)

#: kube-system/<this> ConfigMap with the cluster's network settings (written by the server at start)
CLUSTER_CONFIG = "pykube-cluster"
#: the API servers the agent last knew of, one URL a line, in its data directory
SERVERS_FILE = "api-servers"
#: the node's password (see :func:`node_password`), in its data directory
NODE_PASSWORD_FILE = "node-password"
#: an engine that does not answer its ping within this is down (Ready=False)
RUNTIME_TIMEOUT = 5.0
#: the longest wait between two looks for the node's pod subnet
MAX_CIDR_POLL_SECONDS = 5.0
#: a node reports its full status at least this often even when nothing changed, as kubelet
STATUS_REFRESH_SECONDS = 300.0
#: the API server presents this identity when it relays logs, exec and port-forward
APISERVER_CLIENT_CN = "kube-apiserver-kubelet-client"


class JoinError(Exception):
    """The agent cannot join: wrong token, a server whose CA does not match it, unreachable server."""


@dataclass(frozen=True)
class Credentials:
    client: ClientConfig
    ca_pem: bytes
    #: the node whose user the client acts as (impersonation, as a fleet's nodes do): the server's own
    #: agent, whose client is the server's loopback one; None when the client's certificate is the node's
    acting_as: str | None = None


async def join(server: str, token: str) -> Credentials:
    """Fetch the server's CA without trusting it, accept it only if it matches the token's pin, then
    use the token's secret over the now verified connection."""
    try:
        pin, secret = pki.parse_join_token(token)
    except ValueError as e:
        raise JoinError(str(e)) from None
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
            session.get(f"{server}/cacerts", ssl=insecure) as resp,
        ):
            if resp.status != 200:
                raise JoinError(f"{server}/cacerts answered {resp.status}")
            ca_pem = await resp.read()
    except (aiohttp.ClientError, OSError) as e:
        raise JoinError(f"cannot reach {server}: {e}") from None
    if pin is None:
        raise JoinError("the token carries no CA hash (K10...::server:...): refusing to trust an unverified server")
    try:
        actual = pki.ca_hash(ca_pem)
    except ValueError:
        raise JoinError(f"{server}/cacerts did not return a certificate") from None
    if actual != pin:
        raise JoinError(f"the server's CA ({actual}) does not match the hash in the token ({pin}): refusing to join")
    return Credentials(ClientConfig(server=server, ca_pem=ca_pem, token=secret), ca_pem)


async def node_certificate(bootstrap: Credentials, node_name: str, data_dir: Path) -> Credentials:
    """Trade the join token for this node's own client certificate (kept in ``data_dir`` and reused
    while it is valid for the same CA), and return credentials that use it instead of the token. The
    node password in ``data_dir`` proves to the server that this agent is the one that registered the
    node, should the node exist already."""
    cert_path, key_path = data_dir / "node-client.crt", data_dir / "node-client.key"
    if not _issued_by(cert_path, bootstrap.ca_pem, node_name) or not key_path.exists():
        csr, key = pki.node_csr(node_name)
        answer = await _node_credentials(bootstrap.client, node_name, data_dir, csr=csr.decode())
        pki.write_file(key_path, key)
        pki.write_file(cert_path, answer["certificate"].encode(), mode=0o644)
    client = ClientConfig(
        server=bootstrap.client.server,
        ca_pem=bootstrap.ca_pem,
        client_cert_pem=cert_path.read_bytes(),
        client_key_pem=key_path.read_bytes(),
    )
    return Credentials(client, bootstrap.ca_pem)


async def _node_credentials(config: ClientConfig, node_name: str, data_dir: Path, **request: Any) -> dict[str, Any]:
    """One request for node credentials (with the join token or the node's certificate)."""
    body = {"nodeName": node_name, "nodePassword": node_password(data_dir), **request}
    async with ApiClient(config, user_agent=f"pykube-agent/{node_name}") as client:
        try:
            return await client.request("POST", pki.NODE_CREDENTIALS_PATH, body=body)
        except ApiError as e:
            raise JoinError(f"the server refused node credentials: {e}") from None


def node_password(data_dir: Path) -> str:
    """This node's password (made at its first join, kept 0600 in its data directory, as k3s keeps
    its node password): the server keeps its hash, and gives the node's name to no other agent."""
    path = data_dir / NODE_PASSWORD_FILE
    if not path.exists():
        pki.write_file(path, (pki.new_token() + "\n").encode())
    return path.read_text().strip()


def _issued_by(cert_path: Path, ca_pem: bytes, node_name: str) -> bool:
    if not cert_path.exists():
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    except (ValueError, TypeError, InvalidSignature):
        return False
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return bool(names) and names[0].value == f"system:node:{node_name}" and cert.not_valid_after_utc > datetime.now(UTC)


def _authorizer(ca_pem: bytes) -> Any:
    """Only a client certificate of the cluster CA naming the API server may use the node's endpoint
    (the TLS layer has already verified the chain against ``ca_pem``)."""

    def authorize(request: web.Request) -> bool:
        transport = request.transport
        cert = transport.get_extra_info("peercert") if transport is not None else None
        if not cert:
            return False
        subject = {k: v for rdn in cert.get("subject", ()) for k, v in rdn}
        return subject.get("commonName") == APISERVER_CLIENT_CN or subject.get("organizationName") == "system:masters"

    return authorize


async def _serving_context(credentials: Credentials, node_name: str, node_ip: str, data_dir: Path) -> ssl.SSLContext:
    """TLS for the kubelet endpoint: a serving certificate the cluster CA issued for this node's name
    and address (asked for with the node's own certificate whenever the one on disk is missing, from
    another CA or node, or does not cover the address: also the first start of an agent that served
    a self-signed one before), which the API server verifies; clients must bring a certificate of
    the cluster CA."""
    cert_path, key_path = data_dir / "kubelet.crt", data_dir / "kubelet.key"
    hosts = [node_ip]
    usable = (
        cert_path.exists()
        and key_path.exists()
        and pki.node_serving_cert_valid(cert_path.read_bytes(), credentials.ca_pem, node_name, hosts)
    )
    if not usable:
        csr, key = pki.node_csr(node_name)
        answer = await _node_credentials(
            credentials.client, node_name, data_dir, servingCsr=csr.decode(), addresses=hosts
        )
        pki.write_file(key_path, key)
        pki.write_file(cert_path, answer["servingCertificate"].encode(), mode=0o644)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=credentials.ca_pem.decode())
    ctx.load_cert_chain(cert_path, key_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _runtime(config: AgentConfig) -> Runtime:
    if config.runtime == "fake":
        from minikube_py.agent.runtime.fake import FakeRuntime

        return FakeRuntime(config.fake_cpus, value(config.fake_memory))
    from minikube_py.agent.runtime.docker import DockerRuntime

    return DockerRuntime(config.docker_host or None)


class Agent:
    """One node. :meth:`run` is ``pykube agent``: join, open its own client, serve the kubelet endpoint,
    then :meth:`serve`. A fleet of fake nodes in one process (:mod:`.fleet`) calls :meth:`serve` for
    each with what they share; a node's disk check (``disk``) may be shared too."""

    def __init__(
        self,
        config: AgentConfig,
        credentials: Credentials | None = None,
        *,
        control_plane: bool = False,
        disk: DiskCheck | None = None,
    ) -> None:
        self.config = config
        self._credentials = credentials
        self._control_plane = control_plane
        self._transitions: dict[str, tuple[str, str]] = {}
        self._network: PodNetwork | None = None
        self._status_due = asyncio.Event()  # set when the node status has news to write before the next beat
        self._runtime_up = asyncio.Event()  # the engine answers: pods can be run
        self._health = NodeHealth([])
        self._machine = host_machine()
        self._storage = 0  # the size of the filesystem of its data directory: its ephemeral-storage
        self._thresholds = parse_thresholds(config.eviction_hard)
        self._disk = disk or DiskCheck(self._disk_paths, self._thresholds)
        self._eviction: MemoryEviction | None = None  # the node's eviction manager, once it serves
        self._storage_limits: LocalStorageEviction | None = None  # its pods' local storage limits, with them
        self._images: ImageCollector | None = None  # its engine's images, once it serves
        self._node_object: dict[str, Any] | None = None  # the Node as last read or written, for admission
        self._pods: PodManager | None = None  # its pods, once the engine answered

    async def run(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        credentials = self._credentials
        remembered = _remembered_servers(cfg.data_dir) if credentials is None else []
        if credentials is None:
            credentials = await node_certificate(
                await _join_any([cfg.server, *remembered], cfg.token), cfg.node_name, cfg.data_dir
            )
        runtime = _runtime(cfg)
        try:
            async with ApiClient(credentials.client, user_agent=f"pykube-agent/{cfg.node_name}", timeout=60) as client:
                client.set_servers([*remembered, cfg.server] if remembered else [])
                if credentials.acting_as is not None:
                    client = client.impersonating(f"{NODE_USER_PREFIX}{credentials.acting_as}", [NODES_GROUP])
                await self._run(client, runtime, credentials)
        finally:
            await runtime.close()

    async def _run(self, client: ApiClient, runtime: Runtime, credentials: Credentials) -> None:
        cfg = self.config
        node_ip = cfg.node_ip or default_advertise_address()
        kubelet_ssl = await _serving_context(credentials, cfg.node_name, node_ip, cfg.data_dir)
        # the endpoint needs only the node's name; the pod network is known once the node is registered
        stats = NodeStats(runtime, cfg.node_name, host=node_is_host(cfg.runtime, cfg.docker_host))
        server = KubeletServer(
            runtime,
            NodeContext(cfg.node_name, node_ip, cfg.data_dir, "", cfg.pause_image),
            kubelet_ssl,
            authorize=_authorizer(credentials.ca_pem),
            stats=stats,
        )
        bind = "0.0.0.0" if node_ip != "127.0.0.1" else "127.0.0.1"
        port = await server.start(bind, cfg.kubelet_port)
        try:
            await self.serve(client, runtime, node_ip, port)
        finally:
            await server.stop()

    async def serve(
        self, client: ApiClient, runtime: Runtime, node_ip: str, kubelet_port: int, sources: PodSources | None = None
    ) -> None:
        """Register the node, then heartbeat and run its pods until cancelled. ``kubelet_port`` is what
        the node advertises for logs and exec (0: none); ``sources``, pod sources shared with other
        nodes and run by their owner (by default the node watches its own)."""
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        recorder = EventRecorder(client, "kubelet", host=cfg.node_name)
        self._health = NodeHealth([Part.RUNTIME, Part.DISK, Part.MEMORY], on_change=self._health_changed(recorder))
        self._machine = await self._read_machine(runtime)
        self._storage = (await asyncio.to_thread(shutil.disk_usage, cfg.data_dir)).total
        self._eviction = MemoryEviction(
            self._thresholds.get(eviction.MEMORY),
            cfg.eviction_pressure_transition_seconds,
            runtime,
            cfg.node_name,
            host=node_is_host(cfg.runtime, cfg.docker_host),
            recorder=recorder,
            node_ref=self._node_ref,
        )
        self._images = ImageCollector(
            runtime, cfg.image_gc.policy, cfg.data_dir, cfg.node_name, recorder=recorder, node_ref=self._node_ref
        )
        try:
            labels = node_labels(cfg.node_name, self._machine, cfg.labels)
            if self._control_plane:
                labels[CONTROL_PLANE_LABEL] = ""
            status = self._status(node_ip, kubelet_port, {})
            storage = {LOCAL_PATH_ROOT_ANNOTATION: str(storage_root(cfg.data_dir))}
            # the Lease first (as the kubelet's lease controller may create it before the Node), so that
            # a node anyone sees registered and Ready already holds its Lease
            await self._renew_lease(client)
            await self._register(client, labels, storage, status)
            # the heartbeat runs from here on, so that a node whose engine is down says so while it waits
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(
                    self._heartbeat(client, runtime, node_ip, kubelet_port, status), name="node heartbeat"
                )
                tasks.create_task(self._run_pods(client, runtime, node_ip, recorder, sources), name="node pods")
                # the embedded agent lives and dies with its server; a fleet's nodes share one client
                if not self._control_plane and sources is None:
                    tasks.create_task(_follow_api_servers(client, cfg.data_dir, cfg.server), name="API servers")
        finally:
            recorder.close()

    async def _run_pods(
        self, client: ApiClient, runtime: Runtime, node_ip: str, recorder: EventRecorder, sources: PodSources | None
    ) -> None:
        """The node's pod network, its service proxy and its pods, once the engine answers."""
        cfg = self.config
        await self._runtime_up.wait()
        if cfg.runtime == "docker":
            await report_foreign_objects(cfg.docker_host, cfg.node_name)
        pause = cfg.pause_image or await self._pause_image_once_up(runtime)
        pause_id = await runtime.image_id(pause)
        if pause_id is not None and self._images is not None:
            self._images.pin(pause_id)
        pod_cidr = await self._wait_for_pod_cidr(client)
        cluster = await _cluster_settings(client)
        mode = cfg.effective_proxy_mode
        proxy = None
        if mode != "none":
            proxy = ServiceProxy(
                client,
                ProxyOptions(
                    cfg.node_name,
                    mode,
                    cluster_cidr=cluster.get("clusterCIDR", ""),
                    dns_ip=cluster.get("clusterDNS", ""),
                    cluster_domain=cluster.get("clusterDomain", cfg.cluster_domain),
                ),
                recorder=EventRecorder(client, "kube-proxy", host=cfg.node_name),
                on_problem=self._proxy_problem,
            )
            self._health.watch(Part.PROXY, *([Part.DNS] if proxy.options.dns_ip else []))
        pod_network = network_name(cfg.node_name)
        gateway = str(next(ipaddress.ip_network(pod_cidr).hosts()))
        manager: PodManager | None = None

        def network_changed() -> None:
            self._status_due.set()
            state = network.state
            if state is not None and state.unavailable:
                recorder.emit(self._node_ref(), "Warning", state.reason, state.message)
            elif manager is not None:
                manager.wake_all()  # the pods waiting for the network

        # with the proxy, pod traffic is masqueraded only when it leaves the cluster CIDR; the network is
        # made in the background so that a node whose subnet is taken keeps running and says so
        network = self._network = PodNetwork(
            runtime,
            pod_network,
            pod_cidr,
            gateway,
            masquerade=proxy is None or not proxy.options.cluster_cidr,
            on_change=network_changed,
        )
        dns = cfg.cluster_dns or (proxy.options.dns_ip if proxy is not None else "")
        node = NodeContext(
            cfg.node_name,
            node_ip,
            cfg.data_dir,
            pod_network,
            pause,
            cluster_dns=[s for s in dns.split(",") if s],
            cluster_domain=proxy.options.cluster_domain if proxy else cfg.cluster_domain,
            allow_privileged=cfg.allow_privileged,
            max_pods=cfg.max_pods,
        )
        manager = self._pods = PodManager(
            client,
            runtime,
            node,
            recorder=recorder,
            network=network,
            sources=sources,
            pressures=self._pressures,
            node_object=lambda: self._node_object,
            image_used=self._images.used if self._images is not None else lambda _image_id: None,
        )
        self._storage_limits = LocalStorageEviction(
            runtime, cfg.node_name, manager.volumes, recorder=recorder, node_ref=self._node_ref
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(network.run(), name="pod network")
                tasks.create_task(manager.run(), name="pod manager")
                if proxy is not None:
                    tasks.create_task(guard("service proxy", proxy.run), name="service proxy")
                ingress = self._ingress_controller(client, recorder)
                if ingress is not None:
                    tasks.create_task(guard("ingress controller", ingress.run), name="ingress controller")
        except asyncio.CancelledError:
            # stopped (SIGTERM): by default the pods run on and the next start adopts them
            if cfg.drain_on_stop:
                await manager.drain(DRAIN_SECONDS)
            raise
        finally:
            await manager.close()

    def _ingress_controller(self, client: ApiClient, recorder: EventRecorder) -> IngressController | None:
        """The node's ingress controller, for pods reachable at their IPs (the docker runtime) when a
        port is configured; a port it cannot open is a Warning event on the node, retried."""
        cfg = self.config
        if cfg.runtime != "docker" or not (cfg.ingress_http_port or cfg.ingress_https_port):
            return None
        reported: list[str | None] = [None]

        def problem(message: str | None) -> None:
            if message is not None and message != reported[0]:
                log.warning("ingress controller: %s", message)
                recorder.emit(self._node_ref(), "Warning", "IngressPortUnavailable", message)
            reported[0] = message

        return IngressController(
            client, IngressOptions(cfg.ingress_http_port, cfg.ingress_https_port), on_problem=problem
        )

    async def _read_machine(self, runtime: Runtime) -> MachineInfo:
        """The engine's facts, or the host's while the engine does not answer (the node registers all
        the same, not Ready, saying why)."""
        try:
            machine = await runtime.machine()
        except Exception as e:
            self._health.report(Part.RUNTIME, runtime_down(e, self.config.docker_host))
            return host_machine()
        self._health.report(Part.RUNTIME, None)
        self._runtime_up.set()  # also at the first start, when there is no change to announce
        return machine

    def _health_changed(self, recorder: EventRecorder) -> Callable[[Part, Problem | None], None]:
        def changed(part: Part, problem: Problem | None) -> None:
            self._status_due.set()
            if part is Part.RUNTIME:
                (self._runtime_up.clear if problem is not None else self._runtime_up.set)()
            if problem is not None:
                recorder.emit(self._node_ref(), "Warning", problem.reason, problem.message)
            else:
                rule = RULES[part]
                recorder.emit(self._node_ref(), "Normal", rule.recovered, rule.message_good)

        return changed

    def _proxy_problem(self, part: str, message: str | None) -> None:
        watched = Part.DNS if part == "dns" else Part.PROXY
        reason = "ClusterDNSFailed" if watched is Part.DNS else "ServiceProxyFailed"
        self._health.report(watched, Problem(reason, message) if message is not None else None)

    def _status(self, node_ip: str, port: int, current: dict[str, Any]) -> dict[str, Any]:
        """The status to report, given the ``current`` one on the server (empty at registration)."""
        cfg = self.config
        return node_status(
            self._machine,
            ip=node_ip,
            hostname=socket.gethostname(),
            max_pods=cfg.max_pods,
            kubelet_port=port,
            transitions=self._transitions,
            extra=self._network_conditions(current.get("conditions") or []),
            health=self._health.conditions(),
            eviction_reserve=self._eviction.reserve(self._machine.memory_bytes) if self._eviction else 0,
            storage=self._storage,
            storage_reserve=nodefs.bytes(self._storage) if (nodefs := self._thresholds.get(eviction.NODEFS)) else 0,
            reported=current,
            images=self._images.status_images() if self._images is not None else [],
        )

    async def _pause_image_once_up(self, runtime: Runtime) -> str:
        """The pause image, made once the engine answers. An engine that stops answering meanwhile is
        reported by the heartbeat's check (run here at once), and the image made when it is back: an
        outage at start-up is a node condition, not a failed agent."""
        while True:
            await self._runtime_up.wait()
            try:
                return await _pause_image(runtime)
            except Exception:
                await self._check_node(runtime)
                if self._health.problem(Part.RUNTIME) is None:
                    raise  # the engine answers: a real failure

    async def _check_node(self, runtime: Runtime) -> None:
        """The engine answers and the node's filesystems have room: checked with every heartbeat."""
        try:
            async with asyncio.timeout(RUNTIME_TIMEOUT):
                await runtime.ping()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._health.report(Part.RUNTIME, runtime_down(e or "no answer", self.config.docker_host))
        else:
            if self._health.problem(Part.RUNTIME) is not None:
                self._machine = await self._read_machine(runtime)
        self._health.report(Part.DISK, await self._disk.problem())
        if self._eviction is not None and self._health.problem(Part.RUNTIME) is None:
            workers = self._pods.workers.values() if self._pods is not None else ()
            self._health.report(Part.MEMORY, await self._eviction.check(self._machine.memory_bytes, workers))
            if self._storage_limits is not None:
                await self._storage_limits.check(workers)
                if self._health.problem(Part.DISK) is not None and not any(w.stopping for w in workers):
                    await self._storage_limits.relieve(workers, self._disk, self._images)
        if self._images is not None and self._health.problem(Part.RUNTIME) is None:
            await self._images.check(Path(self._machine.root_dir) if self._machine.root_dir else None)

    def _pressures(self) -> tuple[str, ...]:
        """The node's pressure conditions now, as its eviction manager lists them to refuse pods."""
        memory = self._eviction is not None and self._eviction.under_pressure
        disk = self._health.problem(Part.DISK) is not None
        return tuple(kind for kind, on in (("MemoryPressure", memory), ("DiskPressure", disk)) if on)

    def _disk_paths(self) -> list[tuple[Path, str]]:
        """The node's filesystems: its data directory's and the engine's when that is on this host."""
        engine = [(Path(self._machine.root_dir), eviction.IMAGEFS)] if self._machine.root_dir else []
        return [(self.config.data_dir, eviction.NODEFS), *engine]

    def _node_ref(self) -> dict[str, Any]:
        """The Node as events refer to it (kubelet uses the node's name as its uid in events)."""
        name = self.config.node_name
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": name}}

    def _network_conditions(self, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The NetworkUnavailable condition to report. Until the agent has tried to make its network the
        condition is not its own (the node IPAM controller sets it while the node has no subnet): the one
        on the node is carried over, since the merge patch replaces the whole list."""
        state = self._network.state if self._network is not None else None
        if state is not None:
            return [state.condition(node_now())]
        return [c for c in current if c.get("type") == NETWORK_UNAVAILABLE]

    async def _register(
        self, client: ApiClient, labels: dict[str, str], annotations: dict[str, str], status: dict[str, Any]
    ) -> None:
        path = resource_path("v1", "nodes", name=self.config.node_name)
        metadata = {"name": self.config.node_name, "labels": labels, "annotations": annotations}
        manifest = {"apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": {}, "status": status}
        try:
            await client.create("/api/v1/nodes", manifest)
        except (AlreadyExistsError, ConflictError):
            await client.patch(path, {"metadata": {"labels": labels, "annotations": annotations}})
        self._node_object = await client.patch(f"{path}/status", {"status": status}, "merge")
        await self._ensure_csi_node(client, self._node_object)

    async def _ensure_csi_node(self, client: ApiClient, node: dict[str, Any]) -> None:
        """The node's CSINode, as the kubelet makes it before it reports Ready: where CSI drivers'
        node plugins will register, owned by this incarnation of the Node (a CSINode left by a Node
        that was deleted and registered again is taken over)."""
        wanted = csi_node(node)
        path = resource_path("storage.k8s.io/v1", "csinodes", name=self.config.node_name)
        try:
            await client.create(resource_path("storage.k8s.io/v1", "csinodes"), wanted)
        except (AlreadyExistsError, ConflictError):
            owners = wanted["metadata"]["ownerReferences"]
            if (await client.get(path))["metadata"].get("ownerReferences") != owners:
                await client.patch(path, {"metadata": {"ownerReferences": owners}})

    async def _renew_lease(self, client: ApiClient) -> None:
        name = self.config.node_name
        path = resource_path("coordination.k8s.io/v1", "leases", "kube-node-lease", name)
        spec = {
            "holderIdentity": name,
            "leaseDurationSeconds": self.config.node_lease_duration_seconds,
            "renewTime": rfc3339_micro(),
        }
        try:
            await client.patch(path, {"spec": spec})
        except NotFoundError:
            with contextlib.suppress(AlreadyExistsError, ConflictError):
                await client.create(
                    resource_path("coordination.k8s.io/v1", "leases", "kube-node-lease"),
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": name, "namespace": "kube-node-lease"},
                        "spec": spec,
                    },
                )

    async def _wait_for_pod_cidr(self, client: ApiClient) -> str:
        """The node's pod subnet; polled with back-off, as a node may wait long for one (none left) and
        a thousand fake nodes polling five times a second would load the server for nothing."""
        path = resource_path("v1", "nodes", name=self.config.node_name)
        delay = 0.2
        while True:
            node = await client.get(path)
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                return str(cidr)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_CIDR_POLL_SECONDS)

    async def _heartbeat(
        self, client: ApiClient, runtime: Runtime, node_ip: str, port: int, reported: dict[str, Any]
    ) -> None:
        path = resource_path("v1", "nodes", name=self.config.node_name)
        last_full = asyncio.get_running_loop().time()
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
            # arrives as its timeout expires, and the agent would not stop (a thousand fake nodes hit it)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.node_lease_duration_seconds / 4):
                    await self._status_due.wait()
            self._status_due.clear()
            try:
                await self._renew_lease(client)
                await self._check_node(runtime)
                now = asyncio.get_running_loop().time()
                self._node_object = await client.get(path)
                current = self._node_object.get("status") or {}
                conditions = current.get("conditions") or []
                status = self._status(node_ip, port, current)
                ready = next((c for c in conditions if c.get("type") == "Ready"), {})
                wanted = next((c for c in status["conditions"] if c["type"] == "Ready"), {})
                if (
                    status_changed(reported, status)
                    or ready.get("status") != wanted.get("status")
                    or now - last_full > STATUS_REFRESH_SECONDS
                ):
                    self._node_object = await client.patch(f"{path}/status", {"status": status}, "merge")
                    reported, last_full = status, now
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("node heartbeat failed: %s", e)


async def _join_any(servers: list[str], token: str) -> Credentials:
    """:func:`join` through the first of ``servers`` that answers: the configured one, then those
    this agent learnt before (so that it can start again while the server it joined through is
    down); the error is the configured server's when none answers."""
    failures: list[JoinError] = []
    for server in dict.fromkeys(servers):
        try:
            return await join(server, token)
        except JoinError as e:
            log.warning("joining through %s failed: %s", server, e)
            failures.append(e)
    raise failures[0]


def _remembered_servers(data_dir: Path) -> list[str]:
    """The API servers the agent learnt last time it ran (see :func:`_follow_api_servers`)."""
    path = data_dir / SERVERS_FILE
    return path.read_text().split() if path.exists() else []


async def _follow_api_servers(client: ApiClient, data_dir: Path, join_url: str) -> None:
    """Keep the client's list of API servers to fail over to as the ``default/kubernetes`` Endpoints
    list them (see :mod:`minikube_py.model.apiserverleases`): a watch, so a server that joins or
    leaves is known within moments, and one that resumes from where it was on whichever server it
    reconnects to. The URL the agent was told to join stays last (it may be a load balancer's), and
    the list is kept in the data directory too, for the next start."""
    informer = Informer(client, resource_path("v1", "endpoints", "default"), field_selector="metadata.name=kubernetes")

    def changed(_old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        urls = server_urls(new) if new is not None else []
        if urls:
            client.set_servers([*urls, join_url])
            if urls != _remembered_servers(data_dir):
                pki.write_file(data_dir / SERVERS_FILE, "".join(f"{url}\n" for url in urls).encode(), mode=0o644)

    informer.add_handler(changed)
    await informer.run()


async def _cluster_settings(client: ApiClient) -> dict[str, str]:
    """The network settings the server announces (cluster CIDR, DNS address and domain); empty from a
    server that does not publish them."""
    try:
        found = await client.get(resource_path("v1", "configmaps", "kube-system", CLUSTER_CONFIG))
    except NotFoundError:
        return {}
    return {k: str(v) for k, v in (found.get("data") or {}).items()}


async def _pause_image(runtime: Runtime) -> str:
    from minikube_py.agent.runtime.docker import DockerRuntime
    from minikube_py.agent.runtime.pause import PAUSE_IMAGE, ensure_pause_image

    if isinstance(runtime, DockerRuntime):
        return await ensure_pause_image(runtime)
    return PAUSE_IMAGE


def embedded_credentials(loopback: ClientConfig, ca_pem: bytes, node_name: str) -> Credentials:
    """The server's own agent: no join round trip, and no TLS to its own process: it talks over the
    server's loopback socket as its node (impersonated, so the Node authorizer and NodeRestriction
    judge it as any node's agent)."""
    return Credentials(loopback, ca_pem, acting_as=node_name)
