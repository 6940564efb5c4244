"""The Node object an agent registers and keeps current: labels, addresses, capacity, info, conditions.

Pure: built from the machine facts the runtime reports and the agent's settings, so that what a node
advertises can be checked without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from minikube_py.agent.runtime.base import MachineInfo
from minikube_py.model import resources
from minikube_py.model.quantity import Format, format_quantity
from minikube_py.model.times import rfc3339

Obj = dict[str, Any]
KUBELET_VERSION = "v1.32.0-pykube"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def now() -> str:
    return rfc3339()


def node_labels(name: str, machine: MachineInfo, extra: dict[str, str]) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": machine.operating_system,
        "kubernetes.io/arch": machine.architecture,
        "beta.kubernetes.io/os": machine.operating_system,
        "beta.kubernetes.io/arch": machine.architecture,
        **extra,
    }


#: kubelet's own conditions in the order it reports them, with their values on a healthy node
KUBELET_CONDITIONS: dict[str, tuple[str, str, str]] = {
    "MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
}


def node_status(
    machine: MachineInfo,
    *,
    ip: str,
    hostname: str,
    max_pods: int,
    kubelet_port: int,
    transitions: dict[str, tuple[str, str]] | None = None,
    extra: Sequence[Obj] = (),
    health: Mapping[str, tuple[str, str, str]] | None = None,
    eviction_reserve: int = 0,
    storage: int = 0,
    storage_reserve: int = 0,
    reported: Mapping[str, Any] | None = None,
    images: Sequence[Obj] = (),
) -> Obj:
    """Status as kubelet reports it. ``transitions`` (type → (status, since)) keeps each condition's
    lastTransitionTime stable across reports and moves it when the status changes (pass the same dict
    every time). ``extra`` conditions (NetworkUnavailable) come
    first, as on a Kubernetes node; they must be in every report because the status is written with a
    merge patch, which replaces the whole list. ``health`` gives conditions by type as (status, reason,
    message) (:meth:`minikube_py.agent.health.NodeHealth.conditions`): kubelet's own ones it names take
    its values, pykube's own follow the network one. ``eviction_reserve``: the memory the hard eviction
    threshold keeps free, which is not allocatable (kubelet's node allocatable). ``storage``: the size
    of the node's filesystem, its ``ephemeral-storage`` (0: not known), of which the ``nodefs``
    threshold keeps ``storage_reserve`` free. ``reported``: the status on the
    server, whose capacity may list extended resources somebody advertised for the node. ``images``: the
    engine's images as the status lists them (:func:`minikube_py.model.imagegc.status_images`)."""
    stamp = now()
    transitions = transitions if transitions is not None else {}
    health = health or {}
    capacity, allocatable = _resources(machine, max_pods, eviction_reserve, storage, storage_reserve, reported or {})
    conditions = [dict(c) for c in extra]
    kinds = [kind for kind in health if kind not in KUBELET_CONDITIONS] + list(KUBELET_CONDITIONS)
    for kind in kinds:
        status, reason, message = health.get(kind) or KUBELET_CONDITIONS[kind]
        last_status, since = transitions.get(kind, ("", stamp))
        if last_status != status:
            since = stamp
            transitions[kind] = (status, since)
        conditions.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": since,
            }
        )
    return {
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": conditions,
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": machine.kernel_version,
            "osImage": machine.os_image,
            "containerRuntimeVersion": machine.runtime_version,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": machine.operating_system,
            "architecture": machine.architecture,
        },
        "images": list(images),
        **_runtime_handlers(machine),
    }


def _resources(
    machine: MachineInfo,
    max_pods: int,
    memory_reserve: int,
    storage: int,
    storage_reserve: int,
    reported: Mapping[str, Any],
) -> tuple[Obj, Obj]:
    """Capacity and allocatable, as the kubelet's setter makes them: the machine's cpu, memory and
    filesystem, the pods it takes, and whatever else the capacity on the server lists (extended
    resources advertised with a PATCH of the node's status, as Kubernetes documents it), all of it
    allocatable but for the share the hard eviction thresholds keep free (the memory threshold, and
    the ``nodefs.available`` one for ephemeral-storage). An extended resource gone from the capacity
    leaves the allocatable too (None: removed by the merge patch)."""
    capacity: Obj = {
        name: amount for name, amount in (reported.get("capacity") or {}).items() if resources.is_extended(name)
    }
    capacity.update(cpu=str(machine.cpus), memory=f"{machine.memory_bytes // 1024}Ki", pods=str(max_pods))
    allocatable: Obj = {name: None for name in reported.get("allocatable") or {} if resources.is_extended(name)}
    allocatable.update(capacity, memory=f"{max(machine.memory_bytes - memory_reserve, 0) // 1024}Ki")
    if storage:
        capacity["ephemeral-storage"] = format_quantity(Fraction(storage), Format.BINARY_SI)
        allocatable["ephemeral-storage"] = format_quantity(
            Fraction(max(storage - storage_reserve, 0)), Format.BINARY_SI
        )
    return capacity, allocatable


def _runtime_handlers(machine: MachineInfo) -> Obj:
    """``runtimeHandlers``: the default one ("") and those a RuntimeClass may name, with the features
    kubelet 1.32 reports (no recursive read-only mounts: Docker 20.10 has none); nothing while the
    engine has not answered."""
    if not machine.runtime_handlers:
        return {}
    names = ("", *machine.runtime_handlers)
    return {"runtimeHandlers": [{"name": n, "features": {"recursiveReadOnlyMounts": False}} for n in names]}


def status_changed(old: Obj, new: Obj) -> bool:
    """Whether a report carries news beyond the heartbeat times (the Lease carries liveness)."""

    def strip(status: Obj) -> Obj:
        copy = dict(status)
        copy["conditions"] = [
            {k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in status.get("conditions") or []
        ]
        return copy

    return strip(old) != strip(new)
