"""Local ephemeral storage limits, the kubelet's side: a pod that writes more to the node's disk than
its spec allows is evicted, whether or not the node is short of space (kubelet's
``localStorageEviction``, on by default since LocalStorageCapacityIsolation went GA).

Three limits, checked in the kubelet's order, the first one crossed deciding the message:

- an ``emptyDir`` volume on disk with a ``sizeLimit``, against what is in the volume;
- the pod's ``ephemeral-storage`` limit (its containers' limits added up as Kubernetes adds pod
  limits), against all it writes: its disk-backed emptyDirs, its containers' writable layers and logs;
- each app container's ``ephemeral-storage`` limit, against its writable layer and its log.

What is decided here is pure: which limits a pod has (most pods have none, and are never measured)
and which one a measurement crosses, in the kubelet's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from minikube_py.model.quantity import format_quantity, parse_quantity_format, value
from minikube_py.model.scheduling import pod_requests

Obj = dict[str, Any]

RESOURCE = "ephemeral-storage"


@dataclass(frozen=True)
class Limit:
    """One limit: the name it is on (a volume's or a container's), in bytes and as the kubelet quotes it."""

    name: str
    bytes: int
    spelled: str


@dataclass(frozen=True)
class StorageLimits:
    """A pod's limits: its sized disk-backed emptyDirs, its own total, its app containers'. False
    when it has none, which is most pods: those are never measured."""

    volumes: tuple[Limit, ...] = ()
    pod: Limit | None = None
    containers: tuple[Limit, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.volumes or self.pod or self.containers)


@dataclass(frozen=True)
class StorageUse:
    """What a pod keeps on the node's disk: bytes in each disk-backed emptyDir, and each running
    container's writable layer and log."""

    volumes: Mapping[str, int]
    containers: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.volumes.values()) + sum(self.containers.values())


def _limit(name: str, raw: Any) -> Limit | None:
    """A positive quantity as a limit; None for none, zero, or what does not parse (validation refused it)."""
    if raw is None:
        return None
    try:
        amount, notation = parse_quantity_format(str(raw))
    except ValueError:
        return None
    return Limit(name, value(amount), format_quantity(amount, notation)) if amount > 0 else None


def _container_limit(container: Obj) -> Limit | None:
    return _limit(container.get("name", ""), ((container.get("resources") or {}).get("limits") or {}).get(RESOURCE))


def limits(pod: Obj) -> StorageLimits:
    """The local storage limits the kubelet enforces on ``pod``."""
    spec = pod.get("spec") or {}
    volumes = [
        limit
        for volume in spec.get("volumes") or []
        if isinstance(empty := volume.get("emptyDir"), dict)
        and empty.get("medium") != "Memory"
        and (limit := _limit(volume.get("name", ""), empty.get("sizeLimit"))) is not None
    ]
    containers = [limit for c in spec.get("containers") or [] if (limit := _container_limit(c)) is not None]
    total = pod_requests(spec, lambda c: {RESOURCE: limit.bytes} if (limit := _container_limit(c)) else {})
    first = next(
        (
            limit
            for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
            if (limit := _container_limit(c))
        ),
        None,
    )
    pod_limit = None
    if first is not None and total.get(RESOURCE, 0) > 0:
        # a sum of quantities prints in the notation of the first one added
        notation = parse_quantity_format(first.spelled)[1]
        pod_limit = Limit("", total[RESOURCE], format_quantity(Fraction(total[RESOURCE]), notation))
    return StorageLimits(tuple(volumes), pod_limit, tuple(containers))


def exceeded(found: StorageLimits, use: StorageUse) -> str | None:
    """The kubelet's eviction message for the first limit ``use`` crosses, or None."""
    for limit in found.volumes:
        if use.volumes.get(limit.name, 0) > limit.bytes:
            return f'Usage of EmptyDir volume "{limit.name}" exceeds the limit "{limit.spelled}". '
    if found.pod is not None and use.total > found.pod.bytes:
        return f"Pod ephemeral local storage usage exceeds the total limit of containers {found.pod.spelled}. "
    for limit in found.containers:
        if use.containers.get(limit.name, 0) > limit.bytes:
            return f'Container {limit.name} exceeded its local ephemeral storage limit "{limit.spelled}". '
    return None
