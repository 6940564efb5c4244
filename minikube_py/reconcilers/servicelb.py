"""ServiceLB: gives LoadBalancer Services the nodes' addresses as their ingress (see
:mod:`minikube_py.model.servicelb`), kept current as nodes come, go and change readiness."""

from __future__ import annotations

from minikube_py.client.errors import NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.servicelb import ingress_of, node_ingress, status_patch, wants_ingress
from minikube_py.reconcilers.base import Controller


class ServiceLbController(Controller):
    name = "servicelb"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.services = self.informer("/api/v1/services")
        self.nodes = self.informer("/api/v1/nodes")
        self.services.add_handler(self._on_service)
        self.nodes.add_handler(self._on_node)
        self._balanced: set[str] = set()  # LoadBalancer services (or ones that just stopped being one)
        self._by_node: dict[str, frozenset[str]] = {}  # node name -> its InternalIPs while Ready
        self._ingress: list[Obj] = []

    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is None:
            return
        key = object_key(obj)
        if new is not None and wants_ingress(new):
            self._balanced.add(key)
            self.queue.add(key)
        elif key in self._balanced:
            self._balanced.discard(key)
            if new is not None:
                self.queue.add(key)  # no longer a LoadBalancer: its ingress goes

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        """Status updates change nodes all the time; only a change of a node's contribution to the
        ingress costs more than a comparison, and only then are the services woken."""
        name = (new or old or {}).get("metadata", {}).get("name", "")
        contribution = node_ingress(new)
        if self._by_node.get(name, frozenset()) == contribution:
            return
        if contribution:
            self._by_node[name] = contribution
        else:
            self._by_node.pop(name, None)
        self._ingress = ingress_of(ip for ips in self._by_node.values() for ip in ips)
        for key in self._balanced:
            self.queue.add(key)

    async def reconcile(self, key: object) -> None:
        service = self.services.get(str(key))
        if service is None:
            return
        patch = status_patch(service, self._ingress)
        if patch is None:
            return
        md = service["metadata"]
        try:
            await self.client.patch(resource_path("v1", "services", md["namespace"], md["name"], "status"),
                                    patch, "merge")
        except NotFoundError:
            return
