"""The resource quota controller: keeps every ResourceQuota's ``status.hard`` (its spec's) and
``status.used`` (what its namespace's objects use) current.

Admission charges ``status.used`` as objects are created; this controller counts from scratch, which
is what gives usage back when objects are deleted or pods finish. It counts against the live
store, never a cache: it reads the quota first, then the objects, and writes the status on the
condition that the quota is unchanged, so a charge admission made in between (committed with its
object, which the count may have missed) makes the write fail with 409 and the count start over.
Quotas are recounted when one changes, when an object of their namespace that they count goes or
changes what it uses (the informers are the ones the garbage collector shares for every kind, so
watching them all costs nothing more, as Kubernetes' quota monitor watches every resource), and
every five minutes (kube-controller-manager's resync).
"""

from __future__ import annotations

from datetime import UTC, datetime

from minikube_py.client.errors import NotFoundError
from minikube_py.client.informer import Handler, object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model import quota
from minikube_py.model.kinds import RESOURCES, ResourceType, stored_types
from minikube_py.reconcilers.base import Controller

#: seconds between full recounts of a quota (kube-controller-manager's --resource-quota-sync-period)
RESYNC_SECONDS = 300.0


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.quotas = self.informer("/api/v1/resourcequotas", self._on_quota)
        for rt in RESOURCES:
            if rt.namespaced:
                path = resource_path(rt.api_version, rt.plural)
                self.informer(path, self._on_counted(rt), metadata_only=quota.counted_by_metadata(rt))

    def _on_quota(self, old: Obj | None, new: Obj | None) -> None:
        if new is not None and old is not None and new.get("spec") == old.get("spec"):
            return  # our own status write, or admission's charge: nothing to recount
        self.enqueue(old, new)

    def _on_counted(self, rt: ResourceType) -> Handler:
        """A handler that recounts the quotas counting an object when its usage changes or it goes."""

        def handler(old: Obj | None, new: Obj | None) -> None:
            if old is None:
                return  # admission charged the new object already
            namespace = old["metadata"].get("namespace")
            counting = [
                object_key(q)
                for q in self.quotas.items()
                if q["metadata"].get("namespace") == namespace
                and any(quota.governs(rt, name) for name in (q.get("spec") or {}).get("hard") or {})
            ]
            now = datetime.now(UTC)
            if not counting or (new is not None and quota.usage(rt, new, now) == quota.usage(rt, old, now)):
                return
            for key in counting:
                self.queue.add(key)

        return handler

    async def reconcile(self, key: object) -> None:
        namespace, name = str(key).split("/", 1)
        try:
            live = await self.client.get(resource_path("v1", "resourcequotas", namespace, name))
        except NotFoundError:
            return
        objects = []
        for rt in quota.kinds_counted(live, stored_types()):  # custom resources' count/<plural>.<group> too
            listing = await self.client.list(resource_path(rt.api_version, rt.plural, namespace))
            objects.append((rt, listing.get("items") or []))
        status = quota.quota_status(live, quota.used(live, objects, datetime.now(UTC)))
        if status != (live.get("status") or {}):
            await self.client.replace(
                resource_path("v1", "resourcequotas", namespace, name, "status"), {**live, "status": status}
            )
        self.queue.add_after(str(key), RESYNC_SECONDS)
