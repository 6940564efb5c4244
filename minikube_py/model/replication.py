"""The decisions of the ReplicationController and ReplicaSet controller, apart from any I/O.

Kubernetes' replica controller looks like "count the pods, create or delete the difference", but
its care lies in the fences around that count, all here so each is unit-tested:

- which pods count (active ones: not finished, not being deleted) and which are ours (the claim:
  adopt matching orphans, release owned pods whose labels no longer match);
- which pods go first when scaling down (:func:`deletion_order`, Kubernetes' ``ActivePods`` order);
- how creates are paced (slow-start batches, a burst cap per sync) so a broken template costs one
  failed request rather than five hundred;
- the status the controller reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minikube_py.model.podtemplate import controller_of
from minikube_py.model.selectors import LabelSelector
from minikube_py.model.times import parse_time, rfc3339

Obj = dict[str, Any]

#: Kubernetes' ``burstReplicas``: at most this many creates or deletes per sync, so one huge
#: resize cannot monopolise the API server; the rest follows once these are observed
BURST_REPLICAS = 500
#: first slow-start batch; each successful batch doubles the next one
SLOW_START_INITIAL_BATCH = 1

REPLICA_FAILURE = "ReplicaFailure"

#: ``podPhaseToOrdinal``: pods further from running are cheaper to lose; other phases rank lowest
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


# ------------------------------------------------------------------------------ pod facts


def is_active(pod: Obj) -> bool:
    """Whether the pod counts towards ``replicas``: finished pods and pods on their way out are
    replaced, not counted, as Kubernetes' ``FilterActivePods``."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def _ready_condition(pod: Obj) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition
    return None


def is_ready(pod: Obj) -> bool:
    condition = _ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def ready_since(pod: Obj) -> datetime | None:
    """When a ready pod became ready (None if it is not ready or the time is unknown)."""
    condition = _ready_condition(pod)
    if condition is None or condition.get("status") != "True":
        return None
    return parse_time(condition.get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for longer than ``minReadySeconds``; a ready pod whose transition time is unknown is
    never available when a minimum applies, as in Kubernetes' ``IsPodAvailable``."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and (now - since).total_seconds() > min_ready_seconds


def next_available_in(pods: Iterable[Obj], min_ready_seconds: int, now: datetime) -> float | None:
    """Seconds until the first ready-but-not-yet-available pod becomes available, so the controller
    wakes up to report it rather than polling; None when no pod is waiting for that."""
    if min_ready_seconds <= 0:
        return None
    waits = [
        min_ready_seconds - (now - since).total_seconds()
        for pod in pods
        if (since := ready_since(pod)) is not None and not is_available(pod, min_ready_seconds, now)
    ]
    return max(min(waits), 0.0) if waits else None


def max_restarts(pod: Obj) -> int:
    return max(
        (cs.get("restartCount", 0) for cs in (pod.get("status") or {}).get("containerStatuses") or ()), default=0
    )


# ------------------------------------------------------------------------------ claiming


@dataclass
class Claim:
    """The outcome of matching candidate pods against one owner: what it keeps, what it should
    adopt (orphans it matches) and what it should release (its pods it no longer matches)."""

    owned: list[Obj] = field(default_factory=list)
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def newly_adoptable(old: Obj | None, new: Obj) -> bool:
    """Whether a pod's change (to ``new``, from ``old`` if it is not new) may change who adopts it:
    it is without a controller and it just came, was just released, or its labels changed; a status
    update of an orphan wakes no one."""
    return controller_of(new) is None and (
        old is None or controller_of(old) is not None or old["metadata"].get("labels") != new["metadata"].get("labels")
    )


def claim_pods(owner_uid: str, selector: LabelSelector, candidates: Iterable[Obj], *, owner_deleting: bool) -> Claim:
    """Kubernetes' ``ClaimPods``. Pods controlled by someone else are never touched. An owner being
    deleted neither adopts (its orphans would be deleted along with it) nor releases (garbage
    collection is deciding about its pods); a pod being deleted is neither adopted nor released,
    since its fate is already sealed."""
    claim = Claim()
    for pod in candidates:
        ref = controller_of(pod)
        matches = selector.matches(pod["metadata"].get("labels"))
        deleting = bool(pod["metadata"].get("deletionTimestamp"))
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue
            if matches:
                claim.owned.append(pod)
            elif not owner_deleting and not deleting:
                claim.release.append(pod)
        elif matches and not owner_deleting and not deleting:
            claim.adopt.append(pod)
    return claim


# ------------------------------------------------------------------------------ scaling


def replica_diff(active: int, replicas: int, burst: int = BURST_REPLICAS) -> int:
    """Pods to create (positive) or delete (negative) in one sync, capped at ``burst`` either way."""
    diff = replicas - active
    return max(-burst, min(burst, diff))


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """Batch sizes 1, 2, 4, ... summing to ``count``: a template the API rejects fails once, not
    ``count`` times, while a good one reaches full speed after a few round trips."""
    batches: list[int] = []
    size = min(initial, count)
    remaining = count
    while remaining > 0:
        batches.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return batches


def _newer_first(moment: datetime | None) -> tuple[int, float]:
    """Sort part putting an unknown time first, then the most recent (``afterOrZero``)."""
    return (0, 0.0) if moment is None else (1, -moment.timestamp())


def deletion_key(pod: Obj, colocated: int) -> tuple[Any, ...]:
    """Sort key of Kubernetes' ``ActivePodsWithRanks``: the lowest key is deleted first.

    Unscheduled before scheduled; Pending before Unknown before Running; not ready before ready;
    pods sharing a node with more siblings (``colocated``) first, to keep replicas spread; among
    ready pods the most recently ready; more restarts first; the newest first. The name breaks the
    remaining ties so that two controller instances looking at the same pods pick the same ones.
    """
    status = pod.get("status") or {}
    ready = is_ready(pod)
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        _PHASE_ORDER.get(status.get("phase", ""), 0),
        1 if ready else 0,
        -colocated,
        _newer_first(ready_since(pod)) if ready else (0, 0.0),
        -max_restarts(pod),
        _newer_first(parse_time(pod["metadata"].get("creationTimestamp"))),
        pod["metadata"].get("name", ""),
    )


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """The pods in the order a scale-down removes them; co-location counts among ``pods`` themselves."""
    per_node: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName") or ""
        per_node[node] = per_node.get(node, 0) + 1

    def key(pod: Obj) -> tuple[Any, ...]:
        node = (pod.get("spec") or {}).get("nodeName") or ""
        return deletion_key(pod, per_node[node] if node else 0)

    return sorted(pods, key=key)


def pods_to_delete(pods: list[Obj], count: int) -> list[Obj]:
    return deletion_order(pods)[:count] if count < len(pods) else list(pods)


# ------------------------------------------------------------------------------ status


def fully_labeled(pod: Obj, template_labels: Mapping[str, str]) -> bool:
    """Whether the pod carries every label of the template (``fullyLabeledReplicas``)."""
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in template_labels.items())


def replica_status(owner: Obj, active: list[Obj], now: datetime, failure: tuple[str, str] | None) -> Obj:
    """The status the owner should show. ``failure`` is (reason, message) of the last sync's failed
    create or delete: it sets the ReplicaFailure condition, which is kept as first set while failures
    go on and removed once a sync succeeds. Zero counts are left out, as Kubernetes' JSON does."""
    spec = owner.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    old = owner.get("status") or {}
    conditions = [c for c in old.get("conditions") or () if c.get("type") != REPLICA_FAILURE]
    previous_failure = next((c for c in old.get("conditions") or () if c.get("type") == REPLICA_FAILURE), None)
    if failure is not None:
        reason, message = failure
        conditions.append(
            previous_failure
            or {
                "type": REPLICA_FAILURE,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": rfc3339(now),
            }
        )
    status: Obj = {"replicas": len(active)}
    counts = {
        "fullyLabeledReplicas": sum(1 for p in active if fully_labeled(p, template_labels)),
        "readyReplicas": sum(1 for p in active if is_ready(p)),
        "availableReplicas": sum(1 for p in active if is_available(p, min_ready, now)),
        "observedGeneration": owner["metadata"].get("generation", 0),
    }
    status.update({k: v for k, v in counts.items() if v})
    if conditions:
        status["conditions"] = conditions
    return status
