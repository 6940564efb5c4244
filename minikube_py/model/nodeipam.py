"""Pod subnets for nodes: each node gets the lowest free block of the cluster CIDR (a /24 by default).

Pure, so the allocation rule is tested without a cluster; the controller applies it to Node objects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def next_pod_cidr(cluster_cidr: str, taken: Iterable[str], prefix: int = 24) -> str | None:
    """The first ``/prefix`` block of ``cluster_cidr`` that overlaps none of ``taken``; None when the
    range is exhausted. Overlap, not equality, so a node configured by hand with a larger block
    still keeps its neighbours off its addresses."""
    network = ipaddress.ip_network(cluster_cidr)
    used = [ipaddress.ip_network(c, strict=False) for c in taken if c]
    for candidate in network.subnets(new_prefix=prefix):
        if not any(candidate.overlaps(u) for u in used if u.version == candidate.version):  # type: ignore[arg-type]
            return str(candidate)
    return None
