"""The PVC and PV protection controllers: a claim being deleted keeps its
``kubernetes.io/pvc-protection`` finalizer until no pod uses it, a volume being deleted keeps
``kubernetes.io/pv-protection`` until it is no longer bound, so that deleting either never pulls
storage from under a running pod (the admission that adds the finalizers is the kinds' strategies').
"""

from __future__ import annotations

import contextlib
from typing import Any

from minikube_py.client.errors import NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model import storage
from minikube_py.model.volumebinding import pod_claim_names
from minikube_py.reconcilers.base import Controller

_CLAIM, _VOLUME = "claim", "volume"


class StorageProtectionController(Controller):
    name = "storage-protection-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.claims = self.informer("/api/v1/persistentvolumeclaims", lambda old, new: self._queue(_CLAIM, new))
        self.volumes = self.informer("/api/v1/persistentvolumes", lambda old, new: self._queue(_VOLUME, new))
        self.pods = self.informer("/api/v1/pods", self._on_pod)

    def _queue(self, kind: str, obj: Obj | None) -> None:
        if obj is not None and obj["metadata"].get("deletionTimestamp"):
            self.queue.add((kind, object_key(obj)))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        """A pod that finished or went may have held the last use of a terminating claim."""
        pod = new or old
        assert pod is not None
        namespace = pod["metadata"].get("namespace", "")
        for name in pod_claim_names(pod):
            self._queue(_CLAIM, self.claims.get(f"{namespace}/{name}"))

    async def reconcile(self, key: Any) -> None:
        kind, name = key
        if kind == _CLAIM:
            claim = self.claims.get(name)
            if claim is None:
                return
            if any(storage.uses_claim(pod, claim) for pod in self.pods.items()):
                return  # the pod's deletion event brings the claim back
            await self._release(
                claim,
                storage.PVC_PROTECTION,
                resource_path(
                    "v1", "persistentvolumeclaims", claim["metadata"]["namespace"], claim["metadata"]["name"]
                ),
            )
        else:
            volume = self.volumes.get(name)
            if volume is None or (volume.get("status") or {}).get("phase") == storage.BOUND:
                return
            await self._release(volume, storage.PV_PROTECTION, resource_path("v1", "persistentvolumes", name=name))

    async def _release(self, obj: Obj, finalizer: str, path: str) -> None:
        finalizers = storage.finalizers_without(obj, finalizer)
        if finalizers is None:
            return
        with contextlib.suppress(NotFoundError):
            await self.client.patch(
                path,
                {"metadata": {"finalizers": finalizers or None, "resourceVersion": obj["metadata"]["resourceVersion"]}},
            )
