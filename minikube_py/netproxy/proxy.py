"""The service proxy of one node: informers in, iptables rules, routes, DNS and listeners out.

As kube-proxy's sync loop: informer handlers only record changes and wake the loop; the loop waits a
moment so that a burst of changes (a Deployment scaling) costs one sync, then computes the whole
desired state with pure functions (:mod:`.services`, :mod:`.rules`, :mod:`.routes`) and writes it.
A periodic full resync repairs rules or routes someone removed behind our back.

Modes (``--proxy-mode``): ``kernel`` DNATs in iptables so the data path never enters Python;
``userspace`` REDIRECTs each service port to a local asyncio listener (:mod:`.userspace`) that splices
the stream to an endpoint. Either way the cluster DNS (:mod:`.dns`) answers on this node at the
kube-dns ClusterIP, and the firewalls the network policy controller publishes for this node's pods
are enforced in the same rule set (:mod:`.policyrules`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minikube_py.client.events import EventRecorder
from minikube_py.client.informer import Informer
from minikube_py.client.rest import ApiClient
from minikube_py.model.networkpolicy import (
    CONFIG_MAP_KEY,
    CONFIG_MAP_NAMESPACE,
    Firewall,
    config_map_name,
    load_firewalls,
)
from minikube_py.netproxy import forwarding
from minikube_py.netproxy.balancer import BackendSet, ServicePortName
from minikube_py.netproxy.dns import ClusterDns, DnsServer, upstream_resolvers
from minikube_py.netproxy.iptables import PythonIptables, RuleWriter
from minikube_py.netproxy.policyrules import add_policy_rules
from minikube_py.netproxy.routes import RouteTable, desired_routes
from minikube_py.netproxy.rules import Redirect, desired_rules
from minikube_py.netproxy.services import ServicePort, ServiceTable
from minikube_py.netproxy.userspace import UserspaceProxier

log = logging.getLogger(__name__)

MODES = ("kernel", "userspace")
#: changes arriving within this window are written in one sync (kube-proxy's minSyncPeriod, shorter:
#: a pod that turns unready must leave the rotation within a couple of seconds)
MIN_SYNC_INTERVAL = 0.2
#: a full rewrite even without changes, to repair rules removed by someone else
RESYNC_INTERVAL = 60.0


@dataclass(frozen=True)
class ProxyOptions:
    node_name: str
    mode: str = "kernel"
    cluster_cidr: str = ""  # pod addresses of the whole cluster: masquerade only what leaves it
    dns_ip: str = ""  # the kube-dns ClusterIP this node answers on ("" = no cluster DNS)
    cluster_domain: str = "cluster.local"
    routes: bool = True  # keep routes to the other nodes' pod subnets


def _sysctl(path: str, value: str) -> None:
    """Kernel settings the data path needs; failures are logged (a read-only /proc in a container)."""
    try:
        with open(f"/proc/sys/{path}", "w") as f:
            f.write(value)
    except OSError as e:
        log.warning("cannot set %s=%s: %s", path.replace("/", "."), value, e)


class ServiceProxy:
    def __init__(
        self,
        client: ApiClient,
        options: ProxyOptions,
        *,
        writer: RuleWriter | None = None,
        routes: RouteTable | None = None,
        recorder: EventRecorder | None = None,
        on_problem: Callable[[str, str | None], None] | None = None,
    ) -> None:
        """``on_problem(part, message)`` hears when the rules ("proxy") or the DNS server ("dns") stop
        or start working again (message None): the agent shows it in the node's conditions."""
        if options.mode not in MODES:
            raise ValueError(f"proxy mode must be one of {', '.join(MODES)}, got {options.mode!r}")
        self.options = options
        self._client = client
        self._writer = writer or PythonIptables()
        self._routes = routes if routes is not None else (RouteTable() if options.routes else None)
        self._recorder = recorder
        self._on_problem = on_problem or _log_problem
        self.table = ServiceTable()
        self.dns = ClusterDns(options.cluster_domain)
        self._changed = asyncio.Event()
        self._services = Informer(client, "/api/v1/services")
        self._slices = Informer(client, "/apis/discovery.k8s.io/v1/endpointslices")
        self._nodes = Informer(client, "/api/v1/nodes")
        #: the firewalls of this node's pods, as the network policy controller publishes them
        self._firewalls_map = Informer(
            client,
            f"/api/v1/namespaces/{CONFIG_MAP_NAMESPACE}/configmaps",
            field_selector=f"metadata.name={config_map_name(options.node_name)}",
        )
        self._firewalls: list[Firewall] = []
        self._services.add_handler(self._wake(self.table.on_service, self.dns.on_service))
        self._slices.add_handler(self._wake(self.table.on_slice, self.dns.on_slice))
        self._nodes.add_handler(self._on_node)
        self._firewalls_map.add_handler(self._wake())
        self._userspace = UserspaceProxier() if options.mode == "userspace" else None
        self._dns_server: DnsServer | None = None
        self._holders: dict[tuple[int, str], socket.socket] = {}
        self._unavailable: set[tuple[int, str]] = set()
        self._routes_wanted: dict[str, str] | None = None
        self.synced = asyncio.Event()  # set after the first complete sync (tests and readiness)

    def _wake(self, *handlers: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def handle(old: Any, new: Any) -> None:
            for handler in handlers:
                handler(old, new)
            self._changed.set()

        return handle

    @property
    def _informers(self) -> tuple[Informer, ...]:
        return (self._services, self._slices, self._nodes, self._firewalls_map)

    def _current_firewalls(self) -> list[Firewall]:
        """The published firewalls; a ConfigMap that does not parse keeps those enforced now (and says so)."""
        published = self._firewalls_map.items()
        if not published:
            return []
        try:
            return load_firewalls(str((published[0].get("data") or {}).get(CONFIG_MAP_KEY, "[]")))
        except ValueError as e:
            log.warning(
                "network policies: the firewalls of %s do not parse (%s); keeping the last ones",
                self.options.node_name,
                e,
            )
            return self._firewalls

    def _on_node(self, _old: Any, _new: Any) -> None:
        if self._routes is not None:
            wanted = desired_routes(self._nodes.items(), self.options.node_name)
            if wanted != self._routes_wanted:
                self._changed.set()

    async def run(self) -> None:
        opts = self.options
        _sysctl("net/ipv4/ip_forward", "1")
        if opts.mode == "kernel":
            _sysctl("net/ipv4/conf/all/route_localnet", "1")  # NodePorts on 127.0.0.1, as kube-proxy
        if opts.cluster_cidr:
            await asyncio.to_thread(forwarding.open_forwarding, opts.cluster_cidr)
        if opts.dns_ip:
            self._dns_server = DnsServer(self.dns, upstream_resolvers(exclude=[opts.dns_ip]))
        try:
            dns_port = await self._start_dns()
            async with asyncio.TaskGroup() as tasks:
                for informer in self._informers:
                    tasks.create_task(informer.run(), name=f"proxy informer {informer.path}")
                tasks.create_task(self._sync_loop(dns_port), name="proxy sync")
        finally:
            if self._dns_server is not None:
                await self._dns_server.stop()
            if self._userspace is not None:
                await self._userspace.close()
            for holder in self._holders.values():
                holder.close()
            self._holders.clear()

    async def _start_dns(self) -> int:
        """The cluster DNS server's port (0 without one); a failure to start is reported, then raised
        for the proxy's guard to restart it."""
        if self._dns_server is None:
            return 0
        try:
            port = await self._dns_server.start()
        except Exception as e:
            self._on_problem(
                "dns",
                f"the cluster DNS server cannot start: {e}; pods on this node cannot "
                f"resolve names through {self.options.dns_ip}",
            )
            raise
        self._on_problem("dns", None)
        return port

    async def _sync_loop(self, dns_port: int) -> None:
        await asyncio.gather(*(informer.synced.wait() for informer in self._informers))
        while True:
            self._changed.clear()
            try:
                await self.sync(dns_port)
                self.synced.set()
                self._on_problem("proxy", None)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a refused rule must not stop the proxy: the next change or resync retries
                self._on_problem(
                    "proxy",
                    f"cannot write the service proxy's rules: {type(e).__name__}: {e}; "
                    "Services are not reachable through this node until it works",
                )
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result of a wait that
            # completes as a cancellation arrives and drops the cancellation, so the agent would not stop
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESYNC_INTERVAL):
                    await self._changed.wait()
            await asyncio.sleep(MIN_SYNC_INTERVAL)

    def _redirects(self, dns_port: int) -> list[Redirect]:
        if not (self.options.dns_ip and dns_port):
            return []
        return [
            Redirect(self.options.dns_ip, 53, proto, dns_port, f"cluster DNS ({proto.lower()})")
            for proto in ("UDP", "TCP")
        ]

    async def sync(self, dns_port: int) -> None:
        opts = self.options
        redirects = self._redirects(dns_port)
        served = {(r.ip, r.port, r.protocol) for r in redirects}
        ports = [p for p in self.table.ports() if (p.cluster_ip, p.port, p.protocol) not in served]
        local_ports: dict[ServicePortName, int] = {}
        if self._userspace is not None:
            local_ports = await self._userspace.sync(
                {
                    p.name: BackendSet(tuple((e.ip, e.port) for e in p.endpoints), p.affinity_seconds)
                    for p in ports
                    if p.endpoints
                }
            )
        self._hold_node_ports(ports)
        rules = desired_rules(
            ports, node=opts.node_name, cluster_cidr=opts.cluster_cidr, local_ports=local_ports, redirects=redirects
        )
        self._firewalls = self._current_firewalls()
        add_policy_rules(rules, self._firewalls)
        await asyncio.to_thread(self._writer.apply, rules)
        if self._routes is not None:
            wanted = desired_routes(self._nodes.items(), opts.node_name)
            await asyncio.to_thread(self._routes.sync, wanted)
            self._routes_wanted = wanted

    def _hold_node_ports(self, ports: list[ServicePort]) -> None:
        """Keep every NodePort open on this node, as kube-proxy does, so no other program takes it; a
        port another program already holds gets one Warning event and log line, not a crash."""
        wanted = {(p.node_port, p.protocol): p for p in ports if p.node_port}
        for key in list(self._holders):
            if key not in wanted:
                self._holders.pop(key).close()
        self._unavailable &= wanted.keys()
        for key, sp in wanted.items():
            if key in self._holders or key in self._unavailable:
                continue
            port, protocol = key
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", port))
                if protocol == "TCP":
                    sock.listen(1)
            except OSError as e:
                sock.close()
                self._unavailable.add(key)
                reason = "address already in use" if e.errno == errno.EADDRINUSE else os.strerror(e.errno or 0)
                message = (
                    f"can't open port \"nodePort for {sp.name.namespace}/{sp.name.name}"
                    f'{":" + sp.name.port if sp.name.port else ""}" (:{port}/{protocol.lower()}), '
                    f"skipping it: {reason}"
                )
                log.warning("%s", message)
                if self._recorder is not None:
                    service = self._services.get(f"{sp.name.namespace}/{sp.name.name}")
                    if service is not None:
                        self._recorder.emit(service, "Warning", "PortNotAvailable", message)
                continue
            self._holders[key] = sock


def _log_problem(part: str, message: str | None) -> None:
    """Where problems go when nobody listens for them: the log (every failed attempt)."""
    if message is not None:
        log.warning("service proxy (%s): %s", part, message)


def cleanup(*, routes: bool = True) -> None:
    """Remove everything a proxy of this network namespace wrote: our iptables chains and the jumps
    to them, the forwarding rules in Docker's backend, and pykube's routes."""
    PythonIptables().cleanup()
    forwarding.close_forwarding()
    if routes:
        RouteTable().cleanup()


def leftovers(*, routes: bool = True) -> list[str]:
    """What :func:`cleanup` would remove here, one line each, for ``pykube cleanup --dry-run``."""
    found = PythonIptables().ours()
    found += [f"iptables forwarding rule {rule}" for rule in forwarding.leftovers()]
    if routes:
        found += [f"route {cidr} via {gateway}" for cidr, gateway in sorted(RouteTable().current().items())]
    return found
