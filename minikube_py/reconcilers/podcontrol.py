"""Kubernetes' PodControl for the controllers that create and delete their pods one at a time (Job,
DaemonSet): each write goes through the API, is noted in the owner's :class:`OwnWrites` so that the
next pass waits for the cache to show it, and is told as an event on the owner in the words
kube-controller-manager uses."""

from __future__ import annotations

from collections.abc import Iterable

from minikube_py.client.errors import ApiError, NotFoundError
from minikube_py.client.events import EventRecorder
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.reconcilers.base import OwnWrites


class PodControl:
    """Creates and deletes an owner's pods; ``writes`` groups them by the owner's uid."""

    def __init__(self, client: ApiClient, events: EventRecorder, writes: OwnWrites) -> None:
        self._client, self._events, self._writes = client, events, writes

    async def create(self, owner: Obj, pod: Obj) -> bool:
        """Create ``pod`` in the owner's namespace; False, with a FailedCreate event, when refused."""
        namespace = owner["metadata"]["namespace"]
        try:
            created = await self._client.create(resource_path("v1", "pods", namespace), pod)
        except ApiError as exc:
            await self._events.record(owner, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            return False
        self._writes.wrote(owner["metadata"]["uid"], created)
        await self._events.record(owner, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return True

    async def delete(self, owner: Obj, pods: Iterable[Obj]) -> int:
        """Delete ``pods``; how many deletions failed (a pod already gone is no failure)."""
        failures = 0
        for pod in pods:
            md = pod["metadata"]
            try:
                await self._client.delete(resource_path("v1", "pods", md["namespace"], md["name"]))
            except NotFoundError:
                continue
            except ApiError as exc:
                failures += 1
                await self._events.record(owner, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
                continue
            self._writes.deleted(owner["metadata"]["uid"], pod)
            await self._events.record(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {md['name']}")
        return failures
