"""ClusterIP and NodePort allocation for Services.

Each allocated address or port is a reservation key in the store (``/internal/clusterips/<ip>``,
``/internal/nodeports/<port>``), written in the same atomic commit as the Service itself and removed
in the same commit that deletes it. Two servers racing for one IP therefore get one success and one
KeyExists (and retry with another), and nothing can leak: there is no moment where a Service exists
without its reservation or a reservation without its Service.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from minikube_py.model.errors import FieldError, invalid_value
from minikube_py.store.base import Create, Delete, KeyNotFound, Obj, Op, Store

IP_PREFIX = "/internal/clusterips/"
PORT_PREFIX = "/internal/nodeports/"

NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


@dataclass(frozen=True)
class Allocation:
    """What a Service holds: its ClusterIPs and NodePorts."""

    ips: frozenset[str]
    ports: frozenset[int]


def held_by(service: Obj | None) -> Allocation:
    if not service:
        return Allocation(frozenset(), frozenset())
    spec = service.get("spec") or {}
    ips = {ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None"}
    ports = set()
    if spec.get("type") in NODE_PORT_TYPES:
        ports = {p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort")}
    return Allocation(frozenset(ips), frozenset(ports))


class ServiceAllocator:
    """Fills in and reserves a Service's ClusterIP and NodePorts."""

    def __init__(self, store: Store, service_cidr: str, node_ports: tuple[int, int]) -> None:
        self._store = store
        self._net = ipaddress.ip_network(service_cidr)
        self._node_ports = node_ports

    @property
    def store(self) -> Store:
        """The store the reservations live in; admission that reads other objects (the default
        StorageClass for a claim, a pod's ServiceAccount) reads them from it too."""
        return self._store

    @property
    def first_ip(self) -> str:
        """The address of the ``kubernetes`` service, by Kubernetes convention."""
        return str(self._net.network_address + 1)

    async def assign(self, service: Obj, old: Obj | None) -> tuple[list[Op], list[FieldError]]:
        """Allocate what ``service`` needs but lacks, validate what it asks for explicitly, and return
        the reservation ops that move the store from ``old``'s holdings to the new ones."""
        spec = service.setdefault("spec", {})
        errors: list[FieldError] = []
        svc_type = spec.get("type", "ClusterIP")
        before = held_by(old)
        if svc_type == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        elif not spec.get("clusterIP"):
            spec["clusterIP"] = await self._free_ip()
        elif spec["clusterIP"] != "None" and spec["clusterIP"] not in before.ips:
            errors += await self._check_free(
                IP_PREFIX,
                spec["clusterIP"],
                "spec.clusterIPs",
                f"failed to allocate IP {spec['clusterIP']}: provided IP is already allocated",
            )
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
            if spec["clusterIP"] != "None":
                errors += self._check_ip(spec["clusterIP"])
        if svc_type in NODE_PORT_TYPES:
            errors += await self._fill_node_ports(spec, before.ports)
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
        if errors:
            return [], errors
        after = held_by(service)
        owner = f"{service['metadata'].get('namespace')}/{service['metadata']['name']}"
        ops: list[Op] = [_reserve(IP_PREFIX + ip, owner) for ip in sorted(after.ips - before.ips)]
        ops += [_reserve(PORT_PREFIX + str(p), owner) for p in sorted(after.ports - before.ports)]
        ops += release(Allocation(before.ips - after.ips, before.ports - after.ports))
        return ops, []

    def _check_ip(self, ip: str) -> list[FieldError]:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return [
                invalid_value("spec.clusterIPs[0]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
            ]
        if addr not in self._net or addr in (self._net.network_address, self._net.broadcast_address):
            return [
                invalid_value(
                    "spec.clusterIPs[0]",
                    ip,
                    f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                    f"The range of valid IPs is {self._net}",
                )
            ]
        return []

    async def _check_free(self, prefix: str, value: str, field: str, message: str) -> list[FieldError]:
        """An explicitly requested value held by another Service is the client's error (422), not a
        race to retry: retrying would ask for the same value again."""
        try:
            await self._store.get(prefix + value)
        except KeyNotFound:
            return []
        return [invalid_value(field, value, message)]

    async def _fill_node_ports(self, spec: Obj, held: frozenset[int]) -> list[FieldError]:
        lo, hi = self._node_ports
        taken = {int(p) for p in await self._taken(PORT_PREFIX)}
        errors: list[FieldError] = []
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort")
            if wanted:
                if not lo <= wanted <= hi:
                    errors.append(
                        invalid_value(
                            f"spec.ports[{i}].nodePort",
                            wanted,
                            f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}",
                        )
                    )
                elif wanted in taken and wanted not in held:
                    errors.append(
                        invalid_value(f"spec.ports[{i}].nodePort", wanted, "provided port is already allocated")
                    )
                continue
            port["nodePort"] = _pick_int(lo, hi, taken)
            taken.add(port["nodePort"])
        return errors

    async def _free_ip(self) -> str:
        taken = await self._taken(IP_PREFIX)
        first = int(self._net.network_address) + 2  # .1 is the kubernetes service's
        last = int(self._net.broadcast_address) - 1
        return str(ipaddress.ip_address(_pick_int(first, last, {int(ipaddress.ip_address(t)) for t in taken})))

    async def _taken(self, prefix: str) -> set[str]:
        listing = await self._store.list(prefix)
        return {reservation_name(item["metadata"]["name"]) for item in listing.items}


def drop_type_dependent_fields(new: Obj, old: Obj) -> None:
    """A Service switched to a type that needs no NodePorts (or no ClusterIP) loses the values the
    client carried over unchanged from the old object, as kube-apiserver does; otherwise a merge
    patch of just ``type`` would be refused for the nodePorts it could not mention. Values the
    client changed in the same request stay, and validation judges them."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    old_type, new_type = old_spec.get("type", "ClusterIP"), spec.get("type", "ClusterIP")
    if old_type in NODE_PORT_TYPES and new_type not in NODE_PORT_TYPES:
        if held_by({"spec": {**spec, "type": old_type}}).ports <= held_by(old).ports:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
    if new_type == "ExternalName" and old_type != "ExternalName" and spec.get("clusterIP") == old_spec.get("clusterIP"):
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)


def release(allocation: Allocation) -> list[Op]:
    return [Delete(IP_PREFIX + ip) for ip in sorted(allocation.ips)] + [
        Delete(PORT_PREFIX + str(p)) for p in sorted(allocation.ports)
    ]


def reservation_name(key: str) -> str:
    return key.rsplit("/", 1)[1]


def _reserve(key: str, owner: str) -> Create:
    return Create(key, {"metadata": {"name": key}, "service": owner})


class RangeFull(Exception):
    """Every address or port of the range is taken."""


def _pick_int(first: int, last: int, taken: set[int]) -> int:
    """A random free value in [first, last]: random, as Kubernetes does, so that two servers racing
    rarely collide; falls back to a scan when the range is nearly full."""
    size = last - first + 1
    for _ in range(32):
        candidate = first + random.randrange(size)
        if candidate not in taken:
            return candidate
    for candidate in range(first, last + 1):
        if candidate not in taken:
            return candidate
    raise RangeFull(f"range {first}-{last} is full")
