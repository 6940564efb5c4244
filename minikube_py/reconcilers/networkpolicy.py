"""The network policy controller: resolves every NetworkPolicy's selectors to addresses for each node
and publishes the node's firewalls in its ConfigMap, ``kube-system/pykube-network-policy.<node>``,
which that node's proxy enforces (see :mod:`minikube_py.model.networkpolicy` for why it is done here,
once, rather than on every node).

The work queue holds node names. A policy's change concerns every node; a pod's, its own node (whose
isolated pods it may join or leave) and the nodes that already publish firewalls (it may be their
peer); a namespace's labels, those nodes too. Changes that alter nothing a policy reads (a pod's
status conditions, a container restart) queue nothing, and without policies nothing is compiled.
"""

from __future__ import annotations

import contextlib

from minikube_py.client.errors import AlreadyExistsError, NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj
from minikube_py.model.lenient import as_dict
from minikube_py.model.networkpolicy import (
    CONFIG_MAP_KEY,
    CONFIG_MAP_NAMESPACE,
    MANAGED_LABEL,
    PolicyPod,
    addressable,
    compile_firewalls,
    config_map_name,
    dump_firewalls,
)
from minikube_py.reconcilers.base import Controller

_CONFIG_MAPS = f"/api/v1/namespaces/{CONFIG_MAP_NAMESPACE}/configmaps"


class NetworkPolicyController(Controller):
    name = "network-policy-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.policies = self.informer("/apis/networking.k8s.io/v1/networkpolicies", self._on_policy)
        self.pods = self.informer("/api/v1/pods", self._on_pod)
        self.namespaces = self.informer("/api/v1/namespaces", self._on_namespace)
        self.published = self.informer(_CONFIG_MAPS, self._on_published, label_selector=MANAGED_LABEL)
        #: what policies see of every pod with an address, by pod key, kept from the pod events
        self._view: dict[str, PolicyPod] = {}

    def _publishing(self) -> set[str]:
        """The nodes whose ConfigMap holds firewalls now."""
        return {as_dict(cm["metadata"].get("labels")).get(MANAGED_LABEL, "") for cm in self.published.items()} - {""}

    def _queue(self, nodes: set[str]) -> None:
        for node in nodes:
            self.queue.add(node)

    def _on_policy(self, _old: Obj | None, _new: Obj | None) -> None:
        nodes = {pod.node for pod in self._view.values()}
        self._queue((nodes | self._publishing()) - {""})

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        key = object_key(obj)
        before, after = self._view.get(key), addressable(new)
        if before == after:
            return
        if after is None:
            del self._view[key]
        else:
            self._view[key] = after
        if not self.policies.cache and not self.published.cache:
            return
        self._queue({p.node for p in (before, after) if p is not None and p.node} | self._publishing())

    def _on_namespace(self, old: Obj | None, new: Obj | None) -> None:
        labels = [as_dict(as_dict((o or {}).get("metadata")).get("labels")) for o in (old, new)]
        if self.policies.cache and labels[0] != labels[1]:
            self._queue(self._publishing())

    def _on_published(self, old: Obj | None, new: Obj | None) -> None:
        """Someone else's edit or deletion of a node's ConfigMap is undone."""
        node = as_dict((new or old or {}).get("metadata", {}).get("labels")).get(MANAGED_LABEL)
        if node:
            self.queue.add(node)

    async def reconcile(self, key: object) -> None:
        node = str(key)
        firewalls = compile_firewalls(self.policies.items(), self._view.values(), self.namespaces.items(), node)
        name = config_map_name(node)
        path = f"{_CONFIG_MAPS}/{name}"
        current = self.published.get(f"{CONFIG_MAP_NAMESPACE}/{name}")
        if not firewalls:
            if current is not None:
                with contextlib.suppress(NotFoundError):
                    await self.client.delete(path)
            return
        text = dump_firewalls(firewalls)
        if current is not None and as_dict(current.get("data")).get(CONFIG_MAP_KEY) == text:
            return
        body: Obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": CONFIG_MAP_NAMESPACE, "labels": {MANAGED_LABEL: node}},
            "data": {CONFIG_MAP_KEY: text},
        }
        if current is None:
            try:
                await self.client.create(_CONFIG_MAPS, body)
                return
            except AlreadyExistsError:
                current = await self.client.get(path)  # the cache is behind our own earlier write
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await self.client.replace(path, body)
