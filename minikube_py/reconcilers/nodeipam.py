"""Node IPAM: gives every node without one a pod subnet (spec.podCIDR), as kube-controller-manager's
range allocator. The agent waits for it before it creates its pod network.

Which subnets are taken lives in a :class:`~minikube_py.model.nodeipam.CidrSet` kept current by the
node informer's events: a node that shows a subnet occupies it, a deleted node releases it. So a
decision costs the same with ten nodes or ten thousand, and nothing ever scans the nodes.

When the cluster CIDR is full, a node is not an error to retry: as in Kubernetes it gets a
``CIDRNotAvailable`` event and (here) the condition NetworkUnavailable=True, and then waits, costing
nothing, however often it heartbeats. Only a released subnet (a node deleted) wakes waiting nodes,
oldest first and as many as subnets came free. Once a node has its subnet the condition turns False.
"""

from __future__ import annotations

import contextlib
import logging

from minikube_py.client.errors import ConflictError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model import nodeipam as ipam
from minikube_py.model.times import rfc3339
from minikube_py.reconcilers.base import Controller

log = logging.getLogger(__name__)

#: how soon to try again after a write refused for a stale resourceVersion (the cache catches up)
CONFLICT_RETRY = 0.1


def _now() -> str:
    return rfc3339()


class NodeIpamController(Controller):
    name = "nodeipam"
    event_source = "cidrAllocator"

    def __init__(
        self, client: ApiClient, cluster_cidr: str, node_cidr_mask_size: int = ipam.DEFAULT_NODE_CIDR_MASK_SIZE
    ) -> None:
        super().__init__(client)
        self.cidrs = ipam.CidrSet(cluster_cidr, node_cidr_mask_size)
        #: node -> the subnet the allocator holds for it: the one it shows, or one this controller
        #: picked and is still writing (kept across failed attempts, so a write that went through
        #: after all never leaves the node's subnet free for another)
        self._held: dict[str, str] = {}
        #: subnet -> nodes holding it; two nodes configured by hand with the same subnet keep it
        #: taken until both are gone
        self._holders: dict[str, set[str]] = {}
        #: nodes without a subnet because none was free, oldest first (a dict as an ordered set)
        self._waiting: dict[str, None] = {}
        #: waiting nodes woken for a released subnet and queued, not yet reconciled
        self._woken: set[str] = set()
        self.nodes = self.informer("/api/v1/nodes", self._on_change)

    # ------------------------------------------------------------------------------ bookkeeping

    def _on_change(self, old: Obj | None, new: Obj | None) -> None:
        """Keep the allocator in step with the nodes and queue only nodes with something to do:
        one without a subnet that is not known to be waiting, or one whose condition is to clear."""
        name = (new or old or {})["metadata"]["name"]
        if new is None:
            self._waiting.pop(name, None)
            self._woken.discard(name)
            self._drop(name)
            return
        shown = ipam.pod_cidr(new)
        if shown:
            if shown != self._held.get(name):
                self._drop(name)
                self._take(name, shown)
            self._waiting.pop(name, None)
            if ipam.marked_unavailable(new):
                self.queue.add(name)  # the condition is still to turn False
        elif name in self._woken or (name in self._waiting and ipam.marked_unavailable(new)):
            return  # a heartbeat of a node that waits for a subnet: nothing has changed for it
        else:
            self.queue.add(name)

    def _take(self, name: str, cidr: str) -> None:
        self._held[name] = cidr  # even one that is not ours: its next heartbeat is then no news
        try:
            self.cidrs.occupy(cidr)
        except ValueError as exc:
            # outside the cluster CIDR or unreadable: no address of ours to protect
            log.warning("nodeipam: node %s has pod CIDR %s: %s", name, cidr, exc)
            return
        self._holders.setdefault(cidr, set()).add(name)

    def _holds(self, name: str, cidr: str | None) -> bool:
        """Whether the allocator has ``cidr`` taken on the node's account."""
        return cidr is not None and name in self._holders.get(cidr, ())

    def _drop(self, name: str) -> None:
        """Forget the node's subnet; the last holder gone, it is free and a waiting node may have it."""
        cidr = self._held.pop(name, None)
        if cidr is None or not self._holds(name, cidr):
            return
        holders = self._holders[cidr]
        holders.discard(name)
        if holders:
            return
        del self._holders[cidr]
        self.cidrs.release(cidr)
        self._wake()

    def _wake(self) -> None:
        """Queue as many waiting nodes as there are free subnets not yet promised to woken ones."""
        room = self.cidrs.free - len(self._woken)
        while room > 0 and self._waiting:
            name = next(iter(self._waiting))
            del self._waiting[name]
            self._woken.add(name)
            self.queue.add(name)
            room -= 1

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        name = str(key)
        self._woken.discard(name)
        node = self.nodes.get(name)
        if node is None:
            self._wake()  # a woken node that went meanwhile leaves its subnet to the next
            return
        if ipam.pod_cidr(node):
            self._wake()
            await self._mark_available(node)
            return
        cidr = self._held.get(name)
        if not self._holds(name, cidr):
            cidr = self.cidrs.allocate()
            if cidr is None:
                await self._wait(node)
                return
            self._held[name] = cidr
            self._holders[cidr] = {name}
        assert cidr is not None
        patch = {
            "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        }
        try:
            updated = await self.client.patch(resource_path("v1", "nodes", name=name), patch)
        except ConflictError:
            self.queue.add_after(name, CONFLICT_RETRY)  # the cache is behind: look again once it caught up
            return
        except NotFoundError:
            self._drop(name)
            return
        # (any other failure keeps the subnet held for the retry: the write may have gone through)
        await self._mark_available(updated)

    async def _wait(self, node: Obj) -> None:
        """No subnet left: say so on the node, once, and wait for a release rather than retry."""
        name = node["metadata"]["name"]
        if name not in self._waiting:
            self._waiting[name] = None
            # Normal rather than Warning, as Kubernetes records every node status change (NodeNotReady too)
            self.events.emit(
                {**node, "apiVersion": "v1", "kind": "Node"},
                "Normal",
                ipam.CIDR_NOT_AVAILABLE,
                ipam.cidr_not_available_message(name),
            )
        patch = ipam.unavailable_patch(node, self.cidrs, _now())
        if patch is not None:
            await self._patch_status(name, patch)

    async def _mark_available(self, node: Obj) -> None:
        patch = ipam.available_patch(node, _now())
        if patch is not None:
            await self._patch_status(node["metadata"]["name"], patch)

    async def _patch_status(self, name: str, patch: Obj) -> None:
        with contextlib.suppress(NotFoundError):  # deleted meanwhile: its deletion event cleans up
            await self.client.patch(resource_path("v1", "nodes", name=name, subresource="status"), patch, "strategic")
