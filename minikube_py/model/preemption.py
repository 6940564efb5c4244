"""Preemption: which running pods to evict so that a pending pod of higher priority fits, as
kube-scheduler's DefaultPreemption plugin decides it, as pure functions over the scheduler's
:class:`~minikube_py.model.scheduling.NodeInfo` totals.

On each node where evicting could help (the filters said the failure is *resolvable*), every pod of
lower priority is taken away in thought; if the pod still does not fit, the node is no candidate.
Otherwise the pods taken away are put back one at a time, the most important first, those whose
eviction would break a PodDisruptionBudget before the others, and each one that the pod still fits
beside stays (is reprieved): what remains are the victims. Among the candidate nodes the one chosen
breaks the fewest budgets, then has the lowest highest victim priority, then the lowest sum of victim
priorities, then the fewest victims.

Pods only nominated to a node (they preempted there and wait for their victims to go) are counted
on it as though placed, so that no one else takes the room they freed; one of lower priority than
the preemptor is no obstacle (it is not running: it loses its nomination, not its life), one of
higher or equal priority keeps its room.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from minikube_py.model.disruption import selects
from minikube_py.model.podaffinity import Placement
from minikube_py.model.scheduling import NodeInfo, PodInfo, inter_pod_failure

Obj = dict[str, Any]

DISRUPTION_TARGET = "DisruptionTarget"
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
#: kube-scheduler adds this to every victim priority before summing, so that negative priorities
#: still make more victims cost more
_PRIORITY_OFFSET = 2**31


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node where the preemptor fits once ``victims`` are gone; ``violations`` of them are
    covered by a PodDisruptionBudget that allows no more disruptions; ``nominated`` are the pods of
    lower priority nominated to the node, whose nomination the preemptor takes over."""

    node: str
    victims: tuple[PodInfo, ...]
    violations: int
    nominated: tuple[str, ...] = ()

    def rank(self) -> tuple[int, int, int, int]:
        """Lower is better: broken budgets, the highest victim priority, the sum of victim
        priorities, the number of victims (``pickOneNodeForPreemption``'s criteria in order)."""
        highest = max((v.priority for v in self.victims), default=-_PRIORITY_OFFSET)
        total = sum(v.priority + _PRIORITY_OFFSET for v in self.victims)
        return self.violations, highest, total, len(self.victims)


def fits_without(
    pod: PodInfo, node: NodeInfo, removed: Collection[PodInfo], placement: Placement | None = None
) -> bool:
    """Whether ``pod`` passes the node-dependent filters (pod count, cpu, memory, other resources, host ports and,
    given its ``placement``, the inter-pod rules) once the pods ``removed`` are gone from ``node``."""
    if len(node.pods) - len(removed) + 1 > node.allowed_pods:
        return False
    if pod.cpu and pod.cpu > node.allocatable_cpu - node.cpu + sum(p.cpu for p in removed):
        return False
    if pod.memory and pod.memory > node.allocatable_memory - node.memory + sum(p.memory for p in removed):
        return False
    for name, amount in pod.scalars:
        freed = sum(have for p in removed for scalar, have in p.scalars if scalar == name)
        if amount > node.allocatable_scalars.get(name, 0) - node.scalars[name] + freed:
            return False
    if pod.ports:
        left = Counter(node.ports)
        left.subtract(port for p in removed for port in p.ports)
        taken = [port for port, count in left.items() if count > 0]
        if any(mine.conflicts(theirs) for mine in pod.ports for theirs in taken):
            return False
    return placement is None or inter_pod_failure(placement, node, removed) is None


def _importance(pod: PodInfo) -> int:
    return -pod.priority


def _split_by_budget(
    pods: Sequence[PodInfo], covering: Callable[[str], Sequence[str]], allowed: Mapping[str, int]
) -> tuple[list[PodInfo], list[PodInfo]]:
    """(pods whose eviction breaks a budget, the others), each in the order given: evictions are
    counted against each covering budget's allowed disruptions in that order
    (``filterPodsWithPDBViolation``)."""
    left = dict(allowed)
    violating: list[PodInfo] = []
    others: list[PodInfo] = []
    for pod in pods:
        broken = False
        for budget in covering(pod.key):
            if budget in left:
                left[budget] -= 1
                broken = broken or left[budget] < 0
        (violating if broken else others).append(pod)
    return violating, others


def select_victims(
    pod: PodInfo,
    node: NodeInfo,
    *,
    covering: Callable[[str], Sequence[str]] = lambda _key: (),
    allowed: Mapping[str, int] | None = None,
    nominated: Collection[str] = (),
    placement: Placement | None = None,
) -> Candidate | None:
    """The fewest and least important pods of lower priority on ``node`` whose eviction lets ``pod``
    fit, or None when evicting all of them would not be enough (``SelectVictimsOnNode``).

    ``covering`` gives the budgets covering a pod (by key) that count its eviction, ``allowed`` each
    budget's disruptions allowed; ``nominated`` the keys of pods counted on the node that are only
    nominated to it."""
    if all(priority >= pod.priority for priority in node.priorities):
        return None  # nothing to evict: the common case, decided without a look at every pod
    lower = [p for p in node.pods.values() if p.priority < pod.priority and p.key != pod.key]
    if not fits_without(pod, node, lower, placement):
        return None
    stepped_aside = [p for p in lower if p.key in nominated]
    running = sorted((p for p in lower if p.key not in nominated), key=_importance)
    violating, others = _split_by_budget(running, covering, allowed or {})
    removed = {p.key: p for p in lower}
    victims: list[PodInfo] = []
    violations = 0
    for candidate in (*violating, *others):
        del removed[candidate.key]
        if fits_without(pod, node, removed.values(), placement):
            continue  # reprieved: the pod fits beside it
        removed[candidate.key] = candidate
        victims.append(candidate)
        violations += candidate in violating
    return Candidate(node.name, tuple(victims), violations, tuple(p.key for p in stepped_aside))


def choose(candidates: Iterable[Candidate]) -> Candidate | None:
    """The candidate to preempt on: the best :meth:`Candidate.rank`, the first of equals."""
    return min(candidates, key=Candidate.rank, default=None)


def find_candidate(
    pod: PodInfo,
    nodes: Iterable[NodeInfo],
    *,
    covering: Callable[[str], Sequence[str]] = lambda _key: (),
    allowed: Mapping[str, int] | None = None,
    nominated: Collection[str] = (),
    placement: Placement | None = None,
) -> Candidate | None:
    """Where ``pod`` should preempt, among ``nodes`` (those where its failure is resolvable), and
    whom; ``placement`` carries the inter-pod rules victims may have to make way for."""
    found = (
        select_victims(pod, node, covering=covering, allowed=allowed, nominated=nominated, placement=placement)
        for node in nodes
    )
    return choose(c for c in found if c is not None)


# ------------------------------------------------------------------------------ disruption budgets


def budget_id(pdb: Obj) -> str:
    md = pdb["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


def allowed_disruptions(pdbs: Iterable[Obj]) -> dict[str, int]:
    """Each budget's ``status.disruptionsAllowed``, by :func:`budget_id`."""
    return {budget_id(pdb): int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs}


def budgets_covering(pod: Obj, pdbs: Iterable[Obj]) -> list[str]:
    """The budgets whose allowance evicting ``pod`` spends: those selecting it, except where it is
    already recorded as disrupted (its eviction was counted when it was recorded)."""
    name = pod["metadata"]["name"]
    return [
        budget_id(pdb)
        for pdb in pdbs
        if selects(pdb, pod) and name not in ((pdb.get("status") or {}).get("disruptedPods") or {})
    ]


# ------------------------------------------------------------------------------ the victims' side


def preempted_condition(scheduler: str, now: str) -> Obj:
    """The condition a victim gets before its deletion, so that its controllers and people know why
    it goes."""
    return {
        "type": DISRUPTION_TARGET,
        "status": "True",
        "reason": PREEMPTION_BY_SCHEDULER,
        "message": f"{scheduler}: preempting to accommodate a higher priority pod",
        "lastTransitionTime": now,
    }


def terminating_by_preemption(pod: Obj) -> bool:
    """Being deleted because a scheduler preempted it."""
    return bool(pod["metadata"].get("deletionTimestamp")) and any(
        c.get("type") == DISRUPTION_TARGET and c.get("reason") == PREEMPTION_BY_SCHEDULER
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def waits_for_victims(pod: PodInfo, node: NodeInfo | None, terminating: Callable[[str], bool]) -> bool:
    """A pod nominated to ``node`` does not preempt again while a pod of lower priority there is
    still going away because of a preemption: its room is on the way (``PodEligibleToPreemptOthers``)."""
    if node is None:
        return False
    return any(p.priority < pod.priority and terminating(p.key) for p in node.pods.values())
