"""Inter-pod affinity, anti-affinity and topology spread: the scheduler's rules that depend on where
other pods run, as kube-scheduler's InterPodAffinity and PodTopologySpread plugins apply them.

A pod's rules are parsed once into a :class:`PodRules` (None for the pod that has none: the common
case, which then costs nothing). Placed pods that carry affinity or anti-affinity terms are kept apart
by the scheduler (:attr:`PodRules.pairwise`), since their rules bear on every later pod: required
anti-affinity forbids their domains to the pods it matches (the symmetric rule), and their terms
add to or take from the score of their domains for the pods they match, as the pod's own do. For a pod with rules of its own, :func:`prepare` walks the placed pods once per decision (not
once per node) and counts the matching ones per topology domain; the resulting :class:`Placement`
then judges each node in a few dictionary look-ups, also with some of its pods evicted in thought
(for preemption), and scores the feasible nodes.

Facts from Kubernetes' documentation ("Assigning Pods to Nodes", "Pod Topology Spread Constraints"):
a node without a term's topology key fails affinity and cannot conflict for anti-affinity; a term
names the pod's own namespace unless ``namespaces`` or ``namespaceSelector`` say otherwise (an empty
selector: every namespace); the first pod of a group whose affinity term matches itself may go
anywhere while no pod matches; spread skew counts only nodes that pass the pod's node affinity
(``nodeAffinityPolicy: Honor``) and, with ``nodeTaintsPolicy: Honor``, whose taints it tolerates;
fewer domains than ``minDomains`` make the global minimum 0.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from minikube_py.model.selectors import NOT_IN, LabelSelector, Requirement, stored_selector

if TYPE_CHECKING:
    from minikube_py.model.scheduling import NodeInfo, PodInfo

Obj = dict[str, Any]
NamespaceLabels = Callable[[str], Mapping[str, str] | None]

# kube-scheduler's failure reasons, word for word
AFFINITY_RULES = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_RULES = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
SPREAD_RULES = "node(s) didn't match pod topology spread constraints"
SPREAD_MISSING_LABEL = f"{SPREAD_RULES} (missing required label)"
MAX_SCORE = 100
#: what a placed pod's required affinity term matching the incoming pod adds to its domains' score
#: (kube-scheduler's hardPodAffinityWeight default)
HARD_AFFINITY_WEIGHT = 1


def _with_label_keys(
    selector: LabelSelector, labels: Mapping[str, str], match: Iterable[str], mismatch: Iterable[str] = ()
) -> LabelSelector:
    """``matchLabelKeys``/``mismatchLabelKeys``: the pod's own values for those keys, as ``in`` and
    ``notin`` requirements added to the selector (a key the pod lacks is left out)."""
    extra = [Requirement(k, "in", (labels[k],)) for k in match if k in labels]
    extra += [Requirement(k, NOT_IN, (labels[k],)) for k in mismatch if k in labels]
    if not extra or selector.nothing:
        return selector
    return LabelSelector(tuple(sorted((*selector.requirements, *extra), key=lambda r: r.key)))


@dataclass(frozen=True, slots=True)
class PodTerm:
    """A PodAffinityTerm: which pods (selector and namespaces) in which domains (topology key)."""

    selector: LabelSelector
    topology_key: str
    namespaces: frozenset[str]
    #: namespaces chosen by labels: None for none, the empty selector for every namespace
    namespace_selector: LabelSelector | None
    weight: int = 0

    def matches(self, pod: PodInfo, namespace_labels: NamespaceLabels) -> bool:
        """Whether ``pod`` is one the term means: in its namespaces (a set look-up, first) and selected."""
        in_namespace = pod.namespace in self.namespaces or (
            self.namespace_selector is not None
            and (self.namespace_selector.empty or self.namespace_selector.matches(namespace_labels(pod.namespace)))
        )
        return in_namespace and self.selector.matches(pod.labels)


def _term(term: Obj, namespace: str, labels: Mapping[str, str], weight: int = 0) -> PodTerm:
    namespaces = frozenset(term.get("namespaces") or ())
    ns_selector = term.get("namespaceSelector")
    if not namespaces and ns_selector is None:
        namespaces = frozenset((namespace,))
    selector = _with_label_keys(
        stored_selector(term.get("labelSelector")),
        labels,
        term.get("matchLabelKeys") or (),
        term.get("mismatchLabelKeys") or (),
    )
    return PodTerm(
        selector,
        term.get("topologyKey") or "",
        namespaces,
        None if ns_selector is None else stored_selector(ns_selector),
        weight,
    )


@dataclass(frozen=True, slots=True)
class Spread:
    """A topology spread constraint."""

    selector: LabelSelector
    topology_key: str
    max_skew: int
    min_domains: int
    honor_affinity: bool
    honor_taints: bool


def _spread(constraint: Obj, labels: Mapping[str, str]) -> Spread:
    return Spread(
        _with_label_keys(
            stored_selector(constraint.get("labelSelector")), labels, constraint.get("matchLabelKeys") or ()
        ),
        constraint.get("topologyKey") or "",
        int(constraint.get("maxSkew") or 1),
        int(constraint.get("minDomains") or 1),
        constraint.get("nodeAffinityPolicy", "Honor") != "Ignore",
        constraint.get("nodeTaintsPolicy", "Ignore") == "Honor",
    )


@dataclass(frozen=True, slots=True)
class PodRules:
    """A pod's inter-pod rules, parsed once."""

    affinity_required: tuple[PodTerm, ...] = ()
    anti_required: tuple[PodTerm, ...] = ()
    affinity_preferred: tuple[PodTerm, ...] = ()
    anti_preferred: tuple[PodTerm, ...] = ()
    spread_required: tuple[Spread, ...] = ()
    spread_preferred: tuple[Spread, ...] = ()

    @property
    def pairwise(self) -> bool:
        """Whether it has affinity or anti-affinity terms (which bind or attract other pods too)."""
        return bool(self.affinity_required or self.anti_required or self.affinity_preferred or self.anti_preferred)


def pod_rules(pod: Obj) -> PodRules | None:
    """The pod's affinity, anti-affinity and spread constraints; None when it has none."""
    spec = pod.get("spec") or {}
    affinity = spec.get("affinity") or {}
    spreads = spec.get("topologySpreadConstraints") or []
    together, apart = affinity.get("podAffinity") or {}, affinity.get("podAntiAffinity") or {}
    if not (together or apart or spreads):
        return None
    md = pod["metadata"]
    namespace, labels = md.get("namespace", ""), md.get("labels") or {}
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    preferred = "preferredDuringSchedulingIgnoredDuringExecution"

    def weighted(rules: Obj) -> tuple[PodTerm, ...]:
        return tuple(
            _term(p.get("podAffinityTerm") or {}, namespace, labels, int(p.get("weight") or 0))
            for p in rules.get(preferred) or []
        )

    rules = PodRules(
        tuple(_term(t, namespace, labels) for t in together.get(required) or []),
        tuple(_term(t, namespace, labels) for t in apart.get(required) or []),
        weighted(together),
        weighted(apart),
        tuple(_spread(c, labels) for c in spreads if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"),
        tuple(_spread(c, labels) for c in spreads if c.get("whenUnsatisfiable") == "ScheduleAnyway"),
    )
    return rules if rules != PodRules() else None


# ------------------------------------------------------------------------------ one decision

Domain = tuple[str, str]  # (topology key, value)


@dataclass(slots=True)
class _SpreadCount:
    constraint: Spread
    counts: Counter[str]  # domain value -> matching pods on eligible nodes
    domains: int  # eligible domains
    self_match: int

    def global_min(self, counts: Counter[str] | None = None) -> int:
        """The fewest matching pods in a domain; 0 while there are fewer domains than minDomains."""
        if self.domains < self.constraint.min_domains:
            return 0
        return min((self.counts if counts is None else counts).values(), default=0)


@dataclass(slots=True)
class Placement:
    """What one decision knows about other pods: the domains the incoming pod's terms found matches
    in, the domains placed pods' anti-affinity forbids it, and the spread counts."""

    pod: PodInfo
    #: per required affinity term, the domain values holding a matching pod
    affinity: list[set[str]] = field(default_factory=list)
    #: whether the pod may ignore its required affinity (nothing matches anywhere, it matches itself)
    first_of_group: bool = False
    #: domain -> the keys of the pods there that its required anti-affinity terms match
    anti: dict[Domain, list[str]] = field(default_factory=dict)
    #: domain -> the keys of the placed pods whose required anti-affinity matches the pod
    existing: dict[Domain, list[str]] = field(default_factory=dict)
    spread: list[_SpreadCount] = field(default_factory=list)
    #: each DoNotSchedule constraint's global minimum, worked out once per decision
    spread_min: list[int] = field(default_factory=list)
    #: domain -> preferred affinity weight minus preferred anti-affinity weight of the pods there
    preference: Counter[Domain] = field(default_factory=Counter)
    soft_spread: list[_SpreadCount] = field(default_factory=list)

    # -------------------------------------------------------------------------- filter

    def failure(self, node: NodeInfo, removed: Collection[PodInfo] = ()) -> tuple[str, bool] | None:
        """Why ``node`` fails the pod's or placed pods' rules (reason, resolvable by preemption),
        with the pods ``removed`` from it in thought; None when it passes."""
        rules, node_labels = self.pod.rules or PodRules(), node.labels
        gone = {p.key for p in removed}
        for spread, low in zip(self.spread, self.spread_min, strict=True):
            value = node_labels.get(spread.constraint.topology_key)
            if value is None:
                return SPREAD_MISSING_LABEL, False
            counts = spread.counts
            if gone:
                counts = counts.copy()
                counts[value] -= sum(1 for p in removed if _counts_for(spread.constraint, p, self.pod))
                low = spread.global_min(counts)
            if counts[value] + spread.self_match - low > spread.constraint.max_skew:
                return SPREAD_RULES, True
        for i, term in enumerate(rules.affinity_required):
            value = node_labels.get(term.topology_key)
            if value is None or (value not in self.affinity[i] and not self.first_of_group):
                return AFFINITY_RULES, False
        for reason, blocking in ((ANTI_AFFINITY_RULES, self.anti), (EXISTING_ANTI_AFFINITY, self.existing)):
            if not blocking:
                continue
            if any(
                holder not in gone
                for (key, wanted), holders in blocking.items()
                if node_labels.get(key) == wanted
                for holder in holders
            ):
                # evicting may help, as kube-scheduler deems it; preemption re-checks with victims gone
                return reason, True
        return None

    # -------------------------------------------------------------------------- scores

    def affinity_scores(self, nodes: Sequence[NodeInfo]) -> list[int] | None:
        """InterPodAffinity's score: the preferred weights met in each node's domains, scaled
        between the lowest (0) and the highest (100); None when the pod prefers nothing."""
        if not self.preference:
            return None
        raw = [sum(w for (key, value), w in self.preference.items() if n.labels.get(key) == value) for n in nodes]
        low, high = min(raw), max(raw)
        return [MAX_SCORE * (r - low) // (high - low) if high > low else 0 for r in raw]

    def _crowding(self, node: NodeInfo) -> float | None:
        """The raw ScheduleAnyway score of ``node`` (more is worse); None without a constraint's key."""
        total = 0.0
        for spread in self.soft_spread:
            value = node.labels.get(spread.constraint.topology_key)
            if value is None:
                return None
            total += (spread.counts[value] + spread.constraint.max_skew - 1) * math.log(spread.domains + 2)
        return total

    def spread_scores(self, nodes: Sequence[NodeInfo]) -> list[int] | None:
        """PodTopologySpread's score for ScheduleAnyway constraints: fewer matching pods in a
        node's domains is better; each constraint weighs log(domains + 2); a node without a
        constraint's key scores 0; None when the pod has no such constraint."""
        if not self.soft_spread:
            return None
        raw = [self._crowding(node) for node in nodes]
        present = [r for r in raw if r is not None]
        if not present:
            return [0] * len(nodes)
        low, high = min(present), max(present)
        if high == 0:
            return [MAX_SCORE if r is not None else 0 for r in raw]
        return [int(MAX_SCORE * (high + low - r) / high) if r is not None else 0 for r in raw]


def _counts_for(spread: Spread, other: PodInfo, pod: PodInfo) -> bool:
    return other.namespace == pod.namespace and spread.selector.matches(other.labels)


def _eligible(spread: Spread, pod: PodInfo, node: NodeInfo, keys: Iterable[str]) -> bool:
    if any(key not in node.labels for key in keys):
        return False
    if spread.honor_affinity and pod.required is not None and not pod.required(node.labels, node.name):
        return False
    return not spread.honor_taints or all(
        any(t.tolerates(taint) for t in pod.tolerations) for taint in node.hard_taints
    )


def _count_spread(
    constraints: Sequence[Spread], pod: PodInfo, cluster: Sequence[NodeInfo], keys: Sequence[str]
) -> list[_SpreadCount]:
    found = []
    for spread in constraints:
        counts: Counter[str] = Counter()
        for node in cluster:
            if _eligible(spread, pod, node, keys):
                value = node.labels[spread.topology_key]
                counts[value] += sum(1 for other in node.pods.values() if _counts_for(spread, other, pod))
        found.append(_SpreadCount(spread, counts, len(counts), int(spread.selector.matches(pod.labels))))
    return found


def prepare(
    pod: PodInfo,
    cluster: Sequence[NodeInfo],
    holders: Iterable[tuple[PodInfo, NodeInfo]],
    namespace_labels: NamespaceLabels,
) -> Placement | None:
    """The state one decision needs: None when neither the pod nor any placed pod with affinity
    terms (``holders``, with the node each is on) has a rule that could matter, so the
    common case costs nothing. ``cluster`` is every node the scheduler knows with its placed pods,
    walked only for a pod with rules of its own."""
    rules = pod.rules
    existing: dict[Domain, list[str]] = defaultdict(list)
    preference: Counter[Domain] = Counter()
    for holder, node in holders:
        if holder.rules is None or holder.key == pod.key:
            continue
        for term in holder.rules.anti_required:
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(pod, namespace_labels):
                existing[(term.topology_key, value)].append(holder.key)
        # their wishes about the pod count in its score as its own wishes about them do
        weighted = (
            *((HARD_AFFINITY_WEIGHT, t) for t in holder.rules.affinity_required),
            *((t.weight, t) for t in holder.rules.affinity_preferred),
            *((-t.weight, t) for t in holder.rules.anti_preferred),
        )
        for weight, term in weighted:
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(pod, namespace_labels):
                preference[(term.topology_key, value)] += weight
    if rules is None and not existing and not preference:
        return None
    placement = Placement(pod, existing=dict(existing), preference=preference)
    if rules is None:
        return placement
    placement.affinity = [set() for _ in rules.affinity_required]
    anti: dict[Domain, list[str]] = defaultdict(list)
    if rules.pairwise:
        for node in cluster:
            node_labels = node.labels
            for other in node.pods.values():
                if other.key == pod.key:
                    continue
                # a pod counts for the pod's affinity when it matches all its terms, as kube-scheduler counts
                if rules.affinity_required and all(t.matches(other, namespace_labels) for t in rules.affinity_required):
                    for i, term in enumerate(rules.affinity_required):
                        value = node_labels.get(term.topology_key)
                        if value is not None:
                            placement.affinity[i].add(value)
                for term in rules.anti_required:
                    value = node_labels.get(term.topology_key)
                    if value is not None and term.matches(other, namespace_labels):
                        anti[(term.topology_key, value)].append(other.key)
                for sign, terms in ((1, rules.affinity_preferred), (-1, rules.anti_preferred)):
                    for term in terms:
                        value = node_labels.get(term.topology_key)
                        if value is not None and term.matches(other, namespace_labels):
                            placement.preference[(term.topology_key, value)] += sign * term.weight
    placement.anti = dict(anti)
    placement.first_of_group = (
        bool(rules.affinity_required)
        and not any(placement.affinity)
        and all(term.matches(pod, namespace_labels) for term in rules.affinity_required)
    )
    hard_keys = [s.topology_key for s in rules.spread_required]
    placement.spread = _count_spread(rules.spread_required, pod, cluster, hard_keys)
    placement.spread_min = [spread.global_min() for spread in placement.spread]
    placement.soft_spread = _count_spread(
        rules.spread_preferred, pod, cluster, [s.topology_key for s in rules.spread_preferred]
    )
    return placement
