"""The PersistentVolume controller: binds claims to volumes, provisions local-path volumes, keeps
both kinds' phases and reclaims volumes whose claims are gone.

The decisions are :mod:`minikube_py.model.volumebinding`'s; this module carries them out through
the API, in Kubernetes' order (a volume's ``claimRef`` and phase first, then the claim's
``volumeName`` and phase), so that a crash between two writes leaves a state the next sync
finishes. Keys are ``("claim", "ns/name")`` and ``("volume", "name")``: any change of a volume or a
class may let a waiting claim bind, so those queue every unbound claim, and a claim's change
queues its volume.
"""

from __future__ import annotations

import contextlib
from typing import Any

from minikube_py.client.errors import AlreadyExistsError, NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model import storage
from minikube_py.model.volumebinding import (
    BOUND_BY_CONTROLLER,
    SELECTED_NODE,
    Event,
    bind_claim,
    bind_volume,
    claim_ref_key,
    claim_status,
    decide_claim,
    decide_volume,
    volume_status,
)
from minikube_py.reconcilers.base import Controller

_CLAIM, _VOLUME = "claim", "volume"


def _typed(obj: Obj, kind: str) -> Obj:
    """The object with its kind, for events about it (cached list items carry none)."""
    return {"apiVersion": "v1", "kind": kind, **obj}


def _claim_path(claim: Obj, subresource: str | None = None) -> str:
    md = claim["metadata"]
    return resource_path("v1", "persistentvolumeclaims", md["namespace"], md["name"], subresource)


def _volume_path(volume: Obj, subresource: str | None = None) -> str:
    return resource_path("v1", "persistentvolumes", name=volume["metadata"]["name"], subresource=subresource)


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder-controller"
    event_source = "persistentvolume-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.claims = self.informer("/api/v1/persistentvolumeclaims", self._on_claim)
        self.volumes = self.informer("/api/v1/persistentvolumes", self._on_volume)
        self.classes = self.informer(
            "/apis/storage.k8s.io/v1/storageclasses", lambda _old, _new: self._queue_unbound_claims()
        )
        self.nodes = self.informer("/api/v1/nodes", self._on_node)
        #: the events last recorded per object uid: a sync that decides the same again (every volume
        #: change re-syncs the waiting claims) does not write them again
        self._told: dict[str, list[Event]] = {}

    # ------------------------------------------------------------------------------ handlers

    def _on_claim(self, old: Obj | None, new: Obj | None) -> None:
        claim = new or old
        assert claim is not None
        if new is None:
            self._told.pop(claim["metadata"].get("uid", ""), None)
        key = object_key(claim)
        self.queue.add((_CLAIM, key))
        for volume in self.volumes.items():
            if claim_ref_key(volume) == key:
                self.queue.add((_VOLUME, volume["metadata"]["name"]))

    def _on_volume(self, old: Obj | None, new: Obj | None) -> None:
        volume = new or old
        assert volume is not None
        if new is not None:
            self.queue.add((_VOLUME, volume["metadata"]["name"]))
        else:
            self._told.pop(volume["metadata"].get("uid", ""), None)
        for obj in (old, new):
            key = claim_ref_key(obj) if obj is not None else None
            if key is not None:
                self.queue.add((_CLAIM, key))
        self._queue_unbound_claims()

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        """A claim waiting on its selected node (not yet known, or without a storage root) may go on."""
        node = new or old
        assert node is not None
        name = node["metadata"]["name"]
        for claim in self.claims.items():
            if (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE) == name and not (
                claim.get("spec") or {}
            ).get("volumeName"):
                self.queue.add((_CLAIM, object_key(claim)))

    def _queue_unbound_claims(self) -> None:
        for claim in self.claims.items():
            if (claim.get("status") or {}).get("phase") != storage.CLAIM_BOUND:
                self.queue.add((_CLAIM, object_key(claim)))

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: Any) -> None:
        kind, name = key
        if kind == _CLAIM:
            claim = self.claims.get(name)
            if claim is not None:
                await self._sync_claim(claim)
        else:
            volume = self.volumes.get(name)
            if volume is not None:
                await self._sync_volume(volume)

    def _by_name(self, objs: list[Obj]) -> dict[str, Obj]:
        return {obj["metadata"]["name"]: obj for obj in objs}

    async def _sync_claim(self, claim: Obj) -> None:
        if claim["metadata"].get("deletionTimestamp"):
            return
        decision = decide_claim(
            claim,
            self._by_name(self.volumes.items()),
            self._by_name(self.classes.items()),
            self._by_name(self.nodes.items()),
        )
        if decision.set_class is not None:
            # the claim's update event brings it back with its class
            await self.client.patch(_claim_path(claim), {"spec": {"storageClassName": decision.set_class}})
            return
        if decision.annotate:
            claim = await self.client.patch(_claim_path(claim), {"metadata": {"annotations": decision.annotate}})
        if decision.provision is not None:
            # AlreadyExists: made by an earlier sync; its watch event brings the claim back to bind
            with contextlib.suppress(AlreadyExistsError):
                await self.client.create("/api/v1/persistentvolumes", decision.provision)
        volume = decision.bind
        if volume is not None:
            claim, volume = await self._bind(claim, volume)
            if decision.grow is not None:
                volume = await self.client.replace(
                    _volume_path(volume),
                    {
                        **volume,
                        "spec": {
                            **volume["spec"],
                            "capacity": {**volume["spec"]["capacity"], "storage": decision.grow},
                        },
                    },
                )
        await self._claim_status(claim, claim_status(claim, decision.phase, volume))
        await self._record(claim, "PersistentVolumeClaim", decision.events)

    async def _bind(self, claim: Obj, volume: Obj) -> tuple[Obj, Obj]:
        """Both halves of a binding, the volume's first, each write skipped when already done."""
        bound = bind_volume(volume, claim)
        if bound is not None:
            volume = await self.client.replace(_volume_path(volume), bound)
        if (volume.get("status") or {}).get("phase") != storage.BOUND:
            volume = await self.client.replace(
                _volume_path(volume, "status"), {**volume, "status": volume_status(volume, storage.BOUND)}
            )
        claimed = bind_claim(claim, volume)
        if claimed is not None:
            claim = await self.client.replace(_claim_path(claim), claimed)
        return claim, volume

    async def _claim_status(self, claim: Obj, status: Obj) -> None:
        if status != (claim.get("status") or {}):
            try:
                await self.client.replace(_claim_path(claim, "status"), {**claim, "status": status})
            except NotFoundError:
                return

    async def _sync_volume(self, volume: Obj) -> None:
        key = claim_ref_key(volume)
        claim = self.claims.get(key) if key else None
        if claim is None and key and (volume["spec"].get("claimRef") or {}).get("uid"):
            claim = await self._fresh_claim(key)
        decision = decide_volume(volume, claim)
        if decision.unbind:
            unbound = {**volume, "spec": {k: v for k, v in volume["spec"].items() if k != "claimRef"}}
            annotations = dict(volume["metadata"].get("annotations") or {})
            annotations.pop(BOUND_BY_CONTROLLER, None)
            unbound["metadata"] = {**volume["metadata"], "annotations": annotations}
            volume = await self.client.replace(_volume_path(volume), unbound)
        status = volume_status(volume, decision.phase, decision.message)
        if status != (volume.get("status") or {}):
            try:
                await self.client.replace(_volume_path(volume, "status"), {**volume, "status": status})
            except NotFoundError:
                return
        await self._record(volume, "PersistentVolume", decision.events)

    async def _fresh_claim(self, key: str) -> Obj | None:
        """A claim the cache does not hold, asked of the API: a volume is released only when its
        claim is really gone, never because the claim's watch event is late."""
        namespace, _, name = key.partition("/")
        try:
            return await self.client.get(resource_path("v1", "persistentvolumeclaims", namespace, name))
        except NotFoundError:
            return None

    async def _record(self, obj: Obj, kind: str, events: list[Event]) -> None:
        uid = obj["metadata"].get("uid", "")
        if self._told.get(uid) == events:
            return
        self._told[uid] = events
        for event_type, reason, message in events:
            await self.events.record(_typed(obj, kind), event_type, reason, message)
