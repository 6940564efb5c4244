"""The networking.k8s.io kinds: Ingresses, whose status the ingress status controller writes through
``/status``, the IngressClasses that say which controller serves them, and NetworkPolicies."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.api.tables import network as printers
from minikube_py.model import ingress
from minikube_py.model.kinds import by_plural
from minikube_py.store.base import Obj

_CLASSES = by_plural("networking.k8s.io", "v1", "ingressclasses")
assert _CLASSES is not None


class IngressStrategy(Strategy):
    def reset_status(self, obj: Obj) -> None:
        obj["status"] = {"loadBalancer": {}}

    async def mutate(self, obj: Obj, old: Obj | None, allocators: Allocators) -> None:
        """The DefaultIngressClass admission plugin: a new Ingress that names no class (neither the
        field nor the older annotation) gets the cluster's default one, if there is one."""
        if old is None and ingress.class_of(obj) is None:
            listing = await allocators.store.list(_CLASSES.prefix())
            default = ingress.default_class(listing.items)
            if default is not None:
                obj.setdefault("spec", {})["ingressClassName"] = default["metadata"]["name"]


INGRESS = IngressStrategy("Ingress", printer=printers.INGRESS, merge_rules=mergekeys.METADATA_ONLY, shape=shape.INGRESS)
INGRESS_CLASS = Strategy("IngressClass", printer=printers.INGRESS_CLASS, merge_rules=mergekeys.METADATA_ONLY)
NETWORK_POLICY = Strategy(
    "NetworkPolicy", printer=printers.NETWORK_POLICY, merge_rules=mergekeys.METADATA_ONLY, shape=shape.NETWORK_POLICY
)
