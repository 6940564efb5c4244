"""Job progress as pure decisions: how many pods to start or stop, what the Job's status becomes,
and when it has succeeded or failed, following Kubernetes' job controller (1.32).

A sync has two halves, because counting must survive a crash between writes:

1. :func:`plan_job` looks at the Job and its pods and decides pods to create and delete, which
   finished pods to *release* (remove the ``batch.kubernetes.io/job-tracking`` finalizer from), and
   a status that records those pods' UIDs in ``status.uncountedTerminatedPods`` plus any interim
   condition (``SuccessCriteriaMet`` / ``FailureTarget``). The controller writes that status before
   touching the finalizers, so a pod is never forgotten: while it has the finalizer it cannot vanish,
   and once its UID is in the status it is known.
2. :func:`settle_job` then moves the UIDs whose pods no longer carry the finalizer into the
   ``succeeded``/``failed`` counters, and adds the terminal ``Complete``/``Failed`` condition once
   nothing is left uncounted or terminating.

Only the NonIndexed completion mode is modelled; pod failure policies, success policies and
per-index back-off limits are not.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from minikube_py.model.conditions import get_condition, new_condition, set_or_omit
from minikube_py.model.replication import deletion_order, is_active, is_ready
from minikube_py.model.times import parse_time, rfc3339

Obj = dict[str, Any]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
#: a replacement for a failed pod waits BACKOFF_BASE * 2^(failures-1) seconds, at most BACKOFF_MAX
BACKOFF_BASE = 10.0
BACKOFF_MAX = 360.0

COMPLETE, FAILED = "Complete", "Failed"
SUCCESS_CRITERIA_MET, FAILURE_TARGET, SUSPENDED = "SuccessCriteriaMet", "FailureTarget", "Suspended"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")

_FINISHED_PHASES = ("Succeeded", "Failed")


# ------------------------------------------------------------------------------ reading objects


def find_condition(obj: Obj, kind: str) -> Obj | None:
    return get_condition(obj.get("status") or {}, kind)


def _true(obj: Obj, kind: str) -> bool:
    cond = find_condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def is_finished(job: Obj) -> bool:
    return _true(job, COMPLETE) or _true(job, FAILED)


def finished_at(job: Obj) -> datetime | None:
    """When the terminal condition was reached (what ``ttlSecondsAfterFinished`` counts from)."""
    for kind in (COMPLETE, FAILED):
        cond = find_condition(job, kind)
        if cond is not None and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_terminating(pod: Obj) -> bool:
    return _phase(pod) not in _FINISHED_PHASES and bool(pod["metadata"].get("deletionTimestamp"))


def has_tracking_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


def _replace_only_failed(job: Obj) -> bool:
    return (job.get("spec") or {}).get("podReplacementPolicy") == "Failed"


def counts_as_failed(pod: Obj, job: Obj) -> bool:
    """A Failed pod, or (unless the Job only replaces Failed pods) one deleted before it succeeded:
    an orphan that never reaches a phase must still count."""
    if _phase(pod) == "Failed":
        return True
    return (
        not _replace_only_failed(job) and bool(pod["metadata"].get("deletionTimestamp")) and _phase(pod) != "Succeeded"
    )


def restart_count(pods: list[Obj]) -> int:
    """Container restarts of the pods still running or pending: with ``restartPolicy: OnFailure`` the
    kubelet restarts containers in place, so these are the Job's failures."""
    total = 0
    for pod in pods:
        if _phase(pod) in ("Running", "Pending"):
            status = pod.get("status") or {}
            for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                total += int(cs.get("restartCount") or 0)
    return total


def past_backoff_limit(job: Obj, pods: list[Obj], failed: int) -> bool:
    spec = job.get("spec") or {}
    limit = int(spec.get("backoffLimit", 6))
    if failed > limit:
        return True
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = restart_count(pods)
    return restarts > 0 if limit == 0 else restarts >= limit


def _finish_time(pod: Obj) -> datetime | None:
    status = pod.get("status") or {}
    times = [
        parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for cs in status.get("containerStatuses") or []
    ]
    times += [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    known = [t for t in times if t is not None]
    if known:
        return max(known)
    return parse_time(pod["metadata"].get("deletionTimestamp") or pod["metadata"].get("creationTimestamp"))


def failure_backoff(job: Obj, pods: list[Obj], now: datetime) -> float:
    """Seconds before a new pod may start: each failure since the last success doubles the wait
    (10 s, 20 s, ... at most 6 min), counted from the latest failure."""
    finished = [
        (t, counts_as_failed(p, job))
        for p in pods
        if (_phase(p) in _FINISHED_PHASES or counts_as_failed(p, job)) and (t := _finish_time(p)) is not None
    ]
    finished.sort(key=lambda item: item[0])
    failures, last_failure = 0, None
    for when, failed in finished:
        if failed:
            failures, last_failure = failures + 1, when
        else:
            failures, last_failure = 0, None
    if not failures or last_failure is None:
        return 0.0
    delay = min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)
    return max((last_failure + timedelta(seconds=delay) - now).total_seconds(), 0.0)


# ------------------------------------------------------------------------------ conditions


def ensure_condition(status: Obj, kind: str, value: str, reason: str, message: str, now: datetime) -> bool:
    """Set a condition, as Kubernetes' ``ensureJobConditionStatus``: never adds one that is False
    (absent already means that); True when anything changed."""
    conditions = status.setdefault("conditions", [])
    for i, cond in enumerate(conditions):
        if cond.get("type") == kind:
            if (cond.get("status"), cond.get("reason"), cond.get("message")) == (value, reason, message):
                return False
            conditions[i] = new_condition(kind, value, reason, message, now, stamped="lastProbeTime")
            return True
    if value == "False":
        if not conditions:
            del status["conditions"]
        return False
    conditions.append(new_condition(kind, value, reason, message, now, stamped="lastProbeTime"))
    return True


# ------------------------------------------------------------------------------ the sync


@dataclass
class JobStep:
    """What one sync of a Job decided; see the module docstring for the order it is carried out."""

    status: Obj
    create: int = 0
    delete: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)
    #: the terminal condition (Complete or Failed) to add once every pod is counted and gone
    final: Obj | None = None
    #: pods still terminating, which hold the terminal condition back
    terminating: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None


def _want_active(spec: Obj, succeeded: int, active: int) -> int:
    parallelism = int(spec.get("parallelism", 1))
    completions = spec.get("completions")
    if completions is None:  # a work queue: once one pod succeeded, start no more
        return active if succeeded > 0 else parallelism
    return max(min(int(completions) - succeeded, parallelism), 0)


def plan_job(
    job: Obj, pods: list[Obj], now: datetime, *, released: frozenset[str] = frozenset(), expectations_met: bool = True
) -> JobStep:
    """Decide one sync of an unfinished Job. ``pods`` are the pods it controls; ``released`` the
    UIDs whose finalizer this controller removed but the cache still shows; ``expectations_met``
    is False while creations or deletions issued earlier are not yet visible, and then no pod is
    created or deleted (conditions that end the Job still are)."""
    spec = job.get("spec") or {}
    status = copy.deepcopy(job.get("status") or {})
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    known = set(uncounted.get("succeeded") or []) | set(uncounted.get("failed") or [])
    tracked = [p for p in pods if has_tracking_finalizer(p) and p["metadata"]["uid"] not in released]
    fresh = [p for p in tracked if p["metadata"]["uid"] not in known]
    active_pods = [p for p in pods if is_active(p)]
    terminating = sum(1 for p in pods if is_terminating(p))
    succeeded = (
        int(status.get("succeeded", 0))
        + len(uncounted.get("succeeded") or [])
        + sum(1 for p in fresh if _phase(p) == "Succeeded")
    )
    failed = (
        int(status.get("failed", 0))
        + len(uncounted.get("failed") or [])
        + sum(1 for p in fresh if counts_as_failed(p, job))
    )
    suspended = bool(spec.get("suspend"))
    step = JobStep(status=status)
    if not status.get("startTime") and not suspended:
        status["startTime"] = rfc3339(now)

    finished: tuple[str, str, str] | None = None  # (interim condition type, reason, message)
    if _true(job, SUCCESS_CRITERIA_MET):
        finished = (SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED)
    elif (target := find_condition(job, FAILURE_TARGET)) is not None and target.get("status") == "True":
        finished = (FAILURE_TARGET, target.get("reason", ""), target.get("message", ""))
    elif past_backoff_limit(job, pods, failed):
        finished = (FAILURE_TARGET, *BACKOFF_LIMIT_EXCEEDED)
    elif spec.get("activeDeadlineSeconds") is not None and not suspended:
        started = parse_time(status.get("startTime")) or now
        left = (started + timedelta(seconds=int(spec["activeDeadlineSeconds"])) - now).total_seconds()
        if left <= 0:
            finished = (FAILURE_TARGET, *DEADLINE_EXCEEDED)
        else:
            step.requeue_after = left

    active = len(active_pods)
    ready = sum(1 for p in active_pods if is_ready(p))
    if finished is not None and finished[0] == FAILURE_TARGET:
        step.delete = active_pods
    elif expectations_met and not job["metadata"].get("deletionTimestamp"):
        if suspended:
            step.delete = active_pods
        else:
            want = _want_active(spec, succeeded, active)
            if active > want:
                step.delete = deletion_order(active_pods)[: active - want]
            else:
                missing = want - active - (terminating if _replace_only_failed(job) else 0)
                if missing > 0:
                    wait = failure_backoff(job, pods, now)
                    if wait > 0:
                        step.requeue_after = min(wait, step.requeue_after or wait)
                    else:
                        step.create = missing
        _suspension(step, status, suspended, now)
    active += step.create - len(step.delete)
    ready -= sum(1 for p in step.delete if is_ready(p))
    terminating += len(step.delete)
    step.terminating = terminating
    if finished is None:
        completions = spec.get("completions")
        done = succeeded >= int(completions) if completions is not None else succeeded > 0
        if done and active == 0:
            finished = (SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED)

    failing = finished is not None and finished[0] == FAILURE_TARGET
    for pod in tracked:
        uid = pod["metadata"]["uid"]
        considered_failed = counts_as_failed(pod, job)
        if not (
            job["metadata"].get("deletionTimestamp") or finished or _phase(pod) == "Succeeded" or considered_failed
        ):
            continue
        step.release.append(pod)
        if uid in known:
            continue
        if _phase(pod) == "Succeeded":
            uncounted.setdefault("succeeded", []).append(uid)
        elif considered_failed or failing:
            uncounted.setdefault("failed", []).append(uid)

    if finished is not None:
        kind, reason, message = finished
        ensure_condition(status, kind, "True", reason, message, now)
        step.final = new_condition(
            COMPLETE if kind == SUCCESS_CRITERIA_MET else FAILED, "True", reason, message, now, stamped="lastProbeTime"
        )
    set_or_omit(status, "active", active)
    status["ready"] = ready
    status["terminating"] = terminating
    return step


def _suspension(step: JobStep, status: Obj, suspended: bool, now: datetime) -> None:
    if suspended:
        if ensure_condition(status, SUSPENDED, "True", "JobSuspended", "Job suspended", now):
            step.events.append(("Normal", "Suspended", "Job suspended"))
    elif ensure_condition(status, SUSPENDED, "False", "JobResumed", "Job resumed", now):
        step.events.append(("Normal", "Resumed", "Job resumed"))
        # activeDeadlineSeconds counts continuous activity, so a resumed Job starts its clock anew
        status["startTime"] = rfc3339(now)


def settle_job(status: Obj, with_finalizer: set[str], final: Obj | None, terminating: int, now: datetime) -> bool:
    """Count the uncounted pods that lost their finalizer; add the terminal condition when nothing is
    left uncounted or terminating. Mutates ``status``; True when the Job finished just now."""
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    for bucket, counter in (("succeeded", "succeeded"), ("failed", "failed")):
        uids = uncounted.get(bucket) or []
        kept = [uid for uid in uids if uid in with_finalizer]
        if len(kept) != len(uids):
            set_or_omit(status, counter, int(status.get(counter, 0)) + len(uids) - len(kept))
        if kept:
            uncounted[bucket] = kept
        else:
            uncounted.pop(bucket, None)
    if final is None or uncounted or terminating:
        return False
    ensure_condition(status, final["type"], "True", final["reason"], final["message"], now)
    if final["type"] == COMPLETE:
        status["completionTime"] = rfc3339(now)
    return True
