"""The EndpointSlice controller: every Service with a selector gets ``discovery.k8s.io/v1``
EndpointSlices (``<service>-<random>``, owned by the Service, so garbage collection removes them with
it) listing its pods with their ready/serving/terminating conditions; ``kubectl describe svc`` reads
its Endpoints line from them.

Slices have generated names, so a sync acting on a cache that has not yet shown its previous
creates would create them again. Like Kubernetes' ``EndpointSliceTracker``, the controller remembers
the slices it wrote (name and resourceVersion) or deleted, and does not sync a Service again until the
informer shows them all (:class:`~minikube_py.reconcilers.base.OwnWrites`); the informer's event for the
last one wakes it. A write the cache never shows (the slice was deleted meanwhile, say) stops blocking
after :data:`EXPECTATION_TIMEOUT`.

Only slices labelled as managed by this controller are watched and touched: the ``kubernetes``
Service's slice, and slices of other managers, are not its business.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

from minikube_py.client.errors import ApiError, ConflictError, NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.endpoints import (
    LAST_CHANGE_TRIGGER_TIME,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    SLICE_CONTROLLER,
    plan_slices,
    selects_pods,
)
from minikube_py.reconcilers.base import OwnWrites, index_discard
from minikube_py.reconcilers.endpoints import CONFLICT_RETRY, ServicePodController, namespace_terminating

API_VERSION = "discovery.k8s.io/v1"
#: seconds a written slice may take to show in the cache before the Service is synced regardless
EXPECTATION_TIMEOUT = 10.0


class EndpointSliceController(ServicePodController):
    name = "endpointslice-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.slices = self.informer(
            resource_path(API_VERSION, "endpointslices"), label_selector=f"{MANAGED_BY_LABEL}={SLICE_CONTROLLER}"
        )
        self.slices.add_handler(self._on_slice)
        #: service key -> keys of the managed slices labelled with its name
        self._by_service: dict[str, set[str]] = defaultdict(set)
        #: the slices each Service's last sync wrote or deleted, by service key
        self.slice_writes = OwnWrites(self.slices, timeout=EXPECTATION_TIMEOUT)

    @staticmethod
    def _service_key(slice_: Obj) -> str | None:
        name = (slice_["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
        return f"{slice_['metadata']['namespace']}/{name}" if name else None

    def _on_slice(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        key = object_key(obj)
        old_service = self._service_key(old) if old is not None else None
        new_service = self._service_key(new) if new is not None else None
        if old_service is not None and old_service != new_service:
            index_discard(self._by_service, old_service, key)
        if new_service is not None:
            self._by_service[new_service].add(key)
        for service_key in {old_service, new_service} - {None}:
            self.queue.add(service_key)

    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        super()._on_service(old, new)
        if new is None and old is not None:
            self.slice_writes.forget(object_key(old))

    async def reconcile(self, key: object) -> None:
        key = str(key)
        service = self.services.get(key)
        if service is None or not selects_pods(service):
            return  # owned slices go with their Service through garbage collection
        namespace = service["metadata"]["namespace"]
        wait = self.slice_writes.pending(key)
        if wait:
            self.queue.add_after(key, wait)  # (the event of the last write to show comes first)
            return
        pods = self.selected_pods(service)
        trigger_time = self.tracker.compute(key, service, pods)
        existing = [
            s
            for k in self._by_service.get(key, ())
            if (s := self.slices.get(k)) is not None and not s["metadata"].get("deletionTimestamp")
        ]
        plan = plan_slices({**service, "apiVersion": "v1", "kind": "Service"}, pods, existing)
        if not plan:
            return
        collection = resource_path(API_VERSION, "endpointslices", namespace)
        try:
            for slice_ in plan.create:
                self.slice_writes.wrote(key, await self.client.create(collection, _stamped(slice_, trigger_time)))
            for slice_ in plan.update:
                self.slice_writes.wrote(
                    key,
                    await self.client.replace(
                        f"{collection}/{slice_['metadata']['name']}", _stamped(slice_, trigger_time)
                    ),
                )
            for slice_ in plan.delete:
                with contextlib.suppress(NotFoundError):
                    await self.client.delete(f"{collection}/{slice_['metadata']['name']}")
                self.slice_writes.deleted(key, slice_)
        except ConflictError:
            self.tracker.forget(key)  # the change is still to be dated by the write that lands
            self.queue.add_after(key, CONFLICT_RETRY)  # the cache is behind; its events bring the key back
        except ApiError as exc:
            self.tracker.forget(key)
            if not namespace_terminating(exc):
                raise


def _stamped(slice_: Obj, trigger_time: str | None) -> Obj:
    """The slice with the trigger time of the change it carries (or without one, when none is known)."""
    annotations = {
        k: v for k, v in (slice_["metadata"].get("annotations") or {}).items() if k != LAST_CHANGE_TRIGGER_TIME
    }
    if trigger_time is not None:
        annotations[LAST_CHANGE_TRIGGER_TIME] = trigger_time
    return {
        **slice_,
        "apiVersion": API_VERSION,
        "kind": "EndpointSlice",
        "metadata": {**slice_["metadata"], "annotations": annotations},
    }
