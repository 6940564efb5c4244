"""Decisions of the node lifecycle controller, as pure functions of objects and clocks.

A node proves it is alive by renewing its Lease in ``kube-node-lease`` (or posting a new Ready
heartbeat). The controller notes *when it saw* either change on its own monotonic clock rather than
trusting the timestamps inside, as kube-controller-manager does, so skew between a node's clock and
the server's cannot make a node look dead or alive. Once a node has been silent for the grace
period its kubelet-owned conditions become Unknown; the ``node.kubernetes.io/unreachable`` taints
follow the Ready condition, the ``*-pressure`` ones the kubelet's pressure conditions; pods on the node are marked not ready at once and evicted when their
toleration of the NoExecute taint runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from minikube_py.model.podcolumns import NODE_LOST
from minikube_py.model.preemption import DISRUPTION_TARGET
from minikube_py.model.scheduling import Toleration
from minikube_py.model.times import parse_time, rfc3339

Obj = dict[str, Any]

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
#: the taints (NoSchedule and NoExecute) a node's Ready status puts on it: unreachable while its kubelet
#: is silent (Unknown), not-ready while the kubelet says it cannot run pods (False)
READY_TAINTS = {"Unknown": UNREACHABLE_TAINT, "False": NOT_READY_TAINT}
#: the node conditions whose True status taints a node NoSchedule, and their taints' keys
CONDITION_TAINTS = {
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
    "NetworkUnavailable": "node.kubernetes.io/network-unavailable",
}
#: conditions a kubelet posts; once it goes silent nobody knows their truth any more
KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
TAINT_EVICTION_REASON = "DeletionByTaintManager"
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NEVER_REASON = "NodeStatusNeverUpdated"
NEVER_MESSAGE = "Kubelet never posted node status."
#: the tolerations the API's admission defaulting adds to every pod that has none of its own, by the
#: taint they tolerate; the controller's eviction timeout stands in for their 300 s, as kube-apiserver's
#: ``--default-unreachable-toleration-seconds`` and ``--default-not-ready-toleration-seconds`` would
ADMISSION_DEFAULT_TOLERATIONS: dict[str, Obj] = {
    key: {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    for key in (UNREACHABLE_TAINT, NOT_READY_TAINT)
}
_TERMINAL = ("Succeeded", "Failed")


# ------------------------------------------------------------------------------ liveness


@dataclass(frozen=True)
class Probe:
    """The last sign of life seen from a node: its signature and when (monotonic) it last changed."""

    signature: tuple[str | None, str | None]
    seen_at: float


def heartbeat_signature(node: Obj, lease: Obj | None) -> tuple[str | None, str | None]:
    """What changes whenever the node's kubelet is alive: the lease's renewTime and the Ready
    condition's lastHeartbeatTime (which the controller itself never changes)."""
    renew = ((lease or {}).get("spec") or {}).get("renewTime")
    ready = _condition(node, "Ready")
    return renew, (ready or {}).get("lastHeartbeatTime")


def observe(probe: Probe | None, signature: tuple[str | None, str | None], now: float) -> Probe:
    """A node first seen counts as alive now: a freshly started (or newly elected) controller gives
    every node a full grace period instead of judging it by a gap it did not watch."""
    if probe is None or probe.signature != signature:
        return Probe(signature, now)
    return probe


def silent_for(probe: Probe, now: float) -> float:
    return max(0.0, now - probe.seen_at)


# ------------------------------------------------------------------------------ node status and taints


def ready_status(node: Obj) -> str | None:
    """ "True", "False", "Unknown", or None when the node never posted a Ready condition."""
    ready = _condition(node, "Ready")
    return None if ready is None else str(ready.get("status"))


def unknown_conditions(node: Obj, now: datetime) -> list[Obj] | None:
    """The node's conditions with every kubelet-owned one set to Unknown (Ready added if it was
    never posted); None when they already are, so nothing needs writing."""
    stamp = rfc3339(now)
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    changed = False
    for condition in conditions:
        if condition.get("type") in KUBELET_CONDITIONS and condition.get("status") != "Unknown":
            condition.update(status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE, lastTransitionTime=stamp)
            changed = True
    if not any(c.get("type") == "Ready" for c in conditions):
        conditions.append(
            {
                "type": "Ready",
                "status": "Unknown",
                "reason": NEVER_REASON,
                "message": NEVER_MESSAGE,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }
        )
        changed = True
    return conditions if changed else None


def lifecycle_taints(node: Obj, now: datetime) -> list[Obj] | None:
    """The node's taints with the unreachable pair present exactly while its Ready condition is
    Unknown, the not-ready pair exactly while it is False, and a NoSchedule taint for each pressure
    condition (and NetworkUnavailable) that is True (Kubernetes' TaintNodesByCondition: the scheduler
    keeps new pods off, DaemonSets tolerate it); None when they already are. Taints of other owners are
    kept as they are, and a kept taint keeps its ``timeAdded``: eviction deadlines count from the
    NoExecute one's."""
    taints = list((node.get("spec") or {}).get("taints") or [])
    managed = {*READY_TAINTS.values(), *CONDITION_TAINTS.values()}
    others = [t for t in taints if t.get("key") not in managed]
    present = {(t.get("key"), t.get("effect")): t for t in taints if t.get("key") in managed}
    wanted: list[Obj] = []
    ready_taint = READY_TAINTS.get(ready_status(node) or "")
    if ready_taint is not None:
        wanted += [
            present.get((ready_taint, effect)) or {"key": ready_taint, "effect": effect, "timeAdded": rfc3339(now)}
            for effect in ("NoSchedule", "NoExecute")
        ]
    for kind, key in CONDITION_TAINTS.items():
        if (_condition(node, kind) or {}).get("status") == "True":
            wanted.append(present.get((key, "NoSchedule")) or {"key": key, "effect": "NoSchedule"})
    if len(wanted) == len(present) and all(any(t is kept for kept in present.values()) for t in wanted):
        return None
    return others + wanted


def tainted_since(node: Obj, key: str) -> datetime | None:
    """When the NoExecute taint ``key`` (unreachable or not-ready) was added: the start of every pod's
    toleration of it."""
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("key") == key and taint.get("effect") == "NoExecute":
            return parse_time(taint.get("timeAdded"))
    return None


# ------------------------------------------------------------------------------ pods


def is_terminal(pod: Obj) -> bool:
    """Finished pods hold nothing on the node and keep their record for their owners (a Job counts
    them), so they are neither marked nor evicted."""
    return (pod.get("status") or {}).get("phase") in _TERMINAL


def not_ready_patch(pod: Obj, now: datetime) -> Obj | None:
    """A strategic-merge status patch turning the pod's Ready condition False (so endpoints drop
    it); None when it is not True now."""
    ready = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") == "False" or is_terminal(pod):
        return None
    return {"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": rfc3339(now)}]}}


def eviction_patch(pod: Obj, now: datetime, lost_node: str = "") -> Obj | None:
    """The status a pod gets before the taint manager deletes it: the ``DisruptionTarget`` condition
    Kubernetes' taint eviction gives (a Job's pod failure policy reads why the pod went), and on an
    unreachable node (``lost_node``) the NodeLost reason (``kubectl get`` shows the pod Unknown while
    it goes); a strategic-merge status patch, None when the pod has them already."""
    status = pod.get("status") or {}
    patch: Obj = {}
    if not any(
        c.get("type") == DISRUPTION_TARGET and c.get("reason") == TAINT_EVICTION_REASON
        for c in status.get("conditions") or []
    ):
        condition = {
            "type": DISRUPTION_TARGET,
            "status": "True",
            "reason": TAINT_EVICTION_REASON,
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": rfc3339(now),
        }
        patch["conditions"] = [condition]
    if lost_node and status.get("reason") != NODE_LOST:
        name = pod["metadata"]["name"]
        patch.update(reason=NODE_LOST, message=f"Node {lost_node} which was running pod {name} is unresponsive")
    return {"status": patch} if patch else None


def was_evicted(pod: Obj) -> bool:
    """An eviction that did not finish (the controller stopped between the deletion and the force
    removal): once the node is back nothing else would remove the pod."""
    return bool(pod["metadata"].get("deletionTimestamp")) and (pod.get("status") or {}).get("reason") == NODE_LOST


def eviction_delay(pod: Obj, default_seconds: float, key: str = UNREACHABLE_TAINT) -> float | None:
    """Seconds the pod may stay on a node with the NoExecute taint ``key`` (unreachable or not-ready),
    None for ever.

    As Kubernetes' taint manager: no toleration of the taint means at once, otherwise the smallest
    ``tolerationSeconds`` among those that tolerate it (negative counts as zero), and for ever when
    none of them sets one. The toleration the API adds by default stands for ``default_seconds``,
    the configured eviction timeout."""
    taint = {"key": key, "effect": "NoExecute"}
    tolerating = [
        t
        for t in (pod.get("spec") or {}).get("tolerations") or []
        if isinstance(t, dict) and Toleration.of(t).tolerates(taint)
    ]
    if not tolerating:
        return 0.0
    seconds = [
        default_seconds if t == ADMISSION_DEFAULT_TOLERATIONS.get(key) else float(t["tolerationSeconds"])
        for t in tolerating
        if t.get("tolerationSeconds") is not None
    ]
    return max(0.0, min(seconds)) if seconds else None


def eviction_due(pod: Obj, since: datetime, default_seconds: float, key: str = UNREACHABLE_TAINT) -> datetime | None:
    """When the pod is to be evicted from a node tainted ``key`` since ``since``; None for never."""
    delay = eviction_delay(pod, default_seconds, key)
    return None if delay is None else since + timedelta(seconds=delay)


def _condition(node: Obj, kind: str) -> Obj | None:
    return next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)
