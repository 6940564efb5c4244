"""Where a pod may run and where it should: the scheduler's filters, scores and failure message.

Pure and incremental. A pod is reduced once to a :class:`PodInfo` (its requests, ports, tolerations,
node affinity) and every node is kept as a :class:`NodeInfo` whose running totals the scheduler
updates as pods come and go, so one decision costs a few comparisons per node instead of a walk
over every pod in the cluster. Filters and their messages follow kube-scheduler's default plugins,
in their order (NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, then
PodTopologySpread and InterPodAffinity from :mod:`minikube_py.model.podaffinity`), so
``kubectl describe pod`` reads as it would against Kubernetes.
"""

from __future__ import annotations

import functools
import itertools
import random
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from minikube_py.model.podaffinity import Placement, PodRules, pod_rules
from minikube_py.model.quantity import milli_value, value

Obj = dict[str, Any]

DEFAULT_SCHEDULER = "default-scheduler"
#: pods a node takes when its status does not say (the kubelet's --max-pods default)
DEFAULT_MAX_PODS = 110
#: what a container without requests counts as when scoring (not when filtering), as Kubernetes'
#: non-zero defaults, so that pods without requests still spread over nodes
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
#: kube-scheduler looks for at least this many feasible nodes before it stops filtering
MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5
#: score plugin weights of kube-scheduler's default profile
SPREAD_WEIGHT, RESOURCES_WEIGHT, TAINT_WEIGHT, AFFINITY_WEIGHT, INTER_POD_WEIGHT, IMAGE_WEIGHT = 2, 1, 3, 2, 2, 1
MAX_SCORE = 100
#: ImageLocality's bounds: images smaller than this add nothing, and a container's images count up
#: to the upper one (kube-scheduler's minThreshold and maxContainerThreshold)
IMAGE_MIN_BYTES, IMAGE_MAX_BYTES = 23 << 20, 1000 << 20

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
#: the allocatable resources a NodeInfo keeps in fields of their own; the rest are its scalars
_COUNTED_APART = frozenset({"cpu", "memory", "pods"})

# Kubernetes' failure reasons, word for word.
NODE_UNSCHEDULABLE = "node(s) were unschedulable"
NODE_NOT_READY = "node(s) were not ready"
AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
PORTS_TAKEN = "node(s) didn't have free ports for the requested pod ports"
TOO_MANY_PODS = "Too many pods"
NO_NODES = "no nodes available to schedule pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NEVER_PREEMPTS = "not eligible due to preemptionPolicy=Never."
WAITING_FOR_VICTIMS = "not eligible due to a terminating pod on the nominated node."


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one node cannot take a pod: Kubernetes' reason strings, and whether evicting lower
    priority pods could change that (``resolvable``), which decides where preemption looks for
    victims and the preemption part of the message."""

    reasons: tuple[str, ...]
    resolvable: bool


def _unresolvable(reason: str) -> Failure:
    return Failure((reason,), False)


# ------------------------------------------------------------------------------ the pod


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str

    @classmethod
    def of(cls, t: Obj) -> Toleration:
        """A pod spec's toleration (an absent operator is Equal)."""
        return cls(t.get("key") or "", t.get("operator") or "Equal", t.get("value") or "", t.get("effect") or "")

    def tolerates(self, taint: Obj) -> bool:
        if self.effect and self.effect != taint.get("effect"):
            return False
        if self.key and self.key != taint.get("key"):
            return False
        if self.operator == "Exists":
            return True
        return self.value == (taint.get("value") or "")


@dataclass(frozen=True, slots=True)
class Port:
    """A host port a pod claims; ``0.0.0.0`` stands for every address of the node."""

    ip: str
    protocol: str
    port: int

    def conflicts(self, other: Port) -> bool:
        return (
            self.port == other.port
            and self.protocol == other.protocol
            and (self.ip == other.ip or "0.0.0.0" in (self.ip, other.ip))
        )


NodeMatcher = Callable[[Mapping[str, str], str], bool]


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What scheduling needs to know about a pod, derived once per pod."""

    key: str
    cpu: int  # millicores requested
    memory: int  # bytes requested
    score_cpu: int  # the same with Kubernetes' non-zero defaults, for scoring
    score_memory: int
    ports: tuple[Port, ...]
    tolerations: tuple[Toleration, ...]
    required: NodeMatcher | None  # nodeSelector and required node affinity together
    preferred: tuple[tuple[int, NodeMatcher], ...]
    owner: str | None  # uid of the controlling owner, for spreading siblings
    #: ``spec.priority`` as the Priority admission set it: the queue's order and who may preempt whom
    priority: int
    can_preempt: bool
    #: equal for pods whose node-independent constraints (tolerations, selector, affinity) are equal,
    #: so the per-node result of those filters can be shared between them; a str, interned, since
    #: every pending and placed pod keeps one (the bytes orjson returns occupy at least 4 KiB each:
    #: 43 MiB for 11,000 pods) and pods of one template share theirs
    signature: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    #: pod affinity, anti-affinity and spread constraints; None for the (common) pod without any
    rules: PodRules | None = None
    #: what it requests of the other resources (ephemeral-storage and hugepages in bytes, extended
    #: resources such as ``example.com/gpu`` in devices), by name; () for the usual pod
    scalars: tuple[tuple[str, int], ...] = ()
    #: the images of its init and app containers, named as ImageLocality looks them up
    images: tuple[str, ...] = ()


@functools.lru_cache(maxsize=1024)
def _milli(quantity: str) -> int:
    return milli_value(quantity)


@functools.lru_cache(maxsize=1024)
def _units(quantity: str) -> int:
    return value(quantity)


def _amount(name: str, quantity: Any) -> int:
    """A requested quantity in the unit the scheduler counts it in: millicores for cpu, else whole
    units (bytes, devices), rounded up as Kubernetes' ``Value``."""
    return _milli(str(quantity)) if name == "cpu" else _units(str(quantity))


def _requests(container: Obj) -> dict[str, int]:
    requests = (container.get("resources") or {}).get("requests") or {}
    return {name: _amount(name, quantity) for name, quantity in requests.items()}


def _nonzero(container: Obj) -> dict[str, int]:
    """A container's cpu and memory as scoring counts them: Kubernetes' defaults where unset."""
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu, memory = requests.get("cpu"), requests.get("memory")
    return {
        "cpu": _milli(str(cpu)) if cpu is not None else DEFAULT_MILLI_CPU,
        "memory": _units(str(memory)) if memory is not None else DEFAULT_MEMORY,
    }


def _add(total: dict[str, int], more: Mapping[str, int]) -> dict[str, int]:
    if not more:  # the usual pod: no init containers, no overhead
        return total
    return {**total, **{name: total.get(name, 0) + amount for name, amount in more.items()}}


def _at_least(total: dict[str, int], floor: Mapping[str, int]) -> dict[str, int]:
    if not floor:
        return total
    return {**total, **{name: max(total.get(name, 0), amount) for name, amount in floor.items()}}


def pod_requests(spec: Obj, per_container: Callable[[Obj], dict[str, int]] = _requests) -> dict[str, int]:
    """What a pod needs of each resource, as Kubernetes counts it (``PodRequests``): app containers
    and sidecars (init containers with restartPolicy Always) add up; an ordinary init container runs
    alone (next to the sidecars started before it), so only the largest such moment counts; overhead
    on top. cpu in millicores, anything else in whole units."""
    total: dict[str, int] = {}
    for container in spec.get("containers") or []:
        total = _add(total, per_container(container)) if total else per_container(container)
    sidecars: dict[str, int] = {}
    largest_init: dict[str, int] = {}
    for container in spec.get("initContainers") or []:
        own = per_container(container)
        if container.get("restartPolicy") == "Always":
            sidecars = moment = _add(sidecars, own)
        else:
            moment = _add(own, sidecars)
        largest_init = _at_least(largest_init, moment)
    total = _at_least(_add(total, sidecars), largest_init)
    return _add(total, {name: _amount(name, quantity) for name, quantity in (spec.get("overhead") or {}).items()})


def _resource_order(scalar: tuple[str, int]) -> tuple[bool, str]:
    """Kubernetes checks ephemeral-storage before the other resources, and those by name here."""
    return scalar[0] != "ephemeral-storage", scalar[0]


def pod_priority(pod: Obj) -> int:
    """A pod's priority: ``spec.priority`` as admission resolved it, 0 for a pod without one."""
    priority = (pod.get("spec") or {}).get("priority")
    return priority if isinstance(priority, int) else 0


def queue_order(pod: Obj | None) -> int:
    """Where a pending pod goes in the scheduling queue (lowest first): higher priorities first, as
    kube-scheduler's PrioritySort; pods of equal priority keep the order they were queued in."""
    return 0 if pod is None else -pod_priority(pod)


def image_key(image: str) -> str:
    """An image as ImageLocality looks it up among the names nodes report: ``:latest`` added to a
    name without a tag (interned: every pod of a template names the same image)."""
    if image.rfind(":") <= image.rfind("/"):
        image += ":latest"
    return sys.intern(image)


def pod_info(pod: Obj) -> PodInfo:
    md = pod["metadata"]
    spec = pod.get("spec") or {}
    requests = pod_requests(spec)
    cpu, memory = requests.pop("cpu", 0), requests.pop("memory", 0)
    scored = pod_requests(spec, _nonzero)
    ports = tuple(
        Port(p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"]))
        for c in spec.get("containers") or []
        for p in c.get("ports") or []
        if p.get("hostPort")
    )
    tolerations = tuple(Toleration.of(t) for t in spec.get("tolerations") or [])
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    owner = next((ref.get("uid") for ref in md.get("ownerReferences") or [] if ref.get("controller")), None)
    required_affinity = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    selector = spec.get("nodeSelector") or {}
    images = tuple(
        image_key(str(c.get("image") or ""))
        for c in (*(spec.get("initContainers") or ()), *(spec.get("containers") or ()))
    )
    return PodInfo(
        key=f"{md.get('namespace', '')}/{md['name']}",
        images=images,
        cpu=cpu,
        memory=memory,
        score_cpu=scored["cpu"],
        score_memory=scored["memory"],
        scalars=tuple(sorted(((name, amount) for name, amount in requests.items() if amount > 0), key=_resource_order)),
        ports=ports,
        tolerations=tolerations,
        required=_required_matcher(selector, required_affinity),
        preferred=tuple(
            (int(p.get("weight") or 0), _term_matcher(p.get("preference") or {}))
            for p in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        ),
        owner=owner,
        priority=pod_priority(pod),
        can_preempt=spec.get("preemptionPolicy") != "Never",
        signature=sys.intern(
            orjson.dumps([spec.get("tolerations"), selector, node_affinity], option=orjson.OPT_SORT_KEYS).decode()
        ),
        namespace=md.get("namespace", ""),
        labels=md.get("labels") or {},
        rules=pod_rules(pod),
    )


# ------------------------------------------------------------------------------ node affinity


def _expression_matcher(expr: Obj, field_value: bool = False) -> NodeMatcher:
    key, operator, values = expr.get("key", ""), expr.get("operator", ""), list(expr.get("values") or [])
    wanted = frozenset(values)

    def lookup(labels: Mapping[str, str], name: str) -> str | None:
        if field_value:
            return name if key == "metadata.name" else None
        return labels.get(key)

    def matches(labels: Mapping[str, str], name: str) -> bool:
        got = lookup(labels, name)
        if operator == "In":
            return got is not None and got in wanted
        if operator == "NotIn":
            return got is None or got not in wanted
        if operator == "Exists":
            return got is not None
        if operator == "DoesNotExist":
            return got is None
        if operator in ("Gt", "Lt") and got is not None and len(values) == 1:
            try:
                have, limit = int(got), int(values[0])
            except ValueError:
                return False
            return have > limit if operator == "Gt" else have < limit
        return False

    return matches


def _term_matcher(term: Obj) -> NodeMatcher:
    """A nodeSelectorTerm: all its expressions and fields must match; an empty term matches nothing."""
    parts = [_expression_matcher(e) for e in term.get("matchExpressions") or []]
    parts += [_expression_matcher(f, field_value=True) for f in term.get("matchFields") or []]
    if not parts:
        return lambda _labels, _name: False
    return lambda labels, name: all(part(labels, name) for part in parts)


def node_selector_matches(required: Obj, labels: Mapping[str, str], name: str) -> bool:
    """Whether a NodeSelector (``nodeSelectorTerms``, any of which must match) admits a node; a
    PersistentVolume's node affinity is one."""
    return any(_term_matcher(term)(labels, name) for term in required.get("nodeSelectorTerms") or [])


def _required_matcher(selector: Mapping[str, str], required: Obj | None) -> NodeMatcher | None:
    checks: list[NodeMatcher] = []
    if selector:
        wanted = dict(selector)
        checks.append(lambda labels, _name: all(labels.get(k) == v for k, v in wanted.items()))
    if required is not None:
        terms = [_term_matcher(t) for t in required.get("nodeSelectorTerms") or []]
        checks.append(lambda labels, name: any(term(labels, name) for term in terms))
    if not checks:
        return None
    return lambda labels, name: all(check(labels, name) for check in checks)


# ------------------------------------------------------------------------------ the node


@dataclass(slots=True)
class NodeInfo:
    """A node and the running totals of the pods placed on it (bound or assumed)."""

    name: str
    node: Obj | None = None  # None while pods refer to a node the scheduler has not seen
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: bool = False
    unschedulable: bool = False
    hard_taints: tuple[Obj, ...] = ()  # NoSchedule and NoExecute
    soft_taints: tuple[Obj, ...] = ()  # PreferNoSchedule
    allocatable_cpu: int = 0
    allocatable_memory: int = 0
    allowed_pods: int = DEFAULT_MAX_PODS
    #: the node's allocatable amount of every other resource it reports (ephemeral-storage,
    #: hugepages-*, extended resources), and what its pods request of them
    allocatable_scalars: dict[str, int] = field(default_factory=dict)
    scalars: Counter[str] = field(default_factory=Counter)
    cpu: int = 0
    memory: int = 0
    score_cpu: int = 0
    score_memory: int = 0
    pods: dict[str, PodInfo] = field(default_factory=dict)
    ports: list[Port] = field(default_factory=list)
    owners: Counter[str] = field(default_factory=Counter)
    #: how many of its pods have each priority: preemption skips a node without a lower one at once
    priorities: Counter[int] = field(default_factory=Counter)
    #: the images it reports (``status.images``), each name with its image's size
    images: dict[str, int] = field(default_factory=dict)

    def set_node(self, node: Obj | None) -> None:
        self.node = node
        if node is None:
            self.ready = False
            return
        spec, status = node.get("spec") or {}, node.get("status") or {}
        self.labels = node["metadata"].get("labels") or {}
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        taints = spec.get("taints") or []
        self.hard_taints = tuple(t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute"))
        self.soft_taints = tuple(t for t in taints if t.get("effect") == "PreferNoSchedule")
        allocatable = status.get("allocatable") or status.get("capacity") or {}
        self.allocatable_cpu = _milli(str(allocatable.get("cpu", "0")))
        self.allocatable_memory = _units(str(allocatable.get("memory", "0")))
        self.allowed_pods = _units(str(allocatable["pods"])) if "pods" in allocatable else DEFAULT_MAX_PODS
        self.allocatable_scalars = {
            name: _units(str(amount)) for name, amount in allocatable.items() if name not in _COUNTED_APART
        }
        self.images = {
            str(name): int(image.get("sizeBytes") or 0)
            for image in status.get("images") or []
            if isinstance(image, dict)
            for name in image.get("names") or []
        }

    def add(self, pod: PodInfo) -> None:
        if pod.key in self.pods:
            self.remove(pod.key)
        self.pods[pod.key] = pod
        self.cpu += pod.cpu
        self.memory += pod.memory
        self.score_cpu += pod.score_cpu
        self.score_memory += pod.score_memory
        self.ports.extend(pod.ports)
        for name, amount in pod.scalars:
            self.scalars[name] += amount
        if pod.owner:
            self.owners[pod.owner] += 1
        self.priorities[pod.priority] += 1

    def remove(self, key: str) -> None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return
        self.cpu -= pod.cpu
        self.memory -= pod.memory
        self.score_cpu -= pod.score_cpu
        self.score_memory -= pod.score_memory
        for port in pod.ports:
            self.ports.remove(port)
        for name, amount in pod.scalars:
            self.scalars[name] -= amount
        if pod.owner:
            self.owners[pod.owner] -= 1
            if not self.owners[pod.owner]:
                del self.owners[pod.owner]
        self.priorities[pod.priority] -= 1
        if not self.priorities[pod.priority]:
            del self.priorities[pod.priority]


def node_fingerprint(node: Obj) -> tuple[Any, ...]:
    """The parts of a Node that scheduling looks at; a change elsewhere (a heartbeat) is no news."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return (
        orjson.dumps(node["metadata"].get("labels") or {}, option=orjson.OPT_SORT_KEYS),
        bool(spec.get("unschedulable")),
        orjson.dumps(spec.get("taints") or []),
        ready,
        orjson.dumps(status.get("allocatable") or status.get("capacity") or {}, option=orjson.OPT_SORT_KEYS),
        orjson.dumps(status.get("images") or []),
    )


# ------------------------------------------------------------------------------ filters


def untolerated_taint(taints: Iterable[Obj], tolerations: Sequence[Toleration]) -> Obj | None:
    for taint in taints:
        if not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


def static_failure(pod: PodInfo, node: NodeInfo) -> Failure | None:
    """The filters that depend only on the node object and the pod's spec (not on other pods), so
    their outcome can be cached per pod signature until the node changes."""
    if node.unschedulable and not any(
        t.tolerates({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}) for t in pod.tolerations
    ):
        return _unresolvable(NODE_UNSCHEDULABLE)
    taint = untolerated_taint(node.hard_taints, pod.tolerations)
    if taint is not None:
        return _unresolvable(f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}")
    if not node.ready:
        return _unresolvable(NODE_NOT_READY)
    if pod.required is not None and not pod.required(node.labels, node.name):
        return _unresolvable(AFFINITY_MISMATCH)
    return None


@dataclass(frozen=True, slots=True)
class Shortage:
    """A resource the node lacks for a pod (kube-scheduler's InsufficientResource): what the pod
    requests, what the node's pods use, and what the node has to give."""

    resource: str
    requested: int
    used: int
    capacity: int

    @property
    def reason(self) -> str:
        return TOO_MANY_PODS if self.resource == "pods" else f"Insufficient {self.resource}"

    @property
    def resolvable(self) -> bool:
        """Whether evicting pods could make room: not for a request beyond the node's whole capacity."""
        return self.resource == "pods" or self.requested <= self.capacity


def shortages(pod: PodInfo, node: NodeInfo) -> list[Shortage]:
    """Every resource the node lacks for ``pod`` beside the pods placed there, in kube-scheduler's
    order (the pod count, cpu, memory, then the others: ephemeral-storage first). The scheduler
    reports them all; a node's own admission the first."""
    found = []
    if len(node.pods) + 1 > node.allowed_pods:
        found.append(Shortage("pods", 1, len(node.pods), node.allowed_pods))
    if pod.cpu and pod.cpu > node.allocatable_cpu - node.cpu:
        found.append(Shortage("cpu", pod.cpu, node.cpu, node.allocatable_cpu))
    if pod.memory and pod.memory > node.allocatable_memory - node.memory:
        found.append(Shortage("memory", pod.memory, node.memory, node.allocatable_memory))
    for name, amount in pod.scalars:
        allocatable = node.allocatable_scalars.get(name, 0)
        if amount > allocatable - node.scalars[name]:
            found.append(Shortage(name, amount, node.scalars[name], allocatable))
    return found


def dynamic_failure(pod: PodInfo, node: NodeInfo) -> Failure | None:
    """Host ports and resources against what is already placed on the node."""
    if pod.ports and any(mine.conflicts(theirs) for mine in pod.ports for theirs in node.ports):
        return Failure((PORTS_TAKEN,), True)
    short = shortages(pod, node)
    return Failure(tuple(s.reason for s in short), all(s.resolvable for s in short)) if short else None


def node_failure(pod: PodInfo, node: NodeInfo) -> Failure | None:
    return static_failure(pod, node) or dynamic_failure(pod, node)


def inter_pod_failure(placement: Placement, node: NodeInfo, removed: Collection[PodInfo] = ()) -> Failure | None:
    """The PodTopologySpread and InterPodAffinity filters on ``node`` (``removed`` evicted in thought)."""
    verdict = placement.failure(node, removed)
    return None if verdict is None else Failure((verdict[0],), verdict[1])


def feasible_nodes_to_find(total: int, percentage: int = 0) -> int:
    """How many feasible nodes kube-scheduler looks for before it stops filtering: every node in a
    small cluster; in a large one a share that shrinks as the cluster grows (50% minus 1% per 125
    nodes, at least 5%) unless ``percentage`` fixes it, never fewer than 100."""
    if total < MIN_FEASIBLE_NODES or percentage >= 100:
        return total
    if percentage <= 0:
        percentage = max(50 - total // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(total * percentage // 100, MIN_FEASIBLE_NODES)


@dataclass(slots=True)
class Search:
    """The outcome of filtering: the feasible nodes found, why the others failed, and how many
    candidates were looked at (to advance the round-robin start)."""

    feasible: list[NodeInfo]
    failures: dict[str, Failure]
    examined: int


def find_feasible(
    pod: PodInfo, candidates: Sequence[NodeInfo], start: int, wanted: int, placement: Placement | None = None
) -> Search:
    """Run the node-dependent filters over ``candidates`` (nodes that already passed the static
    ones), beginning at ``start`` and wrapping around, until ``wanted`` feasible nodes are found;
    with a ``placement``, a node that fits also has to pass the inter-pod rules.

    This is the scheduler's innermost loop, so a node with room for the pod is accepted by one
    inline test; only a node that may not fit goes through :func:`dynamic_failure` for the exact
    verdict and its reasons."""
    feasible: list[NodeInfo] = []
    failures: dict[str, Failure] = {}
    cpu, memory, ports, scalars = pod.cpu, pod.memory, bool(pod.ports), bool(pod.scalars)
    examined = 0
    start = start % len(candidates) if candidates else 0
    for node in itertools.chain(candidates[start:], candidates[:start]):
        examined += 1
        if (
            len(node.pods) < node.allowed_pods
            and cpu <= node.allocatable_cpu - node.cpu
            and memory <= node.allocatable_memory - node.memory
            and not (ports and node.ports)
            and not scalars
        ):
            failure = None
        else:
            failure = dynamic_failure(pod, node)
        if failure is None and placement is not None:
            failure = inter_pod_failure(placement, node)
        if failure is None:
            feasible.append(node)
            if len(feasible) >= wanted:
                break
        else:
            failures[node.name] = failure
    return Search(feasible, failures, examined)


# ------------------------------------------------------------------------------ scores


class ImageCensus:
    """How many of the cluster's nodes report each image name: ImageLocality scores an image by its
    size times the share of nodes holding it, so that pods do not all crowd on the few nodes that
    pulled a rare image first."""

    def __init__(self) -> None:
        self._holders: Counter[str] = Counter()
        self._by_node: dict[str, Mapping[str, int]] = {}

    @property
    def nodes(self) -> int:
        return len(self._by_node)

    def set(self, node: str, images: Mapping[str, int] | None) -> None:
        """``node`` now reports ``images`` (None: it is gone)."""
        for name in self._by_node.pop(node, {}):
            self._holders[name] -= 1
            if not self._holders[name]:
                del self._holders[name]
        if images is not None:
            self._by_node[node] = images
            self._holders.update(images.keys())

    def scores(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int] | None:
        """Each node's ImageLocality score for ``pod``; None when no node holds any of its images."""
        held = [(image, self._holders[image]) for image in pod.images if image in self._holders]
        if not held:
            return None
        total = self.nodes
        ceiling = IMAGE_MAX_BYTES * len(pod.images)
        found = []
        for node in nodes:
            summed = 0
            for image, holders in held:
                size = node.images.get(image)
                if size is not None:
                    summed += int(float(size) * (float(holders) / float(total)))
            summed = min(max(summed, IMAGE_MIN_BYTES), ceiling)
            found.append(MAX_SCORE * (summed - IMAGE_MIN_BYTES) // (ceiling - IMAGE_MIN_BYTES))
        return found


def _reverse_normalized(raw: list[int]) -> list[int]:
    top = max(raw, default=0)
    return [MAX_SCORE] * len(raw) if top == 0 else [MAX_SCORE - r * MAX_SCORE // top for r in raw]


def scores(
    pod: PodInfo, nodes: Sequence[NodeInfo], placement: Placement | None = None, images: ImageCensus | None = None
) -> list[int]:
    """The weighted sum of kube-scheduler's default scores for each node: fewest siblings (pods
    with the same controlling owner; the pod's own ScheduleAnyway spread constraints instead when
    it has some, as they replace the default spreading), least allocated (the share of cpu and
    memory left free with the pod on the node), fewest untolerated PreferNoSchedule taints, best
    matching preferred node affinity, best matching preferred pod affinity and anti-affinity (from
    ``placement``), the pod's images already on the node (ImageLocality, from ``images``). One pass
    per score that varies; a score equal on every node adds its constant."""
    constant = 0
    spread = placement.spread_scores(nodes) if placement is not None else None
    if spread is None and pod.owner:
        owner = pod.owner
        spread = _reverse_normalized([node.owners.get(owner, 0) for node in nodes])
    elif spread is None:
        constant = SPREAD_WEIGHT * MAX_SCORE
    if any(node.soft_taints for node in nodes):
        taint = _reverse_normalized(
            [
                sum(1 for taint in node.soft_taints if not any(t.tolerates(taint) for t in pod.tolerations))
                for node in nodes
            ]
        )
    else:
        taint, constant = None, constant + TAINT_WEIGHT * MAX_SCORE
    preferred: list[int] | None = None
    if pod.preferred:
        sums = [sum(weight for weight, term in pod.preferred if term(node.labels, node.name)) for node in nodes]
        top = max(sums)
        preferred = [s * MAX_SCORE // top if top > 0 else 0 for s in sums]
    inter_pod = placement.affinity_scores(nodes) if placement is not None else None
    local = images.scores(pod, nodes) if images is not None else None
    pod_cpu, pod_memory = pod.score_cpu, pod.score_memory
    total = []
    for i, node in enumerate(nodes):
        cpu, memory = node.allocatable_cpu, node.allocatable_memory
        used_cpu, used_memory = node.score_cpu + pod_cpu, node.score_memory + pod_memory
        least = (cpu - used_cpu) * MAX_SCORE // cpu if cpu and used_cpu <= cpu else 0
        if memory and used_memory <= memory:
            least += (memory - used_memory) * MAX_SCORE // memory
        score = constant + RESOURCES_WEIGHT * (least // 2)
        if spread is not None:
            score += SPREAD_WEIGHT * spread[i]
        if taint is not None:
            score += TAINT_WEIGHT * taint[i]
        if preferred is not None:
            score += AFFINITY_WEIGHT * preferred[i]
        if inter_pod is not None:
            score += INTER_POD_WEIGHT * inter_pod[i]
        if local is not None:
            score += IMAGE_WEIGHT * local[i]
        total.append(score)
    return total


def select_host(
    pod: PodInfo,
    nodes: Sequence[NodeInfo],
    rng: random.Random | None = None,
    placement: Placement | None = None,
    images: ImageCensus | None = None,
) -> NodeInfo:
    """The best scoring node; ties are broken at random, as kube-scheduler does, so equal nodes
    share the load."""
    if len(nodes) == 1:
        return nodes[0]
    totals = scores(pod, nodes, placement, images)
    best = max(totals)
    ties = [node for node, total in zip(nodes, totals, strict=True) if total == best]
    return ties[0] if len(ties) == 1 else (rng or random).choice(ties)


# ------------------------------------------------------------------------------ the message


def _histogram(counts: Counter[str]) -> str:
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))


def failure_message(
    total_nodes: int, failures: Iterable[Failure], can_preempt: bool = True, ineligible: str = ""
) -> str:
    """kube-scheduler's FitError text: reasons counted over nodes and sorted as strings, then why
    preemption found nothing: no victims where evicting lower priority pods would not be enough,
    not helpful where evicting pods could not help; or why the pod may not preempt at all
    (``ineligible``, or its preemptionPolicy Never when ``can_preempt`` is false)."""
    if total_nodes == 0:
        return NO_NODES
    failures = list(failures)
    preemption = Counter(NO_VICTIMS if failure.resolvable else NOT_HELPFUL for failure in failures)
    return _with_preemption(fit_error(total_nodes, failures), total_nodes, preemption, can_preempt, ineligible)


def fit_error(total_nodes: int, failures: Iterable[Failure]) -> str:
    """The first sentence of the FitError text, all of it when preemption found victims: the
    reasons counted over nodes and sorted as strings."""
    reasons: Counter[str] = Counter()
    for failure in failures:
        reasons.update(failure.reasons)
    return f"0/{total_nodes} nodes are available: {_histogram(reasons)}."


def prefilter_message(total_nodes: int, reason: str, can_preempt: bool = True) -> str:
    """The FitError text when a PreFilter plugin turned the pod away before any node was looked at
    (its claim is missing, say): the reason once, and preemption not helpful on every node."""
    if total_nodes == 0:
        return NO_NODES
    return _with_preemption(
        f"0/{total_nodes} nodes are available: {reason}.", total_nodes, Counter({NOT_HELPFUL: total_nodes}), can_preempt
    )


def _with_preemption(
    message: str, total_nodes: int, preemption: Counter[str], can_preempt: bool, ineligible: str = ""
) -> str:
    if not can_preempt:
        ineligible = NEVER_PREEMPTS
    if ineligible:
        return f"{message} preemption: {ineligible}"
    return f"{message} preemption: 0/{total_nodes} nodes are available: {_histogram(preemption)}."
