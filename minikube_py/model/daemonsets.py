"""DaemonSet decisions as pure functions: which nodes should run a daemon pod, which pods to create
and delete (including a rolling update of the template), and the status the controller reports,
following Kubernetes' daemon controller.

A daemon pod is pinned to its node the way Kubernetes does it: the controller writes required node
affinity ``matchFields metadata.name In [node]`` and leaves binding to the scheduler, so a pod is
"on" a node as soon as it exists, bound or not (:func:`target_node`). Daemon pods get the default
tolerations Kubernetes adds, so they run on cordoned nodes, under disk or memory pressure, and stay
on nodes that become unreachable. New pods only go to Ready nodes (the scheduler would not bind
them elsewhere); pods already running stay as long as no untolerated NoExecute taint says
otherwise.

Pods are told apart by template revision through the ``controller-revision-hash`` label, the hash
of the pod template that also names the DaemonSet's ControllerRevision of that template
(``<daemonset>-<hash>``, kept by :mod:`minikube_py.model.history`, read by ``kubectl rollout
history`` and ``undo``); ``updatedNumberScheduled`` counts pods carrying the current one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minikube_py.model.history import revision_hash, revision_name
from minikube_py.model.replication import is_available, is_ready, next_available_in
from minikube_py.model.rollout import scaled_value
from minikube_py.model.scheduling import UNSCHEDULABLE_TAINT, pod_info, untolerated_taint

Obj = dict[str, Any]

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"

#: tolerations every daemon pod gets (Kubernetes' ``AddOrUpdateDaemonPodTolerations``)
DEFAULT_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"},
)
#: added only for pods on the host network, which does not wait for the pod network
HOST_NETWORK_TOLERATION: Obj = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}


# ------------------------------------------------------------------------------ the daemon pod


def revisions_in_use(ds: Obj, pods: list[Obj]) -> set[str]:
    """The names of the revisions the DaemonSet's pods run, which its history keeps whatever the limit."""
    hashes = {(p["metadata"].get("labels") or {}).get(REVISION_LABEL) for p in pods}
    return {revision_name(ds["metadata"]["name"], h) for h in hashes if h}


def daemon_template(ds: Obj) -> Obj:
    """The DaemonSet's pod template with the default daemon tolerations added."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    spec = template.setdefault("spec", {})
    tolerations = spec.setdefault("tolerations", [])
    wanted = [*DEFAULT_TOLERATIONS, *([HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else [])]
    for toleration in wanted:
        if not any(t.get("key") == toleration["key"] and t.get("effect") == toleration["effect"] for t in tolerations):
            tolerations.append(dict(toleration))
    return template


def pin_to_node(spec: Obj, node: str) -> None:
    """Require ``node`` through node affinity, keeping the template's own label expressions: each
    required term gets ``matchFields metadata.name In [node]`` in place of its fields (Kubernetes'
    ``ReplaceDaemonSetPodNodeNameNodeAffinity``)."""
    pin = [{"key": "metadata.name", "operator": "In", "values": [node]}]
    node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        required["nodeSelectorTerms"] = [{"matchFields": pin}]
        return
    for term in terms:
        term["matchFields"] = copy.deepcopy(pin)


def target_node(pod: Obj) -> str | None:
    """The node a daemon pod is for: its ``nodeName`` once bound, else the node its affinity pins."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchFields") or []:
            values = expr.get("values") or []
            if expr.get("key") == "metadata.name" and expr.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None


# ------------------------------------------------------------------------------ node eligibility


@dataclass(frozen=True)
class Placement:
    should_run: bool  # a daemon pod belongs here and a new one may be created
    should_continue: bool  # a daemon pod already here may stay


def _node_ready(node: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def placement(template: Obj, node: Obj) -> Placement:
    """Whether the daemon pod of ``template`` (tolerations included) belongs on ``node``:
    nodeSelector and required node affinity must match; every NoSchedule/NoExecute taint (and the
    cordon) must be tolerated for a new pod, only NoExecute ones for a running pod to stay."""
    info = pod_info({"metadata": {"name": "daemon", "namespace": ""}, "spec": template.get("spec") or {}})
    md, spec = node["metadata"], node.get("spec") or {}
    if info.required is not None and not info.required(md.get("labels") or {}, md["name"]):
        return Placement(False, False)
    taints = list(spec.get("taints") or [])
    if spec.get("unschedulable"):
        taints.append({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"})
    hard = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]
    evicting = [t for t in taints if t.get("effect") == "NoExecute"]
    stays = untolerated_taint(evicting, info.tolerations) is None
    return Placement(stays and _node_ready(node) and untolerated_taint(hard, info.tolerations) is None, stays)


# ------------------------------------------------------------------------------ the sync


@dataclass
class DaemonStep:
    create: list[str] = field(default_factory=list)  # node names
    delete: list[Obj] = field(default_factory=list)
    status: Obj = field(default_factory=dict)
    requeue_after: float | None = None


def _oldest_first(pods: list[Obj]) -> list[Obj]:
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))


def is_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    labels = pod["metadata"].get("labels") or {}
    if REVISION_LABEL in labels:
        return labels[REVISION_LABEL] == hash_
    return generation is not None and labels.get(GENERATION_LABEL) == str(generation)


def _budgets(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxUnavailable, maxSurge) resolved against the desired count; both zero means one
    unavailable, the only way such a spec could make progress."""
    rolling = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", 0), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, True)
    return (unavailable or (0 if surge else 1)), surge


def plan_daemonset(
    ds: Obj, nodes: list[Obj], pods: list[Obj], now: datetime, *, expectations_met: bool = True
) -> DaemonStep:
    """One sync: pods to create (by node) and delete, and the status. ``pods`` are the DaemonSet's
    own; while ``expectations_met`` is False (earlier creates/deletes not yet in the cache) only
    the status is computed."""
    spec = ds.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    hash_, generation = revision_hash(ds), ds["metadata"].get("generation")
    template = daemon_template(ds)
    live: dict[str, list[Obj]] = {}
    leaving: set[str] = set()
    step = DaemonStep()
    for pod in pods:
        node = target_node(pod)
        if node is None:
            continue
        if pod["metadata"].get("deletionTimestamp"):
            leaving.add(node)
        elif (pod.get("status") or {}).get("phase") == "Failed":
            step.delete.append(pod)  # a failed daemon pod is replaced, as the kubelet will not restart it
            leaving.add(node)
        else:
            live.setdefault(node, []).append(pod)

    names = {n["metadata"]["name"] for n in nodes}
    step.delete += [p for node, on_node in live.items() if node not in names for p in on_node]
    desired = current = ready = available = updated = misscheduled = 0
    should_run: dict[str, list[Obj]] = {}  # the pods kept on each node that should run one
    surge_enabled = _budgets(ds, 1)[1] > 0
    for node in nodes:
        name = node["metadata"]["name"]
        here = _oldest_first(live.get(name, []))
        where = placement(template, node)
        if not where.should_run and not where.should_continue:
            step.delete += here
            misscheduled += 1 if here else 0
            continue
        kept = _keep(here, hash_, generation, surge_enabled)
        step.delete += [p for p in here if p not in kept]
        if not where.should_run:
            misscheduled += 1 if kept else 0
            continue
        desired += 1
        should_run[name] = kept
        if not kept:
            if name not in leaving:
                step.create.append(name)
            continue
        current += 1
        ready += 1 if any(is_ready(p) for p in kept) else 0
        available += 1 if any(is_available(p, min_ready, now) for p in kept) else 0
        updated += 1 if any(is_updated(p, hash_, generation) for p in kept) else 0
    if ((spec.get("updateStrategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate":
        _roll(step, ds, should_run, hash_, generation, min_ready, now)
    if not expectations_met:
        step.create, step.delete = [], []
    step.status = _status(ds, desired, current, ready, available, updated, misscheduled)
    step.requeue_after = next_available_in([p for kept in should_run.values() for p in kept], min_ready, now)
    return step


def _keep(pods: list[Obj], hash_: str, generation: int | None, surge: bool) -> list[Obj]:
    """The pods a node keeps: the oldest one, or with surge the oldest updated and oldest old pod
    (an update in flight); duplicates beyond that go."""
    if not surge:
        return pods[:1]
    new = [p for p in pods if is_updated(p, hash_, generation)]
    old = [p for p in pods if not is_updated(p, hash_, generation)]
    return new[:1] + old[:1]


def _roll(
    step: DaemonStep,
    ds: Obj,
    should_run: dict[str, list[Obj]],
    hash_: str,
    generation: int | None,
    min_ready: int,
    now: datetime,
) -> None:
    """Replace old pods within the budgets: with no surge, delete old pods while at most
    maxUnavailable nodes lack an available pod (already unavailable old pods go first, freely);
    with surge, start new pods beside old ones and delete each old pod once its new one is
    available."""
    max_unavailable, max_surge = _budgets(ds, len(should_run))
    deleting = {p["metadata"]["uid"] for p in step.delete}
    if max_surge == 0:
        unavailable = sum(1 for kept in should_run.values() if not any(is_available(p, min_ready, now) for p in kept))
        old = [kept[0] for kept in should_run.values() if kept and not is_updated(kept[0], hash_, generation)]
        for pod in sorted(old, key=lambda p: is_available(p, min_ready, now)):
            if pod["metadata"]["uid"] in deleting:
                continue
            if not is_available(pod, min_ready, now):
                step.delete.append(pod)
            elif unavailable < max_unavailable:
                step.delete.append(pod)
                unavailable += 1
        return
    surging = sum(1 for kept in should_run.values() if len(kept) == 2)
    for node, kept in should_run.items():
        new = [p for p in kept if is_updated(p, hash_, generation)]
        old = [p for p in kept if not is_updated(p, hash_, generation)]
        if not old:
            continue
        if new:
            if is_available(new[0], min_ready, now):
                step.delete.append(old[0])
        elif not is_available(old[0], min_ready, now) or surging < max_surge:
            surging += 1 if is_available(old[0], min_ready, now) else 0
            step.create.append(node)


def _status(ds: Obj, desired: int, current: int, ready: int, available: int, updated: int, misscheduled: int) -> Obj:
    status: Obj = {
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "observedGeneration": ds["metadata"].get("generation", 1),
    }
    for name, value in (
        ("updatedNumberScheduled", updated),
        ("numberAvailable", available),
        ("numberUnavailable", desired - available),
    ):
        if value:
            status[name] = value
    old = ds.get("status") or {}
    for kept in ("collisionCount", "conditions"):
        if kept in old:
            status[kept] = old[kept]
    return status
