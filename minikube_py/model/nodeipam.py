"""Pod subnets for nodes, handed out as kube-controller-manager's range allocator does.

The cluster CIDR is cut into equal blocks of ``node_cidr_mask_size`` bits (a /16 at /24: 256
blocks, one per node); a byte per block says whether it is taken. Subnets that nodes already carry
are *occupied* (from the nodes listed at start-up, then as nodes appear), a deleted node's is
*released*, and a new node is *allocated* the next free block after a cursor. The cursor only moves
forward (wrapping around), as Kubernetes' cursor does, so a just-released subnet is the last to be
handed out again: a new node does not inherit addresses that may still sit in other nodes' caches.
Exhaustion is a counter comparison, and the search for a free byte runs in C (``bytearray.find``),
so allocating costs next to nothing whether it succeeds or not.

A node left without a subnet says so in its NetworkUnavailable condition (the patches are built
here too). Pure, so the rules are tested without a cluster; the node IPAM controller feeds it Node
objects.
"""

from __future__ import annotations

import ipaddress
from typing import Any

#: kube-controller-manager's default for IPv4 (--node-cidr-mask-size-ipv4): 254 addresses a node
DEFAULT_NODE_CIDR_MASK_SIZE = 24
#: Kubernetes caps an IPv6 cluster CIDR at 2^16 node subnets (its bitmap is not compressed); so does
#: this, at a byte a subnet. IPv4 needs no cap: even a /8 at /30 is 4 MiB.
MAX_SUBNET_BITS_IPV6 = 16

_FREE, _USED = 0, 1

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def mask_size_problem(cluster: Network, mask_size: int) -> str | None:
    """Why ``mask_size`` cannot cut ``cluster`` into node subnets, or None when it can. A node subnet
    must be smaller than the cluster (else one node takes all) and leave room for a gateway and some
    pods: at most a /30 for IPv4 (two usable addresses), a /126 for IPv6."""
    if mask_size <= cluster.prefixlen:
        return f"must be larger than the cluster CIDR's prefix length /{cluster.prefixlen}, got {mask_size}"
    if mask_size > cluster.max_prefixlen - 2:
        return f"must be at most {cluster.max_prefixlen - 2} for IPv{cluster.version}, got {mask_size}"
    if cluster.version == 6 and mask_size - cluster.prefixlen > MAX_SUBNET_BITS_IPV6:
        return (
            f"at most {MAX_SUBNET_BITS_IPV6} bits more than the cluster CIDR's /{cluster.prefixlen} "
            f"for IPv6 (as Kubernetes), got {mask_size}"
        )
    return None


def subnet_count(cluster_cidr: str, mask_size: int) -> int:
    """How many nodes ``cluster_cidr`` holds at ``mask_size`` (a /16 at /24: 256; at /26: 1,024)."""
    return 1 << (mask_size - ipaddress.ip_network(cluster_cidr).prefixlen)


class CidrSet:
    """The node subnets of one cluster CIDR and which of them are taken."""

    def __init__(self, cluster_cidr: str, mask_size: int = DEFAULT_NODE_CIDR_MASK_SIZE) -> None:
        self.cluster = ipaddress.ip_network(cluster_cidr)
        problem = mask_size_problem(self.cluster, mask_size)
        if problem is not None:
            raise ValueError(f"node CIDR mask size: {problem}")
        self.mask_size = mask_size
        self.size = 1 << (mask_size - self.cluster.prefixlen)
        self._shift = self.cluster.max_prefixlen - mask_size
        self._base = int(self.cluster.network_address)
        self._address = type(self.cluster.network_address)
        self._used = bytearray(self.size)
        self._count = 0
        self._cursor = 0

    @property
    def used(self) -> int:
        return self._count

    @property
    def free(self) -> int:
        return self.size - self._count

    def allocate(self) -> str | None:
        """Take the first free subnet at or after the cursor (wrapping around); None when every
        subnet is taken."""
        if self._count == self.size:
            return None
        index = self._used.find(_FREE, self._cursor)
        if index < 0:
            index = self._used.find(_FREE, 0, self._cursor)
        self._used[index] = _USED
        self._count += 1
        self._cursor = (index + 1) % self.size
        return self._subnet(index)

    def occupy(self, cidr: str) -> None:
        """Mark the subnets ``cidr`` overlaps as taken; taking one twice is harmless. A subnet set by
        hand that is larger than a block takes every block it covers, a smaller one the block it
        lies in, so no other node is given its addresses. Raises ValueError for garbage or a subnet
        outside the cluster CIDR."""
        for index in self._indices(cidr):
            if self._used[index] == _FREE:
                self._used[index] = _USED
                self._count += 1

    def release(self, cidr: str) -> None:
        """Mark the subnets ``cidr`` overlaps as free again (the cursor stays where it is)."""
        for index in self._indices(cidr):
            if self._used[index] == _USED:
                self._used[index] = _FREE
                self._count -= 1

    def is_free(self, cidr: str) -> bool:
        return all(self._used[index] == _FREE for index in self._indices(cidr))

    def _subnet(self, index: int) -> str:
        return f"{self._address(self._base + (index << self._shift))}/{self.mask_size}"

    def _indices(self, cidr: str) -> range:
        network = ipaddress.ip_network(cidr, strict=False)
        if network.version != self.cluster.version or not network.overlaps(self.cluster):  # type: ignore[arg-type]
            raise ValueError(f"{cidr} is outside the cluster CIDR {self.cluster}")
        first = max(int(network.network_address), self._base) - self._base
        last = min(int(network.broadcast_address), int(self.cluster.broadcast_address)) - self._base
        return range(first >> self._shift, (last >> self._shift) + 1)


# ------------------------------------------------------------------------------ node conditions

NETWORK_UNAVAILABLE = "NetworkUnavailable"
#: the event kube-controller-manager's range allocator records when it has no subnet left for a
#: node; also the reason of the NetworkUnavailable=True condition that says so on the node itself
CIDR_NOT_AVAILABLE = "CIDRNotAvailable"
#: the reason NetworkUnavailable turns False once the node has its subnet. Kubernetes' own reasons
#: (NoRouteCreated/RouteCreated) belong to the cloud route controller and speak of routes pykube does
#: not make; network plugins name what they did (flannel: FlannelIsUp), and so does this.
CIDR_ASSIGNED = "CIDRAssigned"

Obj = dict[str, Any]


def pod_cidr(node: Obj) -> str:
    return str((node.get("spec") or {}).get("podCIDR") or "")


def cidr_not_available_message(name: str) -> str:
    """The event's message, word for word as Kubernetes' node status change events."""
    return f"Node {name} status is now: {CIDR_NOT_AVAILABLE}"


def marked_unavailable(node: Obj) -> bool:
    """Whether the node carries this controller's NetworkUnavailable=True (no subnet was left)."""
    condition = _condition(node, NETWORK_UNAVAILABLE)
    return condition is not None and condition.get("status") == "True" and condition.get("reason") == CIDR_NOT_AVAILABLE


def unavailable_patch(node: Obj, cidrs: CidrSet, now: str) -> Obj | None:
    """A strategic-merge status patch setting NetworkUnavailable=True because no subnet is left, or
    None when the node already says so."""
    if marked_unavailable(node):
        return None
    message = f"no free /{cidrs.mask_size} left in the cluster CIDR {cidrs.cluster} ({cidrs.size} subnets)"
    return _condition_patch(node, "True", CIDR_NOT_AVAILABLE, message, now)


def available_patch(node: Obj, now: str) -> Obj | None:
    """The patch turning NetworkUnavailable False once the node has its subnet; None unless the
    condition is this controller's True (a node that got its subnet at once never shows it, and a
    network plugin's condition is not ours to touch)."""
    if not marked_unavailable(node):
        return None
    return _condition_patch(node, "False", CIDR_ASSIGNED, f"pod CIDR {pod_cidr(node)} assigned", now)


def _condition_patch(node: Obj, status: str, reason: str, message: str, now: str) -> Obj:
    current = _condition(node, NETWORK_UNAVAILABLE)
    since = current.get("lastTransitionTime") if current is not None and current.get("status") == status else None
    return {
        "status": {
            "conditions": [
                {
                    "type": NETWORK_UNAVAILABLE,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": since or now,
                }
            ]
        }
    }


def _condition(node: Obj, kind: str) -> Obj | None:
    return next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)
