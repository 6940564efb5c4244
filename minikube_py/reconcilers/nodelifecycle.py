"""The node lifecycle controller: notice nodes that went silent and move their work elsewhere.

Each node is a key. Reconciling it compares the time since its last sign of life with the grace
period; past it, the node's conditions become Unknown, the unreachable taints go on (the scheduler
then keeps new pods off), its pods are marked not ready at once (the endpoints controller drops
them from services) and evicted when their toleration runs out, so their controllers replace them on
healthy nodes. A node that comes back posts Ready itself; the taints then come off and any pod
whose eviction did not finish is removed for good.

A node whose kubelet reports Ready=False (its container engine down) is tainted not-ready, and its
pods are deleted when their toleration of that runs out (five minutes by default), as Kubernetes'
taint manager does; the node, being alive, stops them as it stops any deleted pod.

Healthy nodes cost one reconcile per grace period (a timer at their deadline), not one per lease
renewal, so a thousand fake nodes renewing their leases stay cheap.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from minikube_py.client.errors import ConflictError, NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model import nodelifecycle as lifecycle
from minikube_py.reconcilers.base import Controller

NODE_LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
#: how soon to look again after losing a write race (the cache is about to show the winner)
CONFLICT_RETRY = 0.2
#: the expected revision of a pod this controller removed: no cached copy can satisfy it
GONE = 2**63


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    event_source = "node-controller"

    def __init__(
        self,
        client: ApiClient,
        *,
        grace_period: float,
        eviction_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client)
        self.grace_period = grace_period
        self.eviction_timeout = eviction_timeout
        self._clock = clock
        self._probes: dict[str, lifecycle.Probe] = {}
        self._pods_by_node: dict[str, set[str]] = {}
        #: expectations: pod UID -> the resourceVersion of this controller's last write to it (or
        #: GONE after removing it), until the cache shows it; a reconcile racing its own watch then
        #: does not mark, record or evict twice
        self._expected: dict[str, int] = {}
        self.nodes = self.informer("/api/v1/nodes", self._on_node)
        self.leases = self.informer(NODE_LEASES, self._on_lease)
        self.pods = self.informer("/api/v1/pods", self._on_pod)

    # --------------------------------------------------------------------------- handlers

    def _on_node(self, _old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            self.queue.add(new["metadata"]["name"])

    def _on_lease(self, _old: Obj | None, new: Obj | None) -> None:
        """Only a node already judged unreachable needs prompt attention when its lease moves;
        healthy ones are checked at their deadline anyway."""
        if new is None:
            return
        name = new["metadata"]["name"]
        node = self.nodes.get(name)
        if node is not None:
            self._observe(name, node)
            if lifecycle.ready_status(node) == "Unknown":
                self.queue.add(name)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None:
            self._pods_by_node.get(_node_of(old), set()).discard(object_key(old))
        if new is None:
            self._expected.pop((old or {}).get("metadata", {}).get("uid", ""), None)
            return
        uid = new["metadata"].get("uid", "")
        if uid in self._expected and _revision(new) >= self._expected[uid]:
            del self._expected[uid]
        node_name = _node_of(new)
        if not node_name:
            return
        self._pods_by_node.setdefault(node_name, set()).add(object_key(new))
        node = self.nodes.get(node_name)
        if node is not None and lifecycle.ready_status(node) in lifecycle.READY_TAINTS:
            self.queue.add(node_name)

    def _observe(self, name: str, node: Obj) -> lifecycle.Probe:
        lease = self.leases.get(f"kube-node-lease/{name}")
        probe = lifecycle.observe(self._probes.get(name), lifecycle.heartbeat_signature(node, lease), self._clock())
        self._probes[name] = probe
        return probe

    # --------------------------------------------------------------------------- reconcile

    async def reconcile(self, key: object) -> None:
        name = str(key)
        node = self.nodes.get(name)
        if node is None:
            self._probes.pop(name, None)
            return
        probe = self._observe(name, node)
        silent = lifecycle.silent_for(probe, self._clock())
        try:
            if silent >= self.grace_period:
                node = await self._mark_unknown(node)
            else:
                self.queue.add_after(name, self.grace_period - silent)
            node = await self._sync_taints(node)
            ready = lifecycle.ready_status(node)
            if ready == "Unknown":
                await self._handle_pods(node, lifecycle.UNREACHABLE_TAINT)
            elif ready == "False":
                await self._handle_pods(node, lifecycle.NOT_READY_TAINT)
            else:
                await self._finish_evictions(node)
        except ConflictError:
            self.queue.add_after(name, CONFLICT_RETRY)

    async def _mark_unknown(self, node: Obj) -> Obj:
        conditions = lifecycle.unknown_conditions(node, datetime.now(UTC))
        if conditions is None:
            return node
        name = node["metadata"]["name"]
        updated = await self.client.patch(
            resource_path("v1", "nodes", name=name, subresource="status"),
            {
                "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                "status": {"conditions": conditions},
            },
        )
        await self.events.record(updated, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        return updated

    async def _sync_taints(self, node: Obj) -> Obj:
        taints = lifecycle.lifecycle_taints(node, datetime.now(UTC))
        if taints is None:
            return node
        return await self.client.patch(
            resource_path("v1", "nodes", name=node["metadata"]["name"]),
            {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}, "spec": {"taints": taints}},
        )

    def _pods_on(self, node_name: str) -> list[Obj]:
        pods = (self.pods.get(key) for key in self._pods_by_node.get(node_name, ()))
        return [pod for pod in pods if pod is not None and _node_of(pod) == node_name]

    async def _handle_pods(self, node: Obj, taint: str) -> None:
        """Evict the pods of a node tainted ``taint`` (NoExecute) whose toleration ran out, and come
        back when the next one's does. An unreachable node's pods are marked not ready first, since
        their kubelet cannot say; a not-ready node's are merely deleted, for it to stop."""
        name = node["metadata"]["name"]
        unreachable = taint == lifecycle.UNREACHABLE_TAINT
        now = datetime.now(UTC)
        since = lifecycle.tainted_since(node, taint) or now
        next_due: datetime | None = None
        for pod in self._pods_on(name):
            if lifecycle.is_terminal(pod) or self._awaiting(pod):
                continue
            if not unreachable and pod["metadata"].get("deletionTimestamp"):
                continue  # going already: its node stops it
            patch = lifecycle.not_ready_patch(pod, now) if unreachable else None
            if patch is not None:
                await self._write_pod_status(pod, patch)
                await self.events.record(pod, "Warning", "NodeNotReady", "Node is not ready")
            due = lifecycle.eviction_due(pod, since, self.eviction_timeout, taint)
            if due is None:
                continue
            if due <= now:
                await (self._evict(pod, name) if unreachable else self._delete(pod))
            elif next_due is None or due < next_due:
                next_due = due
        if next_due is not None:
            self.queue.add_after(name, (next_due - now).total_seconds())

    async def _evict(self, pod: Obj, node_name: str) -> None:
        """Delete the pod so its controller replaces it; then remove it for good, because its silent
        node will never confirm that its containers stopped (the pod GC does the same)."""
        md = pod["metadata"]
        patch = lifecycle.eviction_patch(pod, datetime.now(UTC), lost_node=node_name)
        if patch is not None:
            await self._write_pod_status(pod, patch)
        if not md.get("deletionTimestamp"):
            await self.events.record(
                pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {md['namespace']}/{md['name']}"
            )
            with contextlib.suppress(NotFoundError):
                await self.client.delete(_pod_path(pod))
        await self._remove(pod)

    async def _delete(self, pod: Obj) -> None:
        """The taint manager's eviction from a node that is alive but not ready: a deletion like any."""
        md = pod["metadata"]
        patch = lifecycle.eviction_patch(pod, datetime.now(UTC))
        if patch is not None:
            await self._write_pod_status(pod, patch)
        await self.events.record(
            pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {md['namespace']}/{md['name']}"
        )
        try:
            going = await self.client.delete(_pod_path(pod))
        except NotFoundError:
            return
        # the answer is the pod, terminating on its node: no cached copy older than it is to be acted on
        if going.get("kind") == "Pod":
            self._expected[md["uid"]] = max(self._expected.get(md["uid"], 0), _revision(going))

    async def _finish_evictions(self, node: Obj) -> None:
        for pod in self._pods_on(node["metadata"]["name"]):
            if lifecycle.was_evicted(pod) and not self._awaiting(pod):
                await self._remove(pod)

    async def _remove(self, pod: Obj) -> None:
        with contextlib.suppress(NotFoundError):
            await self.client.delete(_pod_path(pod), grace_period_seconds=0)
        if self.pods.get(object_key(pod)) is not None:  # else the cache saw it go already
            self._expected[pod["metadata"]["uid"]] = GONE

    async def _write_pod_status(self, pod: Obj, patch: Obj) -> None:
        with contextlib.suppress(NotFoundError):
            written = await self.client.patch(f"{_pod_path(pod)}/status", patch, "strategic")
            if _revision(self.pods.get(object_key(pod)) or {}) < _revision(written):
                self._expected[pod["metadata"]["uid"]] = _revision(written)

    def _awaiting(self, pod: Obj) -> bool:
        """Whether the cache still lags behind this controller's last write to the pod."""
        return _revision(pod) < self._expected.get(pod["metadata"]["uid"], 0)


def _pod_path(pod: Obj) -> str:
    return resource_path("v1", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"])


def _revision(obj: Obj) -> int:
    rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return int(rv) if rv.isdigit() else 0


def _node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")
