"""The Deployment controller's decisions, as pure functions of the Deployment and its ReplicaSets.

Kubernetes' deployment controller is a handful of rules that look simple and hide many fences:
which ReplicaSet is "new" (the one whose pod template equals the Deployment's), how far a rolling
update may surge above or dip below the desired count, how a resize is spread over the ReplicaSets
of a rollout in flight, and when the rollout counts as progressing, complete or stuck. They live
here apart from any I/O so every fence is unit-tested; the controller only reads caches, calls
these, and writes the answers.

A *plan* maps ReplicaSet names to the replica count each should be scaled to.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from minikube_py.model.conditions import get_condition, new_condition, remove_condition
from minikube_py.model.times import parse_time

Obj = dict[str, Any]
Plan = dict[str, int]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
#: Deployment annotations that describe the Deployment itself and are never copied to its ReplicaSets
#: (the same set kubectl leaves alone when it rolls a template back)
NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
#: Kubernetes caps the revision-history annotation at this many characters
MAX_HISTORY_CHARS = 2000
#: progressDeadlineSeconds of MaxInt32 means "no deadline"
NO_DEADLINE = 2**31 - 1

#: Kubernetes' alphabet for generated names: no vowels (no words) and no look-alikes (0/o, 1/l)
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# Condition reasons, as the deployment controller writes them and kubectl reads them.
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"


# ------------------------------------------------------------------------------ pod-template hash


def _pruned(value: Any) -> Any:
    """Drop nulls and empty maps/lists at every depth: Kubernetes compares templates semantically,
    where an absent field, a null and an empty collection are the same thing."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _without_hash(template: Mapping[str, Any]) -> Any:
    pruned = _pruned(dict(template))
    (pruned.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return _pruned(pruned)


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two pod templates are the same apart from the ``pod-template-hash`` label: how the
    controller recognises the ReplicaSet of the Deployment's current template (after
    ``rollout undo`` too, when the template comes back from an old ReplicaSet)."""
    return bool(_without_hash(a) == _without_hash(b))


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """Kubernetes' ``SafeEncodeString``: each character mapped into :data:`SAFE_ALPHABET`."""
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in text)


def template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a template: FNV-32a of its canonical JSON (so semantically equal
    templates hash alike), salted with the Deployment's ``collisionCount`` when one is set so that a
    name clash with a foreign ReplicaSet can be escaped, rendered like Kubernetes' hashes."""
    data = json.dumps(_without_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += collision_count.to_bytes(4, "little") + bytes(4)
    return safe_encode(str(_fnv32a(data)))


# ------------------------------------------------------------------------------ views


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _int_annotation(annotations: Mapping[str, str], key: str) -> int | None:
    try:
        return int(annotations[key])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class ReplicaSetView:
    """What the rollout rules need to know about one ReplicaSet."""

    name: str
    replicas: int  # spec.replicas
    available: int = 0  # status.availableReplicas
    actual: int = 0  # status.replicas
    ready: int = 0  # status.readyReplicas
    created: str = ""  # creationTimestamp, RFC 3339: sorts chronologically as text
    revision: int = 0
    desired_annotation: int | None = None
    max_annotation: int | None = None
    settled: bool = True  # status.observedGeneration has caught up with metadata.generation
    deleting: bool = False
    exists: bool = True  # False for the new ReplicaSet before it is created

    @classmethod
    def of(cls, rs: Obj) -> ReplicaSetView:
        md, spec, status = rs.get("metadata") or {}, rs.get("spec") or {}, rs.get("status") or {}
        annotations = md.get("annotations") or {}
        return cls(
            name=md["name"],
            replicas=_int(spec.get("replicas"), 1),
            available=_int(status.get("availableReplicas")),
            actual=_int(status.get("replicas")),
            ready=_int(status.get("readyReplicas")),
            created=md.get("creationTimestamp") or "",
            revision=_int(annotations.get(REVISION)),
            desired_annotation=_int_annotation(annotations, DESIRED_REPLICAS),
            max_annotation=_int_annotation(annotations, MAX_REPLICAS),
            settled=_int(md.get("generation")) <= _int(status.get("observedGeneration")),
            deleting=bool(md.get("deletionTimestamp")),
        )

    @property
    def surely_available(self) -> int:
        """Available pods that will survive: a ReplicaSet just scaled down may still report pods
        its controller is about to delete, and counting those would let a rollout dip below its
        availability floor."""
        return min(self.available, self.replicas)


def _oldest_first(rss: Iterable[ReplicaSetView]) -> list[ReplicaSetView]:
    return sorted(rss, key=lambda rs: (rs.created, rs.name))


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString (``3`` or ``"25%"``) as a count out of ``total``; percentages round up for
    maxSurge and down for maxUnavailable, as Kubernetes does."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: {value!r} is not a percentage")
    scaled = int(text[:-1]) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


@dataclass(frozen=True)
class Rollout:
    """A Deployment's rollout knobs with maxSurge and maxUnavailable resolved to counts."""

    replicas: int
    recreate: bool = False
    max_surge: int = 0
    max_unavailable: int = 0

    @classmethod
    def of(cls, deployment: Obj) -> Rollout:
        spec = deployment.get("spec") or {}
        replicas = _int(spec.get("replicas"), 1)
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate":
            return cls(replicas, recreate=True)
        rolling = strategy.get("rollingUpdate") or {}
        surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, True)
        unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavailable == 0:
            # Validation forbids both being zero, but rounding can get there; without one spare
            # pod either way a rollout could never move.
            unavailable = 1
        return cls(replicas, max_surge=surge, max_unavailable=min(unavailable, replicas) if replicas else 0)

    @property
    def min_available(self) -> int:
        return self.replicas - self.max_unavailable

    def replica_annotations(self) -> dict[str, str]:
        """The annotations a ReplicaSet gets when this Deployment scales it, read back by
        proportional scaling to learn what size the ReplicaSet was meant to have."""
        return {DESIRED_REPLICAS: str(self.replicas), MAX_REPLICAS: str(self.replicas + self.max_surge)}


# ------------------------------------------------------------------------------ rollout steps


def new_replica_count(r: Rollout, rss: Iterable[ReplicaSetView], new: ReplicaSetView) -> int:
    """The size the new ReplicaSet may grow to now: all of ``replicas`` under Recreate; under
    RollingUpdate, as many as fit below ``replicas + maxSurge`` counting every ReplicaSet."""
    if r.recreate:
        return r.replicas
    current = sum(rs.replicas for rs in rss)
    ceiling = r.replicas + r.max_surge
    if current >= ceiling:
        return new.replicas
    return new.replicas + min(ceiling - current, r.replicas - new.replicas)


def rolling_step(r: Rollout, new: ReplicaSetView, old: list[ReplicaSetView]) -> Plan:
    """One step of a rolling update: scale the new ReplicaSet up as far as maxSurge allows; only
    when that moves nothing, scale old ones down as far as maxUnavailable allows."""
    if new.replicas > r.replicas:
        return {new.name: r.replicas}
    if new.replicas < r.replicas:
        target = new_replica_count(r, [new, *old], new)
        if target != new.replicas:
            return {new.name: target}
    return _scale_down_old(r, new, old)


def _scale_down_old(r: Rollout, new: ReplicaSetView, old: list[ReplicaSetView]) -> Plan:
    active = _oldest_first(rs for rs in old if rs.replicas > 0)
    if not active:
        return {}
    total = new.replicas + sum(rs.replicas for rs in active)
    budget = total - r.min_available - (new.replicas - new.surely_available)
    if budget <= 0:
        return {}
    sizes = {rs.name: rs.replicas for rs in active}
    # Unavailable old pods go first: removing them costs no availability.
    removed = 0
    for rs in active:
        if removed >= budget:
            break
        take = min(budget - removed, rs.replicas - rs.surely_available)
        sizes[rs.name] -= take
        removed += take
    # Then available ones, as long as enough stay available.
    available = new.surely_available + sum(rs.surely_available for rs in active)
    spare, removed = available - r.min_available, 0
    for rs in active:
        if removed >= spare:
            break
        take = min(sizes[rs.name], spare - removed)
        sizes[rs.name] -= take
        removed += take
    return {rs.name: sizes[rs.name] for rs in active if sizes[rs.name] != rs.replicas}


def recreate_step(r: Rollout, new: ReplicaSetView, old: list[ReplicaSetView], old_pods_running: bool) -> Plan:
    """One step of a Recreate rollout: every old ReplicaSet to zero; once none of their pods is left,
    the new one (created at that point if need be) to ``replicas``."""
    plan = {rs.name: 0 for rs in old if rs.replicas > 0}
    if plan or old_pods_running:
        return plan
    if not new.exists or new.replicas != r.replicas:
        return {new.name: r.replicas}
    return {}


def is_scaling_event(r: Rollout, rss: Iterable[ReplicaSetView]) -> bool:
    """Whether ``spec.replicas`` changed since the active ReplicaSets were last sized (their
    desired-replicas annotation says for what), as opposed to a template change."""
    return any(
        rs.replicas > 0 and rs.desired_annotation is not None and rs.desired_annotation != r.replicas for rs in rss
    )


def _saturated(r: Rollout, rs: ReplicaSetView) -> bool:
    return rs.replicas == r.replicas and rs.desired_annotation == r.replicas and rs.available == r.replicas


def scaling_plan(r: Rollout, new: ReplicaSetView | None, old: list[ReplicaSetView], status_replicas: int) -> Plan:
    """Apply a change of ``spec.replicas`` without advancing the rollout.

    With one active ReplicaSet it simply takes the new size. With a rolling update in flight the
    difference is spread over the active ReplicaSets in proportion to their size (bigger ones
    first, leftovers to the biggest), so the ratio between old and new is kept. Every ReplicaSet in
    the returned plan also gets fresh replica annotations, even when its size stays.
    """
    every = [rs for rs in [new, *old] if rs is not None]
    active = [rs for rs in every if rs.replicas > 0]
    if len(active) <= 1:
        target = active[0] if active else new or (_oldest_first(old)[-1] if old else None)
        return {} if target is None else {target.name: r.replicas}
    if new is not None and _saturated(r, new):
        return {rs.name: 0 for rs in old if rs.replicas > 0}
    if r.recreate:
        return {}
    allowed = r.replicas + r.max_surge if r.replicas > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in active)
    if to_add > 0:  # bigger first; among equals the newer grows first
        active.sort(key=lambda rs: (rs.created, rs.name), reverse=True)
        active.sort(key=lambda rs: rs.replicas, reverse=True)
    elif to_add < 0:  # bigger first; among equals the older shrinks first
        active = _oldest_first(active)
        active.sort(key=lambda rs: rs.replicas, reverse=True)
    sizes: Plan = {}
    added = 0
    for rs in active:
        share = _proportion(r, rs, to_add, added, status_replicas)
        sizes[rs.name] = rs.replicas + share
        added += share
    if to_add:
        biggest = active[0].name
        sizes[biggest] = max(0, sizes[biggest] + to_add - added)
    return sizes


def _proportion(r: Rollout, rs: ReplicaSetView, to_add: int, added: int, status_replicas: int) -> int:
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    if r.replicas == 0:
        fraction = -rs.replicas
    else:
        was_sized_for = rs.max_annotation if rs.max_annotation is not None else status_replicas
        fraction = (
            0
            if was_sized_for == 0
            else _round_half_away(rs.replicas * (r.replicas + r.max_surge) / was_sized_for) - rs.replicas
        )
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _round_half_away(x: float) -> int:
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def history_to_delete(old: list[ReplicaSetView], limit: int | None) -> list[str]:
    """Old ReplicaSets beyond ``revisionHistoryLimit``, oldest revision first; only those fully
    scaled to zero (and seen so by their controller) are deleted, so no pod is lost to cleanup."""
    if limit is None:
        return []
    alive = sorted((rs for rs in old if not rs.deleting), key=lambda rs: (rs.revision, rs.created, rs.name))
    excess = len(alive) - limit
    return [rs.name for rs in alive[: max(excess, 0)] if rs.replicas == 0 and rs.actual == 0 and rs.settled]


# ------------------------------------------------------------------------------ revisions


def max_revision(rss: Iterable[ReplicaSetView]) -> int:
    return max((rs.revision for rs in rss), default=0)


def new_replica_set_annotations(
    deployment_annotations: Mapping[str, str], rs_annotations: Mapping[str, str], revision: int
) -> dict[str, str]:
    """The annotations of the Deployment's new ReplicaSet: the Deployment's own (change-cause
    among them), and ``revision`` if that is higher than the one it has. A ReplicaSet that had a
    revision already is being rolled back to, so its earlier revisions go to the history."""
    out = dict(rs_annotations)
    out.update({k: v for k, v in deployment_annotations.items() if k not in NOT_COPIED})
    current = out.get(REVISION)
    try:
        current_number = int(current) if current else 0
    except ValueError:
        return out  # not ours to renumber
    if current_number >= revision:
        return out
    out[REVISION] = str(revision)
    if current:
        history = [h for h in out.get(REVISION_HISTORY, "").split(",") if h] + [current]
        while len(",".join(history)) > MAX_HISTORY_CHARS and len(history) > 1:
            history.pop(0)
        out[REVISION_HISTORY] = ",".join(history)
    return out


# ------------------------------------------------------------------------------ status and conditions


def condition(kind: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    return new_condition(kind, status, reason, message, now, stamped="lastUpdateTime")


def set_condition(status: Obj, new: Obj) -> None:
    """Set a condition in place, as Kubernetes does: same status and reason is no change at all;
    same status keeps the old lastTransitionTime."""
    current = get_condition(status, new["type"])
    if current is not None and current.get("status") == new["status"] and current.get("reason") == new["reason"]:
        return
    if current is not None and current.get("status") == new["status"]:
        new = {**new, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != new["type"]] + [new]


def progress_deadline(deployment: Obj) -> int | None:
    seconds = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    return None if seconds is None or seconds == NO_DEADLINE else int(seconds)


def pause_condition(deployment: Obj, status: Obj, now: datetime) -> None:
    """Mark the Progressing condition paused/resumed when ``spec.paused`` flips (not over a
    deadline already exceeded), so the progress deadline does not count paused time."""
    if progress_deadline(deployment) is None:
        return
    current = get_condition(status, "Progressing")
    if current is not None and current.get("reason") == TIMED_OUT:
        return
    marked_paused = current is not None and current.get("reason") == PAUSED
    if (deployment.get("spec") or {}).get("paused") and not marked_paused:
        set_condition(status, condition("Progressing", "Unknown", PAUSED, "Deployment is paused", now))
    elif not (deployment.get("spec") or {}).get("paused") and marked_paused:
        set_condition(status, condition("Progressing", "Unknown", RESUMED, "Deployment is resumed", now))


def replica_status(
    deployment: Obj, r: Rollout, rss: list[ReplicaSetView], new: ReplicaSetView | None, previous: Obj, now: datetime
) -> Obj:
    """Counts and the Available condition, over ``previous`` status's other conditions. Zero counts
    are left out, as Kubernetes' JSON leaves them out."""
    available = sum(rs.available for rs in rss)
    counts = {
        "observedGeneration": _int(deployment["metadata"].get("generation")),
        "replicas": sum(rs.actual for rs in rss),
        "updatedReplicas": new.actual if new is not None else 0,
        "readyReplicas": sum(rs.ready for rs in rss),
        "availableReplicas": available,
        "unavailableReplicas": max(sum(rs.replicas for rs in rss) - available, 0),
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    if previous.get("collisionCount") is not None:
        status["collisionCount"] = previous["collisionCount"]
    if previous.get("conditions"):
        status["conditions"] = [dict(c) for c in previous["conditions"]]
    if available >= r.min_available:
        set_condition(
            status, condition("Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
        )
    else:
        set_condition(
            status,
            condition("Available", "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.", now),
        )
    return status


def complete(deployment: Obj, status: Mapping[str, Any]) -> bool:
    """Every desired replica is updated and available and no old one is left (what
    ``NewReplicaSetAvailable`` means)."""
    replicas = _int((deployment.get("spec") or {}).get("replicas"), 1)
    return (
        _int(status.get("updatedReplicas")) == replicas
        and _int(status.get("replicas")) == replicas
        and _int(status.get("availableReplicas")) == replicas
        and _int(status.get("observedGeneration")) >= _int(deployment["metadata"].get("generation"))
    )


def _progressed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def stale(s: Mapping[str, Any]) -> int:
        return _int(s.get("replicas")) - _int(s.get("updatedReplicas"))

    return (
        _int(new.get("updatedReplicas")) > _int(old.get("updatedReplicas"))
        or stale(new) < stale(old)
        or _int(new.get("readyReplicas")) > _int(old.get("readyReplicas"))
        or _int(new.get("availableReplicas")) > _int(old.get("availableReplicas"))
    )


def _timed_out(deadline: int, status: Mapping[str, Any], now: datetime) -> bool:
    current = get_condition(status, "Progressing")
    if current is None or current.get("reason") == NEW_RS_AVAILABLE:
        return False
    if current.get("reason") == TIMED_OUT:
        return True
    since = current.get("lastUpdateTime") or current.get("lastTransitionTime")
    started = parse_time(since)
    return started is not None and (now - started).total_seconds() > deadline


def rollout_status(
    deployment: Obj, r: Rollout, rss: list[ReplicaSetView], new: ReplicaSetView | None, previous: Obj, now: datetime
) -> Obj:
    """The status at the end of a rollout step: counts and Available, plus the Progressing
    condition judged against ``previous``: complete, progressing (any count moved the right way
    refreshes lastUpdateTime) or, after ``progressDeadlineSeconds`` without progress, timed out."""
    status = replica_status(deployment, r, rss, new, previous, now)
    deadline = progress_deadline(deployment)
    if deadline is None:
        remove_condition(status, "Progressing")
        return status
    current = get_condition(previous, "Progressing")
    name = deployment["metadata"]["name"]
    subject = f'ReplicaSet "{new.name}"' if new is not None else f'Deployment "{name}"'
    finished = (
        _int(status.get("replicas")) == _int(status.get("updatedReplicas"))
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE
    )
    if finished:
        return status
    if complete(deployment, status):
        set_condition(
            status, condition("Progressing", "True", NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", now)
        )
    elif _progressed(previous, status):
        progressing = condition("Progressing", "True", RS_UPDATED, f"{subject} is progressing.", now)
        if current is not None and current.get("status") == "True":
            progressing["lastTransitionTime"] = current.get("lastTransitionTime")
        remove_condition(status, "Progressing")
        set_condition(status, progressing)
    elif _timed_out(deadline, status, now):
        set_condition(
            status, condition("Progressing", "False", TIMED_OUT, f"{subject} has timed out progressing.", now)
        )
    return status


def recheck_after(deployment: Obj, status: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds until a rollout without progress would pass its deadline, so the controller looks
    again then even if nothing else changes; None when no deadline is pending."""
    deadline = progress_deadline(deployment)
    current = get_condition(status, "Progressing")
    if deadline is None or current is None or current.get("reason") in (NEW_RS_AVAILABLE, TIMED_OUT):
        return None
    if complete(deployment, status) or (deployment.get("spec") or {}).get("paused"):
        return None
    started = parse_time(current.get("lastUpdateTime") or current.get("lastTransitionTime"))
    if started is None:
        return None
    return max((started - now).total_seconds() + deadline + 1, 0.0)
