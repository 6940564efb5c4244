"""Where a LoadBalancer Service answers when no cloud provides one: on every Ready node's address.

As k3s' ServiceLB (klipper-lb): the service proxy on every node answers the service port on the
node's own addresses, so those addresses are the load balancer's ingress. The same holds for the
Ingresses pykube's own controller serves: every node's ingress listener answers them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]


def wants_ingress(service: Obj) -> bool:
    """A LoadBalancer Service that no other load-balancer implementation claimed."""
    spec = service.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def _ready(node: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ()
    )


def _ip_order(ip: str) -> tuple[int, int]:
    address = ipaddress.ip_address(ip)
    return address.version, int(address)


def node_ingress(node: Obj | None) -> frozenset[str]:
    """What one node adds to the ingress: its InternalIPs while it is Ready and schedulable."""
    if node is None or not _ready(node) or (node.get("spec") or {}).get("unschedulable"):
        return frozenset()
    return frozenset(
        a["address"]
        for a in (node.get("status") or {}).get("addresses") or ()
        if a.get("type") == "InternalIP" and a.get("address")
    )


def ingress_of(ips: Iterable[str]) -> list[Obj]:
    """Node addresses as ``status.loadBalancer.ingress``, sorted, each once."""
    return [{"ip": ip, "ipMode": "VIP"} for ip in sorted(set(ips), key=_ip_order)]


def status_patch(service: Obj, ingress: list[Obj]) -> Obj | None:
    """The status merge patch that brings ``service`` to ``ingress`` (None when it is there already);
    a Service that stopped being a LoadBalancer loses its ingress."""
    return _patch(service, ingress if wants_ingress(service) else [])


def ingress_status_patch(obj: Obj, ingress: list[Obj], served: bool) -> Obj | None:
    """The same for an Ingress, ``served`` when pykube's controller serves its class: an Ingress's
    load-balancer entries have no ``ipMode``."""
    return _patch(obj, [{"ip": entry["ip"]} for entry in ingress] if served else [])


def _patch(obj: Obj, want: list[Obj]) -> Obj | None:
    have = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if have == want:
        return None
    return {"status": {"loadBalancer": {"ingress": want} if want else {}}}
