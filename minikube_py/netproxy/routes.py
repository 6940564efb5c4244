"""Routes to the other nodes' pod subnets via their addresses (host-gateway), with pyroute2.

Each node's pods live on a bridge on its own ``spec.podCIDR``; a packet for a pod elsewhere is sent to
that node's InternalIP, which forwards it onto its bridge. This needs the nodes on one link (one
L2 segment), as flannel's host-gw backend does, and no encapsulation or NAT: pod-to-pod traffic keeps
its source address. Routes are tagged with their own protocol number, so a sync (and cleanup) finds
exactly the routes pykube made, including those of nodes deleted while the agent was down.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: the rtnetlink protocol number pykube's routes carry (values above 4 are free for daemons; see /etc/iproute2/rt_protos)
RTPROT_PYKUBE = 194

Obj = dict[str, Any]


def internal_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == "InternalIP":
            return str(address.get("address") or "")
    return ""


def desired_routes(nodes: Iterable[Obj], own: str) -> dict[str, str]:
    """pod CIDR → gateway for every other node with both a subnet and a usable IPv4 address."""
    routes = {}
    for node in nodes:
        if node["metadata"]["name"] == own:
            continue
        cidr = (node.get("spec") or {}).get("podCIDR")
        ip = internal_ip(node)
        if not cidr or not ip:
            continue
        try:
            if ipaddress.ip_address(ip).is_loopback or ipaddress.ip_network(cidr).version != 4:
                continue
        except ValueError:
            continue
        routes[cidr] = ip
    return routes


class RouteTable:
    """The kernel's main routing table, through rtnetlink (blocking calls: run them in a thread)."""

    def __init__(self) -> None:
        self._failed: dict[str, str] = {}  # cidr -> the error already logged for it

    def current(self) -> dict[str, str]:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            found = {}
            for route in ipr.get_routes(family=2, proto=RTPROT_PYKUBE):
                dst, gateway = route.get_attr("RTA_DST"), route.get_attr("RTA_GATEWAY")
                if dst and gateway:
                    found[f"{dst}/{route['dst_len']}"] = gateway
            return found

    def sync(self, wanted: Mapping[str, str]) -> None:
        """Make pykube's routes exactly ``wanted``: add or change what differs, delete the rest."""
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        have = self.current()
        with IPRoute() as ipr:
            for cidr in have.keys() - wanted.keys():
                try:
                    ipr.route("del", dst=cidr, proto=RTPROT_PYKUBE)
                    log.info("removed the route to %s", cidr)
                except NetlinkError as e:
                    log.warning("cannot remove the route to %s: %s", cidr, e)
            for cidr, gateway in wanted.items():
                if have.get(cidr) == gateway:
                    continue
                try:
                    ipr.route("replace", dst=cidr, gateway=gateway, proto=RTPROT_PYKUBE)
                    self._failed.pop(cidr, None)
                    log.info("route to pod subnet %s via %s", cidr, gateway)
                except NetlinkError as e:
                    # e.g. a node on another subnet: host-gateway routing cannot reach it
                    if self._failed.get(cidr) != str(e):
                        log.warning("cannot route pod subnet %s via %s: %s", cidr, gateway, e)
                        self._failed[cidr] = str(e)

    def cleanup(self) -> None:
        self.sync({})
