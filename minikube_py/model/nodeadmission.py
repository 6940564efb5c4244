"""The kubelet's admission of a pod bound to its node (its predicate admit handler): the node takes a
pod only if the pod fits beside the pods it already runs, whatever put the pod there. A pod the
scheduler placed fits; one created with ``spec.nodeName`` set passed no scheduler, and one the
scheduler placed on an old view of the node may not fit any more.

The checks are kube-scheduler's own filters run against the node's view: resources first (the pod
count, cpu, memory, ephemeral-storage, then other resources by name), then the required node
affinity, host ports, and NoExecute taints. Only the first failure is reported, as the kubelet does:
the pod fails with reason ``OutOf<resource>`` (``OutOfcpu``) or the filter's name, and the message
the kubelet writes after ``Pod was rejected:``.

Extended resources the node does not advertise at all are left out, as the kubelet leaves them out
(cluster-level resources that something else accounts for). A critical pod (system-node-critical,
system-cluster-critical) is not refused for resources: the kubelet would evict other pods to make
room for it; this node admits it without doing so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from minikube_py.model import resources
from minikube_py.model.eviction import CRITICAL_PRIORITY
from minikube_py.model.scheduling import AFFINITY_MISMATCH, PORTS_TAKEN, NodeInfo, PodInfo, shortages, untolerated_taint

Obj = dict[str, Any]

#: the kubelet's description of a pod that does not tolerate one of the node's NoExecute taints
TAINT_NOT_TOLERATED = "node(s) had taints that the pod didn't tolerate"


def refusal(mine: PodInfo, node: Obj, admitted: Iterable[PodInfo]) -> tuple[str, str] | None:
    """Why the node refuses a pod (``mine``, its :func:`~minikube_py.model.scheduling.pod_info`)
    beside the pods it ``admitted`` (still running), as (reason, message); None when it admits it."""
    info = NodeInfo(node["metadata"]["name"])
    info.set_node(node)
    for other in admitted:
        info.add(other)
    advertised = info.allocatable_scalars
    mine = replace(
        mine, scalars=tuple(s for s in mine.scalars if s[0] in advertised or not resources.is_extended(s[0]))
    )
    short = shortages(mine, info) if mine.priority < CRITICAL_PRIORITY else []
    if short:
        first = short[0]
        return (
            f"OutOf{first.resource}",
            f"Node didn't have enough resource: {first.resource}, requested: {first.requested}, "
            f"used: {first.used}, capacity: {first.capacity}",
        )
    if mine.required is not None and not mine.required(info.labels, info.name):
        return "NodeAffinity", f"Predicate NodeAffinity failed: {AFFINITY_MISMATCH}"
    if any(have.conflicts(wanted) for wanted in mine.ports for have in info.ports):
        return "NodePorts", f"Predicate NodePorts failed: {PORTS_TAKEN}"
    no_execute = [t for t in info.hard_taints if t.get("effect") == "NoExecute"]
    if untolerated_taint(no_execute, mine.tolerations) is not None:
        return "TaintToleration", f"Predicate TaintToleration failed: {TAINT_NOT_TOLERATED}"
    return None
