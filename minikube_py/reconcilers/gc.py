"""Garbage collection through ownerReferences: background, foreground and orphan propagation.

- Background: an object all of whose owners are gone is deleted (an owner missing from the caches is
  confirmed absent with a live GET first, so a dependent created right after its owner is safe).
- Foreground: an owner marked with the ``foregroundDeletion`` finalizer has its dependents deleted,
  and keeps the finalizer until no dependent with ``blockOwnerDeletion`` remains.
- Orphan: an owner marked with the ``orphan`` finalizer has its reference removed from every
  dependent, then the finalizer is dropped.

Custom resources are owners and dependents too: the collector follows the CustomResourceDefinitions
and keeps a cache of each one's objects while it is served (operators make built-in objects owned
by their custom ones, and expect them gone with their owner).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable
from functools import partial
from typing import Any

from minikube_py.client.errors import NotFoundError
from minikube_py.client.informer import Informer, object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model import crds
from minikube_py.model.kinds import RESOURCES, ResourceType, by_kind
from minikube_py.reconcilers.base import Controller

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

#: an object's identity in the queue and indexes: (index in the collector's types, cache key)
Ref = tuple[int, str]
DEFINITIONS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class GarbageCollector(Controller):
    name = "garbage-collector"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        #: the types whose objects are cached, the built-in ones first; a custom type is appended
        #: when its CRD appears, and its index is never reused
        self._types: list[ResourceType] = list(RESOURCES)
        self._caches: list[Informer] = []
        self._by_uid: dict[str, Ref] = {}
        self._dependents: dict[str, set[Ref]] = defaultdict(set)
        for index, rt in enumerate(RESOURCES):
            informer = self.informer(resource_path(rt.api_version, rt.plural), metadata_only=True)
            informer.add_handler(partial(self._on_change, index))
            self._caches.append(informer)
        self._followed: dict[str, asyncio.Task[None]] = {}  # CRD name -> its objects' informer
        self.informer(DEFINITIONS).add_handler(self._on_definition)

    async def run_workers(self) -> None:
        try:
            await super().run_workers()
        finally:
            for task in self._followed.values():
                task.cancel()
            self._followed.clear()

    def _on_definition(self, _old: Obj | None, new: Obj | None) -> None:
        """Cache a new CRD's objects (one served version: every version reads the same objects);
        stop when the CRD is gone, by then its objects are too."""
        if new is None:
            task = self._followed.pop((_old or {}).get("metadata", {}).get("name", ""), None)
            if task is not None:
                task.cancel()
            return
        name = new["metadata"]["name"]
        served = crds.resource_types(new)
        if name in self._followed or not served:
            return
        rt = served[0]
        index = len(self._types)
        informer = Informer(self.client, resource_path(rt.api_version, rt.plural), metadata_only=True)
        informer.add_handler(partial(self._on_change, index))
        self._types.append(rt)
        self._caches.append(informer)
        self._followed[name] = asyncio.create_task(informer.run(), name=f"informer {informer.path}")

    # ------------------------------------------------------------------------------ indexing

    def _on_change(self, index: int, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        ref: Ref = (index, object_key(obj))
        uid = obj["metadata"].get("uid", "")
        old_owners = _owner_uids(old)
        new_owners = _owner_uids(new)
        for owner in old_owners - new_owners:
            self._dependents[owner].discard(ref)
        for owner in new_owners - old_owners:
            self._dependents[owner].add(ref)
        if new is None:
            self._by_uid.pop(uid, None)
            for dependent in self._dependents.get(uid, ()):
                self.queue.add(("dependent", dependent))
            for owner in old_owners:  # a foreground owner may be waiting for this one
                if owner in self._by_uid:
                    self.queue.add(("owner", self._by_uid[owner]))
            return
        self._by_uid[uid] = ref
        if new_owners and (old is None or new_owners != old_owners):
            self.queue.add(("dependent", ref))
        finalizers = new["metadata"].get("finalizers") or []
        if new["metadata"].get("deletionTimestamp") and (ORPHAN in finalizers or FOREGROUND in finalizers):
            self.queue.add(("owner", ref))
            for dependent in self._dependents.get(uid, ()):
                self.queue.add(("dependent", dependent))

    def _lookup(self, ref: Ref) -> tuple[ResourceType, Obj | None]:
        index, key = ref
        return self._types[index], self._caches[index].get(key)

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        role, ref = key  # type: ignore[misc]
        if role == "owner":
            await self._finish_owner(ref)
        else:
            await self._check_dependent(ref)

    async def _check_dependent(self, ref: Ref) -> None:
        rt, obj = self._lookup(ref)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = obj["metadata"].get("ownerReferences") or []
        absent, foreground = [], False
        for owner_ref in refs:
            owner = await self._owner(obj, owner_ref)
            if owner is None:
                absent.append(owner_ref)
            elif owner["metadata"].get("deletionTimestamp") and FOREGROUND in (
                owner["metadata"].get("finalizers") or []
            ):
                foreground = True
        path = _path(rt, obj)
        try:
            if refs and len(absent) == len(refs):
                await self.client.delete(path, propagation_policy="Background")
            elif foreground:
                await self.client.delete(path, propagation_policy="Foreground")
            elif absent:
                remaining = [r for r in refs if r not in absent]
                await self._patch_metadata(rt, obj, ownerReferences=remaining)
        except NotFoundError:
            pass

    async def _owner(self, dependent: Obj, owner_ref: Obj) -> Obj | None:
        """The live owner, or None when it is gone (or replaced by a namesake with another uid)."""
        uid = owner_ref.get("uid")
        if uid in self._by_uid:
            _, owner = self._lookup(self._by_uid[uid])
            if owner is not None:
                return owner
        rt = by_kind(owner_ref.get("apiVersion", ""), owner_ref.get("kind", ""))
        if rt is None:
            return {"metadata": {"uid": uid}}  # a kind pykube does not serve: never collect on its account
        namespace = dependent["metadata"].get("namespace") if rt.namespaced else None
        try:
            owner = await self.client.get(resource_path(rt.api_version, rt.plural, namespace, owner_ref["name"]))
        except NotFoundError:
            return None
        return owner if owner["metadata"].get("uid") == uid else None

    async def _finish_owner(self, ref: Ref) -> None:
        rt, owner = self._lookup(ref)
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        uid = owner["metadata"]["uid"]
        finalizers = list(owner["metadata"].get("finalizers") or [])
        dependents = [self._lookup(d) for d in sorted(self._dependents.get(uid, ()))]
        if ORPHAN in finalizers:
            for dep_rt, dep in dependents:
                if dep is None:
                    continue
                kept = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                await self._ignore_gone(self._patch_metadata(dep_rt, dep, ownerReferences=kept or None))
            finalizers.remove(ORPHAN)
        elif FOREGROUND in finalizers:
            blocking = False
            for dep_rt, dep in dependents:
                if dep is None:
                    continue
                if not dep["metadata"].get("deletionTimestamp"):
                    await self._ignore_gone(self.client.delete(_path(dep_rt, dep), propagation_policy="Foreground"))
                blocking = blocking or any(
                    r.get("uid") == uid and r.get("blockOwnerDeletion")
                    for r in dep["metadata"].get("ownerReferences") or []
                )
            if blocking:
                return  # the dependents' deletion events bring this owner back
            finalizers.remove(FOREGROUND)
        else:
            return
        await self._ignore_gone(self._patch_metadata(rt, owner, finalizers=finalizers or None))

    def _patch_metadata(self, rt: ResourceType, obj: Obj, **fields: Any) -> Awaitable[Obj]:
        """A merge patch of ``obj``'s metadata that applies only to the version this pass read: a
        newer one answers 409, and the key is reconciled again with what changed."""
        metadata = {**fields, "resourceVersion": obj["metadata"]["resourceVersion"]}
        return self.client.patch(_path(rt, obj), {"metadata": metadata})

    @staticmethod
    async def _ignore_gone(call: Awaitable[Obj]) -> None:
        """A dependent or owner that vanished meanwhile needs nothing more; any other failure
        (a 409 from a concurrent change included) re-queues the key."""
        with contextlib.suppress(NotFoundError):
            await call


def _owner_uids(obj: Obj | None) -> set[str]:
    if obj is None:
        return set()
    return {r["uid"] for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid")}


def _path(rt: ResourceType, obj: Obj) -> str:
    md = obj["metadata"]
    return resource_path(rt.api_version, rt.plural, md.get("namespace") if rt.namespaced else None, md["name"])
