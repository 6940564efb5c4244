"""The Endpoints controller: every Service with a selector gets an Endpoints object of its name
listing the selected pods' addresses (what :mod:`minikube_py.model.endpoints` computes).

:class:`ServicePodController` is shared with the EndpointSlice controller: both keep Services and pods
in informers and must react within a second of a pod's readiness changing, without looking at every
Service on every pod event. So pods are indexed by namespace, selecting Services by namespace, and a
pod event wakes only the Services of its namespace whose selector matches the pod before or after the
change, and only when something the endpoints depend on changed.

Endpoints carry no owner reference in Kubernetes, so deleting a Service deletes its Endpoints here;
and at start-up every Endpoints is checked once, to remove those whose Service went while the
controller was not running. Endpoints of Services without a selector (the ``kubernetes`` Service's,
or any a user maintains) are never written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

from minikube_py.client.errors import ApiError, ConflictError, NotFoundError
from minikube_py.client.informer import Informer, object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.endpoints import (
    TriggerTimeTracker,
    endpoints_to_write,
    pod_relevant_state,
    selects_pods,
    service_matches,
)
from minikube_py.reconcilers.base import Controller, index_discard

#: Endpoints used as a leader-election lock by other tools: they have no Service and must stay
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
#: seconds before a write refused for a stale resourceVersion is tried again without any event
CONFLICT_RETRY = 0.5


def namespace_terminating(exc: ApiError) -> bool:
    """A namespace on its way out refuses new objects; nothing there needs endpoints any more."""
    return any(c.get("reason") == "NamespaceTerminating" for c in exc.details.get("causes") or ())


class ServicePodController(Controller):
    """Services and the pods they select, with pod events mapped to the Services they concern."""

    workers = 4

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.services = self.informer("/api/v1/services", self._on_service)
        self.pods = self.informer("/api/v1/pods", self._on_pod)
        self.tracker = TriggerTimeTracker()
        #: namespace -> keys of the Services there whose endpoints are managed
        self._services_by_ns: dict[str, set[str]] = defaultdict(set)
        #: namespace -> keys of its pods
        self._pods_by_ns: dict[str, set[str]] = defaultdict(set)

    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        key, namespace = object_key(obj), obj["metadata"]["namespace"]
        if new is not None and selects_pods(new):
            self._services_by_ns[namespace].add(key)
        else:
            index_discard(self._services_by_ns, namespace, key)
        if new is None:
            self.tracker.forget(key)
        self.queue.add(key)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        pod = new or old
        assert pod is not None
        key, namespace = object_key(pod), pod["metadata"]["namespace"]
        if new is None:
            index_discard(self._pods_by_ns, namespace, key)
        else:
            self._pods_by_ns[namespace].add(key)
        if old is not None and new is not None and pod_relevant_state(old) == pod_relevant_state(new):
            return
        for service_key in self._services_by_ns.get(namespace, ()):
            service = self.services.get(service_key)
            if service is None:
                continue
            if any(p is not None and service_matches(service, p["metadata"].get("labels")) for p in (old, new)):
                self.queue.add(service_key)

    def selected_pods(self, service: Obj) -> list[Obj]:
        found = []
        for key in self._pods_by_ns.get(service["metadata"]["namespace"], ()):
            pod = self.pods.get(key)
            if pod is not None and service_matches(service, pod["metadata"].get("labels")):
                found.append(pod)
        return found


class EndpointsController(ServicePodController):
    name = "endpoint-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.endpoints: Informer = self.informer("/api/v1/endpoints", self._on_endpoints)

    def _on_endpoints(self, old: Obj | None, new: Obj | None) -> None:
        """Endpoints of a managed Service changed or deleted behind the controller's back are put
        right at once; an event for its own write finds nothing to do (and ends a wait for a
        stale cache, after a conflict)."""
        obj = new or old
        assert obj is not None
        key = object_key(obj)
        service = self.services.get(key)
        if service is not None and selects_pods(service):
            self.queue.add(key)

    async def run_workers(self) -> None:
        await asyncio.gather(*(i.synced.wait() for i in self.informers))
        for ep in self.endpoints.items():
            if LEADER_ANNOTATION not in (ep["metadata"].get("annotations") or {}):
                self.queue.add(object_key(ep))
        await super().run_workers()

    async def reconcile(self, key: object) -> None:
        key = str(key)
        namespace, _, name = key.partition("/")
        path = resource_path("v1", "endpoints", namespace, name)
        service = self.services.get(key)
        if service is None:
            with contextlib.suppress(NotFoundError):
                await self.client.delete(path)
            return
        if not selects_pods(service):
            return
        pods = self.selected_pods(service)
        trigger_time = self.tracker.compute(key, service, pods)
        current = self.endpoints.get(key)
        desired = endpoints_to_write(service, pods, current, trigger_time)
        if desired is None:
            return
        try:
            if current is None:
                await self.client.create(resource_path("v1", "endpoints", namespace), desired)
            else:
                await self.client.replace(path, desired)
        except ConflictError:
            # The cache is behind (our own last write, or a namesake created meanwhile): its event
            # brings the key back; the timer is a safety net should that event be lost. The change
            # this write carried is still to be dated by the one that lands.
            self.tracker.forget(key)
            self.queue.add_after(key, CONFLICT_RETRY)
        except ApiError as exc:
            self.tracker.forget(key)
            if not namespace_terminating(exc):
                raise
