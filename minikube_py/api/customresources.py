"""The resource types CustomResourceDefinitions define, served as the CRDs come and go.

The built-in kinds are a static table; custom ones are added to it at run time
(:func:`minikube_py.model.kinds.serve`) from a watch of the stored CRDs, so routing, discovery, the
registry and the table printer find them like any other kind. A server starting up rebuilds them
from the stored CRDs before it answers, so custom objects are served again after a restart.

A CRD write is answered once this follower has it (:meth:`CustomResourceTypes.caught_up`), so a
client that created a CRD can use its resource on the next request. A deleted CRD is held by its
cleanup finalizer while its objects are deleted (each waiting for its own finalizers, as an operator
may hold them); the finalizer is then removed, which deletes the CRD and stops serving the resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Callable

from minikube_py.api.follower import PrefixFollower
from minikube_py.api.registry import DeleteOptions, Registry
from minikube_py.guard import cancel_and_wait
from minikube_py.model import crds, errors, kinds
from minikube_py.store.base import Event, Obj

log = logging.getLogger(__name__)

DEFINITIONS = kinds.by_plural(crds.GROUP, "v1", "customresourcedefinitions")
#: how long a CRD write waits for this follower before it is answered anyway (it is committed)
CATCH_UP_TIMEOUT = 5.0
#: how often a terminating CRD's cleanup looks again at objects still held by their finalizers
CLEANUP_RECHECK = 0.5


class CustomResourceTypes:
    """Keeps the kind table's custom resource types in step with the stored CRDs, and deletes the
    objects of the CRDs being deleted."""

    def __init__(self, registry: Registry) -> None:
        assert DEFINITIONS is not None
        self._registry = registry
        self._store = registry.store
        self._follower = PrefixFollower(
            self._store,
            DEFINITIONS.prefix(),
            what="custom resource types",
            load=self._load,
            apply=self._apply,
            catch_up_timeout=CATCH_UP_TIMEOUT,
        )
        self._cleanups: dict[str, asyncio.Task[None]] = {}
        #: told whenever the served types may have changed (the aggregator's Local APIServices follow)
        self.changed: Callable[[], None] | None = None

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()
        for task in list(self._cleanups.values()):
            await cancel_and_wait(task)
        self._cleanups.clear()
        for crd in kinds.served_definitions():
            kinds.withdraw(crd)

    async def caught_up(self, obj: Obj) -> None:
        """Until the served types reflect a CRD this server just wrote (or deleted)."""
        await self._follower.caught_up(obj)

    async def _load(self) -> int:
        assert DEFINITIONS is not None
        listing = await self._store.list(DEFINITIONS.prefix())
        stored = {obj["metadata"]["name"] for obj in listing.items}
        for crd in kinds.served_definitions() - stored:
            kinds.withdraw(crd)
        for obj in listing.items:
            self._put(obj)
        self._tell()
        return listing.revision

    def _apply(self, event: Event) -> None:
        if event.type == "DELETED":
            kinds.withdraw(event.value["metadata"]["name"])
        else:
            self._put(event.value)
        self._tell()

    def _tell(self) -> None:
        if self.changed is not None:
            self.changed()

    def _put(self, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        kinds.serve(name, crds.resource_types(obj))
        held = crds.terminating(obj) and crds.CLEANUP_FINALIZER in (obj["metadata"].get("finalizers") or ())
        if held and (name not in self._cleanups or self._cleanups[name].done()):
            self._cleanups[name] = asyncio.create_task(self._clean_up(name), name=f"crd-cleanup-{name}")

    async def _clean_up(self, name: str) -> None:
        """Delete every object of a terminating CRD, then release the CRD itself."""
        assert DEFINITIONS is not None
        try:
            while True:
                rt = next((r for r in kinds.custom_types() if r.custom is not None and r.custom.crd == name), None)
                if rt is None:
                    break  # never established: no object of it could be created
                page = await self._registry.list(rt, None)
                if not page.items:
                    break
                for obj in page.items:
                    md = obj["metadata"]
                    if md.get("deletionTimestamp"):
                        continue
                    with contextlib.suppress(errors.StatusError):
                        await self._registry.delete(rt, md.get("namespace"), md["name"], DeleteOptions())
                await asyncio.sleep(CLEANUP_RECHECK)
            crd = await self._registry.get(DEFINITIONS, None, name)
            released = copy.deepcopy(crd)
            released["metadata"]["finalizers"] = [
                f for f in crd["metadata"].get("finalizers") or () if f != crds.CLEANUP_FINALIZER
            ]
            del released["metadata"]["resourceVersion"]  # unconditional: a concurrent write is read again
            await self._registry.update(DEFINITIONS, None, name, released)
        except errors.StatusError as exc:
            if exc.code != 404:
                log.warning("cleaning up the objects of CustomResourceDefinition %s failed: %s", name, exc)
