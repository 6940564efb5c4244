"""PodDisruptionBudgets: the disruption controller's arithmetic and the eviction decision, as pure
functions.

A budget selects pods and says how many must stay healthy, as ``minAvailable`` or
``maxUnavailable``, each an integer or a percentage. The disruption controller turns that into
``status``: how many pods it expects (the sum of the selected pods' controllers' scales where a
percentage or ``maxUnavailable`` needs a denominator, else the matching pods), how many are healthy
(Ready, not being deleted, not just evicted), how many must be, and so how many disruptions are
allowed now. The eviction subresource reads that status: it spends one allowed disruption per
eviction, recording the pod in ``disruptedPods`` so the controller does not count it healthy while
it goes away.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from minikube_py.model.replication import is_ready
from minikube_py.model.rollout import scaled_value
from minikube_py.model.selectors import label_selector_from_spec
from minikube_py.model.times import parse_time, rfc3339

Obj = dict[str, Any]

#: how long an evicted pod may take to start its deletion before the controller counts it again
#: (Kubernetes' DeletionTimeout)
DELETION_TIMEOUT = timedelta(minutes=2)
#: the eviction subresource refuses to record more unconfirmed evictions than this (MaxDisruptedPodSize)
MAX_DISRUPTED_PODS = 2000

CONDITION = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
#: the cause type the eviction subresource's 429 carries (policy/v1 DisruptionBudgetCause)
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
EVICTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
MULTIPLE_BUDGETS = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
IF_HEALTHY_BUDGET = "IfHealthyBudget"
ALWAYS_ALLOW = "AlwaysAllow"


def selects(pdb: Obj, pod: Obj) -> bool:
    """Whether ``pdb`` covers ``pod``: same namespace and its selector matches. In policy/v1 an
    empty selector selects every pod of the namespace and a missing one selects none."""
    if pdb["metadata"].get("namespace") != pod["metadata"].get("namespace"):
        return False
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return False
    return label_selector_from_spec(selector).matches(pod["metadata"].get("labels"))


def needs_scale(pdb: Obj) -> bool:
    """Whether the expected pod count comes from the pods' controllers (``maxUnavailable``, or a
    ``minAvailable`` percentage) rather than from the matching pods themselves."""
    spec = pdb.get("spec") or {}
    return spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str)


def expected_and_desired(pdb: Obj, pods: int, scale: int) -> tuple[int, int]:
    """(expectedPods, desiredHealthy). ``pods``: how many pods match; ``scale``: the sum of their
    controllers' replicas (used only when :func:`needs_scale`). Percentages round up for both
    fields, as Kubernetes' disruption controller does. ValueError for a malformed percentage."""
    spec = pdb.get("spec") or {}
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        return scale, max(scale - scaled_value(max_unavailable, scale, round_up=True), 0)
    if isinstance(min_available, str):
        return scale, scaled_value(min_available, scale, round_up=True)
    return pods, int(min_available or 0)


def live_disruptions(
    pdb: Obj, pods_by_name: Mapping[str, Obj], now: datetime
) -> tuple[dict[str, str], datetime | None]:
    """The ``disruptedPods`` entries still pending — evicted pods that exist and have not started
    deleting, within :data:`DELETION_TIMEOUT` — and when the earliest of them expires (the
    controller looks again then)."""
    kept: dict[str, str] = {}
    recheck: datetime | None = None
    for name, stamp in ((pdb.get("status") or {}).get("disruptedPods") or {}).items():
        pod = pods_by_name.get(name)
        when = parse_time(stamp)
        if pod is None or pod["metadata"].get("deletionTimestamp") or when is None:
            continue
        expires = when + DELETION_TIMEOUT
        if expires < now:
            continue  # expected to be deleted but it was not: count it again
        kept[name] = stamp
        recheck = expires if recheck is None or expires < recheck else recheck
    return kept, recheck


def count_healthy(pods: Iterable[Obj], disrupted: Mapping[str, str]) -> int:
    """Ready pods that are neither being deleted nor just evicted."""
    return sum(
        1
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp") and pod["metadata"]["name"] not in disrupted and is_ready(pod)
    )


@dataclass(frozen=True)
class BudgetStatus:
    status: Obj
    #: when to compute again because a recorded eviction expires (None: only on changes)
    recheck: datetime | None


def budget_status(pdb: Obj, pods: list[Obj], scale: int, now: datetime) -> BudgetStatus:
    """The status the disruption controller writes for ``pdb`` given the pods it selects and the
    sum of their controllers' scales."""
    disrupted, recheck = live_disruptions(pdb, {p["metadata"]["name"]: p for p in pods}, now)
    expected, desired = expected_and_desired(pdb, len(pods), scale)
    healthy = count_healthy(pods, disrupted)
    allowed = healthy - desired if expected > 0 else 0
    old = pdb.get("status") or {}
    status: Obj = {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "disruptionsAllowed": max(allowed, 0),
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    set_allowed_condition(status, now)
    return BudgetStatus(status, recheck)


def failed_status(pdb: Obj, message: str, now: datetime) -> Obj:
    """The fail-safe status when the budget cannot be computed: no disruption allowed."""
    status = copy.deepcopy(pdb.get("status") or {})
    status["disruptionsAllowed"] = 0
    status.setdefault("observedGeneration", 0)
    status.setdefault("currentHealthy", 0)
    status.setdefault("desiredHealthy", 0)
    status.setdefault("expectedPods", 0)
    _set_condition(status, "False", SYNC_FAILED, message, now)
    return status


def set_allowed_condition(status: Obj, now: datetime) -> None:
    """The DisruptionAllowed condition that goes with ``status.disruptionsAllowed``."""
    if status.get("disruptionsAllowed", 0) > 0:
        _set_condition(status, "True", SUFFICIENT_PODS, "", now)
    else:
        _set_condition(status, "False", INSUFFICIENT_PODS, "", now)


def _set_condition(status: Obj, value: str, reason: str, message: str, now: datetime) -> None:
    """metav1 SetStatusCondition: the transition time moves only when the status does."""
    conditions = status.setdefault("conditions", [])
    current = next((c for c in conditions if c.get("type") == CONDITION), None)
    if current is None:
        current = {"type": CONDITION}
        conditions.append(current)
    if current.get("status") != value or not current.get("lastTransitionTime"):
        current["lastTransitionTime"] = rfc3339(now)
    current.update(status=value, reason=reason, message=message, observedGeneration=status.get("observedGeneration", 0))


# ------------------------------------------------------------------------------ eviction


def ignores_budgets(pod: Obj) -> bool:
    """A pod that is not running (Pending, finished) or already terminating disrupts nothing more by
    going: the eviction deletes it without consulting any budget."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Pending", "Succeeded", "Failed") or bool(pod["metadata"].get("deletionTimestamp"))


@dataclass(frozen=True)
class Refusal:
    """Why an eviction may not happen now: the HTTP code, the message and the budget cause."""

    code: int
    message: str
    cause: str = ""


@dataclass(frozen=True)
class Spend:
    """The eviction may go on: store ``budget`` (one disruption spent, the pod recorded) first."""

    budget: Obj


@dataclass(frozen=True)
class Free:
    """The eviction may delete the pod without touching any budget; ``if_unchanged``: only the pod
    as read (an unhealthy pod let go by its budget's policy must not have turned Ready meanwhile)."""

    if_unchanged: bool = False


FREE = Free()


def decide_eviction(pod: Obj, budgets: list[Obj], now: datetime) -> Refusal | Spend | Free:
    """What evicting ``pod`` needs, given the budgets that cover it: nothing (:class:`Free`), one
    disruption spent from its budget (:class:`Spend`), or a refusal."""
    if ignores_budgets(pod) or not budgets:
        return FREE
    if len(budgets) > 1:
        return Refusal(500, MULTIPLE_BUDGETS)
    pdb = budgets[0]
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    if not is_ready(pod):
        policy = spec.get("unhealthyPodEvictionPolicy") or IF_HEALTHY_BUDGET
        healthy, desired = status.get("currentHealthy", 0), status.get("desiredHealthy", 0)
        if policy == ALWAYS_ALLOW or (policy == IF_HEALTHY_BUDGET and healthy >= desired > 0):
            return Free(if_unchanged=True)  # an unhealthy pod's eviction does not lower the healthy count
    name = pdb["metadata"]["name"]
    if status.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
        return Refusal(429, EVICTION_REFUSED, f"The disruption budget {name} is still being processed by the server.")
    allowed = status.get("disruptionsAllowed", 0)
    if allowed < 0:
        return Refusal(403, f'poddisruptionbudget.policy "{name}" is forbidden: pdb disruptions allowed is negative')
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        return Refusal(
            403,
            f'poddisruptionbudget.policy "{name}" is forbidden: DisruptedPods map too big - too '
            "many evictions not confirmed by PDB controller",
        )
    if allowed == 0:
        return Refusal(
            429,
            EVICTION_REFUSED,
            f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} "
            f"healthy pods and has {status.get('currentHealthy', 0)} currently",
        )
    spent = copy.deepcopy(pdb)
    spent_status = spent.setdefault("status", {})
    spent_status["disruptionsAllowed"] = allowed - 1
    if allowed == 1:
        set_allowed_condition(spent_status, now)
    spent_status.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = rfc3339(now)
    return Spend(spent)
