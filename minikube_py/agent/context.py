"""What every part of the agent needs to know about the node it runs on, fixed at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class NodeContext:
    """Built by the agent once the node is registered and its pod subnet known; passed to the pod
    workers, the kubelet server and the volume and image managers so that none of them reads global
    configuration."""

    name: str  # the Node object's name
    ip: str  # InternalIP: pods' hostIP, where hostPorts listen
    data_dir: Path  # pod volumes live under data_dir / "pods" / <pod uid>
    network: str  # the runtime network pods' sandboxes join (a bridge on the node's podCIDR)
    pause_image: str  # image of the sandbox container that holds each pod's network namespace
    cluster_dns: list[str] = field(default_factory=list)  # nameservers for dnsPolicy ClusterFirst
    cluster_domain: str = "cluster.local"
    allow_privileged: bool = False  # securityContext.privileged is refused unless set
    max_pods: int = 110
