"""Node IPAM: gives every node without one a pod subnet (spec.podCIDR), as kube-controller-manager's
range allocator. The agent waits for it before it creates its pod network."""

from __future__ import annotations

from minikube_py.client.errors import ConflictError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.nodeipam import next_pod_cidr
from minikube_py.reconcilers.base import Controller


class NodeIpamController(Controller):
    name = "nodeipam"

    def __init__(self, client: ApiClient, cluster_cidr: str) -> None:
        super().__init__(client)
        self.cluster_cidr = cluster_cidr
        self.nodes = self.informer("/api/v1/nodes")
        self.nodes.add_handler(self._on_change)

    def _on_change(self, _old: Obj | None, new: Obj | None) -> None:
        if new is not None and not (new.get("spec") or {}).get("podCIDR"):
            self.queue.add(new["metadata"]["name"])

    async def reconcile(self, key: object) -> None:
        node = self.nodes.get(str(key))
        if node is None or (node.get("spec") or {}).get("podCIDR"):
            return
        taken = [(n.get("spec") or {}).get("podCIDR", "") for n in self.nodes.items()]
        cidr = next_pod_cidr(self.cluster_cidr, taken)
        if cidr is None:
            raise RuntimeError(f"no pod subnet left in {self.cluster_cidr} for node {key}")
        patch = {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                 "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}
        try:
            updated = await self.client.patch(resource_path("v1", "nodes", name=str(key)), patch)
        except (ConflictError, NotFoundError):
            self.queue.add_after(str(key), 0.1)  # the cache is behind: look again once it caught up
            return
        # the next node must see this allocation even before the watch event arrives
        self.nodes.cache[str(key)] = updated
