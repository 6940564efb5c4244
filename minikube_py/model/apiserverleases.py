"""Which API servers are alive, and the ``default/kubernetes`` Endpoints that list them.

kube-apiserver's lease endpoint reconciler, with Leases: every server keeps a Lease in kube-system
that names its address and renews it every :data:`RENEW_SECONDS`; the Endpoints hold the addresses
of the Leases renewed within their duration. A server that stops cleanly deletes its Lease; one
that dies drops out when its Lease expires. Agents read the Endpoints to know where else to go when
their server stops answering. Liveness is judged on the reader's wall clock against ``renewTime``,
so the servers' clocks must agree to within a few seconds (as they must for certificates anyway).

The decisions are pure functions here; :mod:`minikube_py.reconcilers.apiserverendpoints` does the I/O.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta
from typing import Any

from minikube_py.model.times import instant

Obj = dict[str, Any]

NAMESPACE = "kube-system"
#: marks the Leases of API servers (value: "true"), to list them apart from other Leases
LEASE_LABEL = "apiserver.pykube.io/endpoint"
ADDRESS_ANNOTATION = "apiserver.pykube.io/address"
PORT_ANNOTATION = "apiserver.pykube.io/port"
#: a Lease not renewed for this long counts its server as gone (kube-apiserver's master lease TTL)
LEASE_SECONDS = 15
#: how often each server renews its Lease and reconciles the Endpoints (kube-apiserver's endpoint
#: reconciler interval: a server that stops renewing drops out between 15 and 25 s later)
RENEW_SECONDS = 10.0


def lease_name(identity: str) -> str:
    """The Lease of the server with this leader-election identity: a fixed-length name whatever the
    host name, as kube-apiserver names its identity Leases ``apiserver-<hash>``."""
    return "pykube-apiserver-" + hashlib.sha256(identity.encode()).hexdigest()[:16]


def server_lease(identity: str, ip: str, port: int, renew_time: str) -> Obj:
    """The Lease a server writes for itself (create or full replace)."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": lease_name(identity),
            "namespace": NAMESPACE,
            "labels": {LEASE_LABEL: "true"},
            "annotations": {ADDRESS_ANNOTATION: ip, PORT_ANNOTATION: str(port)},
        },
        "spec": {"holderIdentity": identity, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": renew_time},
    }


def live_servers(leases: list[Obj], now: datetime) -> list[tuple[str, int]]:
    """``(ip, port)`` of every server whose Lease is current at ``now``, sorted and without repeats;
    Leases with no or a malformed address, time or duration are ignored."""
    found: set[tuple[str, int]] = set()
    for lease in leases:
        annotations = (lease.get("metadata") or {}).get("annotations") or {}
        spec = lease.get("spec") or {}
        try:
            ip = str(ipaddress.ip_address(annotations[ADDRESS_ANNOTATION]))
            port = int(annotations[PORT_ANNOTATION])
            renewed = instant(str(spec["renewTime"]))
            expires = renewed + timedelta(seconds=int(spec["leaseDurationSeconds"]))
        except (KeyError, ValueError, TypeError):
            continue
        if 0 < port < 65536 and expires > now:
            found.add((ip, port))
    return sorted(found, key=lambda server: (server[1], ipaddress.ip_address(server[0]).packed))


def endpoints_subsets(servers: list[tuple[str, int]]) -> list[Obj]:
    """The Endpoints subsets for ``servers`` (as :func:`live_servers` orders them): one subset per
    port, since a subset's addresses share its ports; normally every server listens on the same one."""
    by_port: dict[int, list[str]] = {}
    for ip, port in servers:
        by_port.setdefault(port, []).append(ip)
    return [
        {"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
        for port, ips in sorted(by_port.items())
    ]


def server_urls(endpoints: Obj) -> list[str]:
    """The ``https://`` URLs of the API servers an Endpoints object lists (its ``https`` ports), in
    its order: what an agent may fail over to."""
    urls: list[str] = []
    for subset in endpoints.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or [] if p.get("name", "https") == "https"]
        for address in subset.get("addresses") or []:
            ip = str(address.get("ip") or "")
            host = f"[{ip}]" if ":" in ip else ip
            urls += [f"https://{host}:{port}" for port in ports if ip and isinstance(port, int)]
    return urls
