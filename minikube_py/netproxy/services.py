"""What the proxy must forward, derived from Services and EndpointSlices with no I/O.

kube-proxy's service and endpoints change trackers reduced to one pure function: every port of every
Service becomes a :class:`ServicePort` holding where traffic arrives (ClusterIP, NodePort, external
and load-balancer IPs) and the endpoints it may go to. Only endpoints whose ``ready`` condition is not
False are used, as kube-proxy does; headless and ExternalName Services have nothing to proxy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from minikube_py.netproxy.balancer import ServicePortName

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: Kubernetes' default ClientIP affinity timeout (3 hours)
DEFAULT_AFFINITY_SECONDS = 10800
PROTOCOLS = ("TCP", "UDP")


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int
    node: str = ""  # the node the endpoint runs on ("" when the slice does not say)


@dataclass(frozen=True)
class ServicePort:
    """One service port as the proxy sees it; equal values mean nothing to change."""

    name: ServicePortName
    cluster_ip: str  # "" when the Service has none
    port: int
    node_port: int  # 0 when none
    external_ips: tuple[str, ...]  # spec.externalIPs plus the load balancer's ingress IPs
    external_local: bool  # externalTrafficPolicy: Local (NodePort and external traffic to local endpoints only)
    affinity_seconds: int | None  # sessionAffinity ClientIP timeout, None without affinity
    endpoints: tuple[Endpoint, ...]  # ready endpoints, sorted
    internal_local: bool = False  # internalTrafficPolicy: Local (cluster IP traffic to local endpoints only)

    @property
    def protocol(self) -> str:
        return self.name.protocol

    def local_endpoints(self, node: str) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.node == node)


def _affinity(spec: Obj) -> int | None:
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
    return int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)


def _external_ips(service: Obj) -> tuple[str, ...]:
    spec = service.get("spec") or {}
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ips = list(spec.get("externalIPs") or []) + [i["ip"] for i in ingress if i.get("ip")]
    return tuple(dict.fromkeys(ips))


def slice_endpoints(slices: Iterable[Obj]) -> dict[tuple[str, str], set[Endpoint]]:
    """(port name, protocol) → ready endpoints, over all slices of one Service."""
    found: dict[tuple[str, str], set[Endpoint]] = defaultdict(set)
    for slice_ in slices:
        if slice_.get("addressType", "IPv4") != "IPv4":
            continue
        ready = [e for e in slice_.get("endpoints") or () if (e.get("conditions") or {}).get("ready") is not False]
        for port in slice_.get("ports") or ():
            if not port.get("port"):
                continue
            key = (port.get("name") or "", port.get("protocol", "TCP"))
            for endpoint in ready:
                for ip in endpoint.get("addresses") or ():
                    found[key].add(Endpoint(ip, int(port["port"]), endpoint.get("nodeName") or ""))
    return found


def service_ports(service: Obj, slices: Iterable[Obj]) -> list[ServicePort]:
    """The proxied ports of one Service given its EndpointSlices."""
    spec = service.get("spec") or {}
    cluster_ip = spec.get("clusterIP") or ""
    if spec.get("type") == "ExternalName" or cluster_ip == "None":
        return []
    md = service["metadata"]
    endpoints = slice_endpoints(slices)
    external = _external_ips(service)
    local = spec.get("externalTrafficPolicy") == "Local"
    internal_local = spec.get("internalTrafficPolicy") == "Local"
    affinity = _affinity(spec)
    ports = []
    for sp in spec.get("ports") or ():
        protocol = sp.get("protocol", "TCP")
        if protocol not in PROTOCOLS or not sp.get("port"):
            continue
        name = ServicePortName(md["namespace"], md["name"], sp.get("name") or "", protocol)
        ports.append(
            ServicePort(
                name=name,
                cluster_ip=cluster_ip,
                port=int(sp["port"]),
                node_port=int(sp.get("nodePort") or 0),
                external_ips=external,
                external_local=local,
                affinity_seconds=affinity,
                endpoints=tuple(sorted(endpoints.get((name.port, protocol), ()))),
                internal_local=internal_local,
            )
        )
    return ports


class ServiceTable:
    """Services and their slices as informer events deliver them, and the ports they make.

    Ports are recomputed per Service only when that Service or one of its slices changes, so an
    endpoint change costs one Service's work, not the cluster's."""

    def __init__(self) -> None:
        self._services: dict[tuple[str, str], Obj] = {}
        self._slices: dict[tuple[str, str], dict[str, Obj]] = defaultdict(dict)
        self._ports: dict[tuple[str, str], list[ServicePort]] = {}
        #: endpoints by port number and name, per Service (see endpoints_of), made when first asked
        self._endpoints: dict[tuple[str, str], dict[int | str, tuple[Endpoint, ...]]] = {}
        self.version = 0  # bumped on every change that alters a port

    def on_service(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is None:
            return
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if new is None:
            self._services.pop(key, None)
        else:
            self._services[key] = new
        self._recompute(key)

    def on_slice(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is None:
            return
        md = obj["metadata"]
        service = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not service:
            return
        key = (md["namespace"], service)
        if new is None:
            self._slices[key].pop(md["name"], None)
        else:
            self._slices[key][md["name"]] = new
        self._recompute(key)

    def _recompute(self, key: tuple[str, str]) -> None:
        self._endpoints.pop(key, None)
        service = self._services.get(key)
        ports = service_ports(service, self._slices.get(key, {}).values()) if service else []
        if ports != self._ports.get(key, []):
            if ports:
                self._ports[key] = ports
            else:
                self._ports.pop(key, None)
            self.version += 1

    def endpoints_of(self, namespace: str, name: str, port: int | str) -> tuple[Endpoint, ...]:
        """The ready endpoints behind one TCP port of a Service, named by its number or name, for a
        proxy that connects to the pods itself (the ingress controller): headless Services too, which
        have no ClusterIP to proxy. Cached until the Service or its slices change."""
        key = (namespace, name)
        cached = self._endpoints.get(key)
        if cached is None:
            cached = self._endpoints[key] = self._endpoints_by_port(key)
        return cached.get(port, ())

    def _endpoints_by_port(self, key: tuple[str, str]) -> dict[int | str, tuple[Endpoint, ...]]:
        service = self._services.get(key)
        spec = (service or {}).get("spec") or {}
        if service is None or spec.get("type") == "ExternalName":
            return {}
        found = slice_endpoints(self._slices.get(key, {}).values())
        by_port: dict[int | str, tuple[Endpoint, ...]] = {}
        for sp in spec.get("ports") or ():
            if sp.get("protocol", "TCP") != "TCP":
                continue
            endpoints = tuple(sorted(found.get((sp.get("name") or "", "TCP"), ())))
            for handle in (sp.get("port"), sp.get("name")):
                if handle:
                    by_port.setdefault(handle, endpoints)
        return by_port

    def ports(self) -> list[ServicePort]:
        return [p for key in sorted(self._ports) for p in self._ports[key]]
