"""ServiceLB: gives LoadBalancer Services, and the Ingresses pykube's own ingress controller serves,
the nodes' addresses as their ingress (see :mod:`minikube_py.model.servicelb`), kept current as nodes
come, go and change readiness. One writer for both: every node answers both on its own addresses."""

from __future__ import annotations

from typing import cast

from minikube_py.client.errors import NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.ingress import CONTROLLER, class_of
from minikube_py.model.servicelb import ingress_of, ingress_status_patch, node_ingress, status_patch, wants_ingress
from minikube_py.reconcilers.base import Controller

_SERVICES, _INGRESSES = "services", "ingresses"


class ServiceLbController(Controller):
    name = "servicelb"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.services = self.informer("/api/v1/services", self._on_service)
        self.nodes = self.informer("/api/v1/nodes", self._on_node)
        self.ingresses = self.informer("/apis/networking.k8s.io/v1/ingresses", self._on_ingress)
        self.classes = self.informer("/apis/networking.k8s.io/v1/ingressclasses", self._on_class)
        #: (kind, key) of the objects given an ingress (or that just stopped wanting one)
        self._balanced: set[tuple[str, str]] = set()
        self._by_node: dict[str, frozenset[str]] = {}  # node name -> its InternalIPs while Ready
        self._ingress: list[Obj] = []

    def _served(self, ingress: Obj) -> bool:
        """Whether pykube's ingress controller serves this Ingress (its class names the controller)."""
        name = class_of(ingress)
        klass = self.classes.get(name) if name else None
        return klass is not None and (klass.get("spec") or {}).get("controller") == CONTROLLER

    def _track(self, kind: str, old: Obj | None, new: Obj | None, wanted: bool) -> None:
        obj = new or old
        if obj is None:
            return
        key = (kind, object_key(obj))
        if new is not None and wanted:
            self._balanced.add(key)
            self.queue.add(key)
        elif key in self._balanced:
            self._balanced.discard(key)
            if new is not None:
                self.queue.add(key)  # no longer served: its ingress goes

    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        self._track(_SERVICES, old, new, new is not None and wants_ingress(new))

    def _on_ingress(self, old: Obj | None, new: Obj | None) -> None:
        self._track(_INGRESSES, old, new, new is not None and self._served(new))

    def _on_class(self, _old: Obj | None, _new: Obj | None) -> None:
        """A class that starts or stops naming pykube's controller changes which Ingresses are served."""
        for ingress in self.ingresses.items():
            self._on_ingress(ingress, ingress)

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        """Status updates change nodes all the time; only a change of a node's contribution to the
        ingress costs more than a comparison, and only then are the objects woken."""
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
        kind, name = cast(tuple[str, str], key)
        if kind == _SERVICES:
            obj = self.services.get(name)
            patch = status_patch(obj, self._ingress) if obj is not None else None
            api = "v1"
        else:
            obj = self.ingresses.get(name)
            patch = ingress_status_patch(obj, self._ingress, self._served(obj)) if obj is not None else None
            api = "networking.k8s.io/v1"
        if obj is None or patch is None:
            return
        md = obj["metadata"]
        try:
            await self.client.patch(resource_path(api, kind, md["namespace"], md["name"], "status"), patch, "merge")
        except NotFoundError:
            return
