"""Namespace deletion: empty the namespace, then let it go.

Deleting a namespace only marks it Terminating (its ``spec.finalizers`` hold it). This controller
deletes every namespaced object inside, waits until they are really gone (pods may take their grace
period, other objects their finalizers), and then clears the finalizer through
``namespaces/<name>/finalize``, which completes the deletion. Custom resources count too: the kind
table this server serves includes the CustomResourceDefinitions' resources (one version of each is
enough, as every version reads the same objects).
"""

from __future__ import annotations

import contextlib

from minikube_py.client.errors import NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.kinds import stored_types
from minikube_py.reconcilers.base import Controller

#: how soon to look again while objects in a terminating namespace are still going away
RECHECK = 1.0


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.namespaces = self.informer("/api/v1/namespaces", self._on_change)

    def _on_change(self, _old: Obj | None, new: Obj | None) -> None:
        if new is not None and new["metadata"].get("deletionTimestamp"):
            self.queue.add(new["metadata"]["name"])

    async def reconcile(self, key: object) -> None:
        name = str(key)
        ns = self.namespaces.get(name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for rt in stored_types():
            if not rt.namespaced:
                continue
            path = resource_path(rt.api_version, rt.plural, namespace=name)
            listing = await self.client.list(path)
            if not listing.get("items"):
                continue
            left = await self.client.request("DELETE", path, body={"propagationPolicy": "Background"})
            remaining += sum(1 for item in left.get("items") or [] if item["metadata"].get("deletionTimestamp"))
        if remaining:
            self.queue.add_after(name, RECHECK)
            return
        if (ns.get("spec") or {}).get("finalizers"):
            with contextlib.suppress(NotFoundError):
                await self.client.replace(
                    f"/api/v1/namespaces/{name}/finalize",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {"finalizers": []}},
                )
