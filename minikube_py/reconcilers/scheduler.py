"""The scheduler: binds pending pods to nodes through ``pods/<name>/binding``.

Shaped like kube-scheduler, folded into one asyncio task:

- its own view of the cluster: a :class:`~minikube_py.model.scheduling.NodeInfo` per node with
  running totals, updated from the pod and node informers as events arrive (never re-scanned);
- assume, then bind: a decision is counted on its node at once, and the binding goes out in the
  background (a bounded number at a time), so the next decision already sees it; a failed binding
  forgets the assumption, the informer showing the pod bound confirms it;
- an unschedulable set: a pod that fits nowhere gets a ``FailedScheduling`` event and a
  PodScheduled=False condition, and waits until a node changes or a pod leaves a node, then is
  retried after its back-off (1 s doubling to 10 s), and at least every minute; nothing polls;
- a priority queue: pods of higher ``spec.priority`` are decided first;
- preemption: a pod that fits nowhere, and may preempt, looks for a node where evicting pods of
  lower priority makes room (:mod:`minikube_py.model.preemption` chooses node and victims). It is
  nominated there (``status.nominatedNodeName``, and counted on the node so that no one else takes
  the room), the victims get a DisruptionTarget condition, a ``Preempted`` event and are deleted
  gracefully, and once they are gone the pod is retried and bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import aiohttp

from minikube_py import metrics
from minikube_py.client.errors import ApiError, ConflictError, NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.podaffinity import Placement, prepare
from minikube_py.model.preemption import (
    Candidate,
    allowed_disruptions,
    budgets_covering,
    find_candidate,
    preempted_condition,
    terminating_by_preemption,
    waits_for_victims,
)
from minikube_py.model.scheduling import (
    DEFAULT_SCHEDULER,
    NO_NODES,
    WAITING_FOR_VICTIMS,
    Failure,
    ImageCensus,
    NodeInfo,
    PodInfo,
    failure_message,
    feasible_nodes_to_find,
    find_feasible,
    fit_error,
    node_fingerprint,
    pod_info,
    prefilter_message,
    queue_order,
    select_host,
    static_failure,
)
from minikube_py.model.times import rfc3339
from minikube_py.model.volumebinding import SELECTED_NODE, PodVolumes, pod_claim_names, pod_volumes, volume_node_failure
from minikube_py.reconcilers.base import Controller

log = logging.getLogger(__name__)

#: bindings in flight at once: enough to hide the round trip, few enough not to swamp the server
MAX_BINDINGS_IN_FLIGHT = 64
#: events waiting to be written before new ones are dropped (as client-go's event broadcaster sheds
#: events rather than slow the scheduler down when the API server falls behind)
MAX_PENDING_EVENTS = 1000
#: kube-scheduler's per-pod back-off after a failed attempt
INITIAL_BACKOFF, MAX_BACKOFF = 1.0, 10.0
#: an unschedulable pod is retried this often even when nothing seems to change
RETRY_UNSCHEDULABLE_AFTER = 60.0
#: distinct pod signatures whose static filter results are kept (DaemonSet pods each have their own)
STATIC_CACHE_SIZE = 256


def _now() -> str:
    return rfc3339()


def is_pending(pod: Obj) -> bool:
    """Unbound, ours to schedule, and not on its way out."""
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and spec.get("schedulerName", DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
        and not pod["metadata"].get("deletionTimestamp")
    )


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def backoff(attempts: int) -> float:
    return min(INITIAL_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


class AttemptMetrics:
    """kube-scheduler's attempt metrics: ``scheduler_schedule_attempts_total`` and
    ``scheduler_scheduling_attempt_duration_seconds`` by result (scheduled, unschedulable, error),
    and for a pod once bound ``scheduler_pod_scheduling_sli_duration_seconds`` from the moment it
    was first queued, over all its attempts."""

    def __init__(self, profile: str = DEFAULT_SCHEDULER) -> None:
        self._by_result = {
            result: (
                metrics.SCHEDULE_ATTEMPTS.labels(result, profile),
                metrics.SCHEDULING_ATTEMPT_DURATION.labels(result, profile),
            )
            for result in ("scheduled", "unschedulable", "error")
        }

    def attempt(self, result: str, started: float) -> None:
        count, duration = self._by_result[result]
        count.inc()
        duration.observe(time.perf_counter() - started)

    @staticmethod
    def scheduled(queued: float, attempts: int) -> None:
        metrics.POD_SCHEDULING_DURATION.labels(str(attempts)).observe(time.perf_counter() - queued)


class Scheduler(Controller):
    name = "scheduler"
    event_source = DEFAULT_SCHEDULER
    ordered = True

    def __init__(
        self,
        client: ApiClient,
        *,
        percentage_of_nodes_to_score: int = 0,
        max_bindings_in_flight: int = MAX_BINDINGS_IN_FLIGHT,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(client)
        self.pods = self.informer("/api/v1/pods", self._on_pod)
        self.nodes = self.informer("/api/v1/nodes", self._on_node)
        self.claims = self.informer("/api/v1/persistentvolumeclaims")
        self.volumes = self.informer("/api/v1/persistentvolumes")
        self.classes = self.informer("/apis/storage.k8s.io/v1/storageclasses")
        self.budgets = self.informer("/apis/policy/v1/poddisruptionbudgets")
        self.namespaces = self.informer("/api/v1/namespaces")  # for pod affinity's namespaceSelector
        for storage_informer in (self.claims, self.volumes, self.classes):
            storage_informer.add_handler(lambda _old, _new: self._retry_claim_users())
        self.percentage = percentage_of_nodes_to_score
        self._rng = rng or random.Random()
        self._bindings = asyncio.Semaphore(max_bindings_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._events: set[asyncio.Task[None]] = set()
        self.node_infos: dict[str, NodeInfo] = {}
        #: how many nodes hold each image, for ImageLocality
        self.images = ImageCensus()
        #: pod key -> (node, assumed): every pod counted on a node, bound or only decided
        self._placed: dict[str, tuple[str, bool]] = {}
        #: schedulable candidates in a stable order, rebuilt when a node changes
        self._candidates: list[NodeInfo] | None = None
        #: pod signature -> (nodes passing the node-only filters, failures of the others)
        self._static: dict[bytes, tuple[list[NodeInfo], list[Failure]]] = {}
        self._next_start = 0
        #: pod key -> (failed attempts, loop time of the last one), until the pod is bound or gone
        self._attempts: dict[str, tuple[int, float]] = {}
        #: unschedulable pods waiting for a change in the cluster
        self._waiting: set[str] = set()
        #: pod key -> when it was first queued (perf_counter), until it is bound or gone
        self._queued_at: dict[str, float] = {}
        #: pod key -> the node it preempted on and waits for, counted there (not in _placed) meanwhile
        self._nominated: dict[str, str] = {}
        #: pod key -> (pod, node) for the placed or nominated pods with affinity or anti-affinity
        #: terms, which bear on every later decision (the symmetric rule and scores)
        self._holders: dict[str, tuple[PodInfo, NodeInfo]] = {}
        #: unschedulable pods with required pod affinity: a pod placed anywhere may let them fit
        self._affinity_waiting: set[str] = set()
        self.metrics = AttemptMetrics()

    def queue_rank(self, key: object) -> int:
        return queue_order(self.pods.get(str(key)))

    # -------------------------------------------------------------------------- informer events

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            assert old is not None
            key = object_key(old)
            self._attempts.pop(key, None)
            self._queued_at.pop(key, None)
            self._waiting.discard(key)
            self._affinity_waiting.discard(key)
            placed, nominated = self._unplace(key), self._release(key)
            if placed or nominated:  # the room it held is free
                self._retry_waiting()
            return
        key = object_key(new)
        node = (new.get("spec") or {}).get("nodeName")
        if node:
            self._attempts.pop(key, None)
            self._queued_at.pop(key, None)
            self._waiting.discard(key)
            self._affinity_waiting.discard(key)
            self._release(key)  # bound by someone else while it waited for its victims
            if _terminal(new):
                if self._unplace(key):
                    self._retry_waiting()
            else:
                self._confirm(key, node, new)
        elif is_pending(new):
            if key in self._attempts and old is not None and old.get("spec") == new.get("spec"):
                return  # only its status changed (our own condition, say): nothing new to try
            self._queued_at.setdefault(key, time.perf_counter())
            self.queue.add(key)

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        name = (new or old or {})["metadata"]["name"]
        info = self.node_infos.get(name)
        if new is not None and old is not None and info is not None and node_fingerprint(old) == node_fingerprint(new):
            info.node = new
            return
        if new is None:
            self.images.set(name, None)
            if info is not None:
                info.set_node(None)
                if not info.pods:
                    del self.node_infos[name]
        else:
            if info is None:
                info = self.node_infos[name] = NodeInfo(name)
            info.set_node(new)
            self.images.set(name, info.images)
        self._candidates = None
        self._static.clear()
        self._retry_waiting()

    # -------------------------------------------------------------------------- the cache

    def _node(self, name: str) -> NodeInfo:
        info = self.node_infos.get(name)
        if info is None:
            info = self.node_infos[name] = NodeInfo(name)
        return info

    def _count(self, info: PodInfo, node: str) -> None:
        """Count a pod on ``node`` (placed, assumed or nominated)."""
        target = self._node(node)
        target.add(info)
        if info.rules is not None and info.rules.pairwise:
            self._holders[info.key] = (info, target)
        if self._affinity_waiting:  # the pod they want to be near may be this one
            self._retry_waiting(self._affinity_waiting)

    def _uncount(self, key: str, node: str) -> NodeInfo | None:
        """Stop counting a pod on ``node``; the node's info, dropped when it was only kept for its pods."""
        self._holders.pop(key, None)
        info = self.node_infos.get(node)
        if info is not None:
            info.remove(key)
            if info.node is None and not info.pods:
                del self.node_infos[node]
        return info

    def _assume(self, info: PodInfo, node: str) -> None:
        self._count(info, node)
        self._placed[info.key] = (node, True)

    def _confirm(self, key: str, node: str, pod: Obj) -> None:
        placed = self._placed.get(key)
        if placed is not None and placed[0] == node and not self._relabelled(key, node, pod):
            if placed[1]:
                self._placed[key] = (node, False)
            return
        if placed is not None:
            self._unplace(key)
        self._count(pod_info(pod), node)
        self._placed[key] = (node, False)

    def _relabelled(self, key: str, node: str, pod: Obj) -> bool:
        """Whether a placed pod's labels changed since it was counted: pod affinity and spread see
        its labels, so it is counted afresh."""
        counted = self.node_infos[node].pods.get(key) if node in self.node_infos else None
        return counted is not None and counted.labels != (pod["metadata"].get("labels") or {})

    def _unplace(self, key: str) -> bool:
        placed = self._placed.pop(key, None)
        if placed is None:
            return False
        self._uncount(key, placed[0])
        return True

    def _reserve(self, info: PodInfo, node: str) -> None:
        """Count a pod nominated to ``node`` there, so that the room its victims leave stays its."""
        self._count(info, node)
        self._nominated[info.key] = node

    def _release(self, key: str) -> str | None:
        """Stop counting a nominated pod on its node; the node it was nominated to, if any."""
        node = self._nominated.pop(key, None)
        if node is not None:
            self._uncount(key, node)
        return node

    def _forget(self, key: str, node: str) -> None:
        """Undo an assumption whose binding failed, unless the informer has meanwhile shown the pod
        bound (then the cache is already right)."""
        if self._placed.get(key) == (node, True) and self._unplace(key):
            self._retry_waiting()

    def _candidate_nodes(self) -> list[NodeInfo]:
        if self._candidates is None:
            self._candidates = [info for info in self.node_infos.values() if info.node is not None]
        return self._candidates

    def _static_filtered(self, pod: PodInfo) -> tuple[list[NodeInfo], list[Failure]]:
        cached = self._static.get(pod.signature)
        if cached is None:
            passing: list[NodeInfo] = []
            failures: list[Failure] = []
            for node in self._candidate_nodes():
                failure = static_failure(pod, node)
                if failure is None:
                    passing.append(node)
                else:
                    failures.append(failure)
            if len(self._static) >= STATIC_CACHE_SIZE:
                self._static.clear()
            cached = self._static[pod.signature] = (passing, failures)
        return cached

    def _retry_waiting(self, keys: set[str] | None = None) -> None:
        """Something changed that may let unschedulable pods fit: queue them (``keys``, or all),
        each after what is left of its back-off."""
        keys = self._waiting if keys is None else keys & self._waiting
        if not keys:
            return
        now = asyncio.get_running_loop().time()
        for key in keys:
            attempts, last = self._attempts.get(key, (0, now))
            delay = last + backoff(attempts) - now
            if delay > 0:
                self.queue.add_after(key, delay)
            else:
                self.queue.add(key)
        self._waiting -= keys

    def _retry_claim_users(self) -> None:
        """A claim bound or made, a volume freed, a class added: the waiting pods with claims may fit."""
        self._retry_waiting(
            {key for key in self._waiting if (pod := self.pods.get(key)) is not None and pod_claim_names(pod)}
        )

    # -------------------------------------------------------------------------- one decision

    async def reconcile(self, key: object) -> None:
        pod = self.pods.get(str(key))
        if pod is None or not is_pending(pod) or str(key) in self._placed:
            return
        started = time.perf_counter()
        info = pod_info(pod)
        reserved_on = self._release(info.key)  # decided afresh, without its own reservation in the way
        total = len(self._candidate_nodes())
        if total == 0:
            self.metrics.attempt("unschedulable", started)
            await self._unschedulable(pod, "SchedulerError", NO_NODES)
            return
        passing, static_failures = self._static_filtered(info)
        needs: PodVolumes | None = None
        if pod_claim_names(pod):
            needs = pod_volumes(pod, self.claims.cache, self.volumes.cache, self.classes.cache)
            if needs.error is not None:
                self.metrics.attempt("unschedulable", started)
                await self._unschedulable(pod, "Unschedulable", prefilter_message(total, needs.error, info.can_preempt))
                return
            passing, volume_failures = self._volume_filtered(needs, passing)
            static_failures = [*static_failures, *volume_failures]
        placement = self._placement(info)
        search = find_feasible(
            info, passing, self._next_start, feasible_nodes_to_find(total, self.percentage), placement
        )
        self._next_start = (self._next_start + search.examined) % max(len(passing), 1)
        if not search.feasible:
            failures = [*static_failures, *search.failures.values()]
            message = failure_message(total, failures, info.can_preempt)
            nominate: str | None = None  # the node to nominate; "" to clear the nomination; None: as it is
            if info.can_preempt:
                current = (pod.get("status") or {}).get("nominatedNodeName") or reserved_on
                # it waits for its victims, unless no eviction could make room there any more (the
                # node was tainted, say): then it preempts afresh, as kube-scheduler does
                still_room = current in search.failures and search.failures[current].resolvable
                if still_room and waits_for_victims(info, self.node_infos.get(current), self._preempted):
                    message = failure_message(total, failures, ineligible=WAITING_FOR_VICTIMS)
                    nominate = current
                elif (candidate := self._preemption_candidate(info, search.failures, placement)) is not None:
                    await self._preempt(pod, candidate)
                    metrics.PREEMPTION_VICTIMS.observe(len(candidate.victims))
                    message, nominate = fit_error(total, failures), candidate.node
                elif current:
                    nominate = ""  # preemption found no room: the old nomination promises none
            self.metrics.attempt("unschedulable", started)
            if nominate:
                self._reserve(info, nominate)
            if info.rules is not None and info.rules.affinity_required:
                self._affinity_waiting.add(info.key)
            await self._unschedulable(pod, "Unschedulable", message, nominate)
            return
        node = select_host(info, search.feasible, self._rng, placement, self.images).name
        self._affinity_waiting.discard(info.key)
        self._assume(info, node)
        failed = self._attempts.pop(info.key, (0, 0.0))[0]
        self._waiting.discard(info.key)
        await self._bindings.acquire()
        task = asyncio.create_task(
            self._bind(pod, node, started, failed + 1, needs), name=f"scheduler: bind {info.key}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -------------------------------------------------------------------------- preemption

    def _preempted(self, key: str) -> bool:
        pod = self.pods.get(key)
        return pod is not None and terminating_by_preemption(pod)

    def _placement(self, info: PodInfo) -> Placement | None:
        """The inter-pod state of this decision; None (at no cost) while neither the pod nor any
        placed pod has affinity, anti-affinity or spread rules."""
        if info.rules is None and not self._holders:
            return None
        return prepare(info, self._candidate_nodes(), self._holders.values(), self._namespace_labels)

    def _namespace_labels(self, namespace: str) -> dict[str, str] | None:
        ns = self.namespaces.get(namespace)
        return None if ns is None else ns["metadata"].get("labels")

    def _preemption_candidate(
        self, info: PodInfo, failures: dict[str, Failure], placement: Placement | None = None
    ) -> Candidate | None:
        """The node to preempt on and its victims, among the nodes where evicting could help."""
        metrics.PREEMPTION_ATTEMPTS.inc()
        nodes = [self.node_infos[name] for name, f in failures.items() if f.resolvable and name in self.node_infos]
        if not nodes:
            return None
        budgets = self.budgets.items()

        def covering(key: str) -> list[str]:
            victim = self.pods.get(key)
            return budgets_covering(victim, budgets) if victim is not None and budgets else []

        return find_candidate(
            info,
            nodes,
            covering=covering,
            allowed=allowed_disruptions(budgets),
            nominated=self._nominated.keys(),
            placement=placement,
        )

    async def _preempt(self, pod: Obj, candidate: Candidate) -> None:
        """Make room on ``candidate.node``: pods of lower priority nominated there lose their
        nomination, and each victim gets the DisruptionTarget condition (so its owners know why it
        goes), a ``Preempted`` event, and a graceful deletion."""
        md = pod["metadata"]
        for key in candidate.nominated:
            self._release(key)
            other = self.pods.get(key)
            if other is not None:
                with contextlib.suppress(NotFoundError, ConflictError):
                    await self.client.patch(
                        resource_path(
                            "v1", "pods", other["metadata"]["namespace"], other["metadata"]["name"], "status"
                        ),
                        {"status": {"nominatedNodeName": None}},
                        "strategic",
                    )
        for victim_info in candidate.victims:
            victim = self.pods.get(victim_info.key)
            if victim is None:
                continue
            vmd = victim["metadata"]
            path = resource_path("v1", "pods", vmd["namespace"], vmd["name"])
            with contextlib.suppress(NotFoundError, ConflictError):  # gone already, or someone else's now
                await self.client.patch(
                    f"{path}/status",
                    {"status": {"conditions": [preempted_condition(DEFAULT_SCHEDULER, _now())]}},
                    "strategic",
                )
                await self.client.delete(path, uid=vmd.get("uid"))
            self._event(victim, "Normal", "Preempted", f"Preempted by pod {md.get('uid')} on node {candidate.node}")

    # -------------------------------------------------------------------------- volumes

    def _volume_filtered(self, needs: PodVolumes, nodes: list[NodeInfo]) -> tuple[list[NodeInfo], list[Failure]]:
        """The VolumeBinding filter: the nodes the pod's volumes can be reached from (or made on)."""
        passing: list[NodeInfo] = []
        failures: list[Failure] = []
        volumes = self.volumes.items() if needs.delayed else []
        for info in nodes:
            assert info.node is not None
            reason = volume_node_failure(needs, info.node, volumes, self.classes.cache)
            if reason is None:
                passing.append(info)
            else:
                failures.append(Failure((reason,), False))
        return passing, failures

    async def _select_node_for_claims(self, needs: PodVolumes | None, node: str) -> None:
        """Tell the PV controller where the pod goes (PreBind): each of its claims waiting for a first
        consumer gets ``volume.kubernetes.io/selected-node``, so it is bound or provisioned there."""
        for claim in needs.delayed if needs is not None else []:
            if (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE) == node:
                continue
            md = claim["metadata"]
            await self.client.patch(
                resource_path("v1", "persistentvolumeclaims", md["namespace"], md["name"]),
                {"metadata": {"annotations": {SELECTED_NODE: node}}},
            )

    async def _bind(self, pod: Obj, node: str, started: float, attempts: int, needs: PodVolumes | None = None) -> None:
        """Bind ``pod``, decided at ``started`` (perf_counter) on its attempt number ``attempts``."""
        md = pod["metadata"]
        key = object_key(pod)
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": md["name"], "uid": md.get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            try:
                await self._select_node_for_claims(needs, node)
                await self.client.create(resource_path("v1", "pods", md["namespace"], md["name"], "binding"), binding)
            except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
                self._forget(key, node)
                self.metrics.attempt("error", started)
                if not isinstance(exc, NotFoundError | ConflictError):
                    # the pod is still ours to place: try again later (a 404 means it is gone, a 409
                    # that someone bound or deleted it, and the informer will say so)
                    log.warning("scheduler: binding %s to %s failed: %s", key, node, exc)
                    self.queue.add_after(key, INITIAL_BACKOFF)
                return
        finally:
            self._bindings.release()
        self.metrics.attempt("scheduled", started)
        queued = self._queued_at.pop(key, None)
        if queued is not None:
            self.metrics.scheduled(queued, attempts)
        self._event(pod, "Normal", "Scheduled", f"Successfully assigned {md['namespace']}/{md['name']} to {node}")

    def _event(self, pod: Obj, event_type: str, reason: str, message: str) -> None:
        """Record an event in the background: events are for people, and writing them must not hold
        up the next decision."""
        if len(self._events) >= MAX_PENDING_EVENTS:
            log.debug("scheduler: dropping event %s for %s", reason, object_key(pod))
            return
        task = asyncio.create_task(self.events.record(pod, event_type, reason, message))
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    async def _unschedulable(self, pod: Obj, reason: str, message: str, nominated: str | None = None) -> None:
        """Record a failed attempt: the event, the PodScheduled=False condition and, when the pod
        preempted (or waits for its victims), the node it is nominated to ("": no longer any)."""
        key = object_key(pod)
        now = asyncio.get_running_loop().time()
        attempts = self._attempts.get(key, (0, now))[0] + 1
        self._attempts[key] = (attempts, now)
        self._waiting.add(key)
        self.queue.add_after(key, RETRY_UNSCHEDULABLE_AFTER)
        self._event(pod, "Warning", "FailedScheduling", message)
        status = pod.get("status") or {}
        conditions = status.get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if (
            current is not None
            and (current.get("status"), current.get("reason"), current.get("message")) == ("False", reason, message)
            and (nominated is None or (status.get("nominatedNodeName") or "") == nominated)
        ):
            return
        since = current.get("lastTransitionTime") if current is not None and current.get("status") == "False" else None
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": since or _now(),
        }
        md = pod["metadata"]
        patch: Obj = {"conditions": [condition]}
        if nominated is not None:
            patch["nominatedNodeName"] = nominated or None
        with contextlib.suppress(NotFoundError, ConflictError):  # gone or bound meanwhile: the informer says so
            await self.client.patch(
                resource_path("v1", "pods", md["namespace"], md["name"], "status"), {"status": patch}, "strategic"
            )
