"""ControllerRevisions kept for their owners (StatefulSets and DaemonSets): the index of each owner's
revisions and the writes that carry out a :class:`~minikube_py.model.history.HistoryStep`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from minikube_py.client.errors import AlreadyExistsError, ConflictError, NotFoundError
from minikube_py.client.rest import Obj, resource_path
from minikube_py.model.history import HistoryStep, plan_history
from minikube_py.model.podtemplate import controller_of, controller_ref
from minikube_py.model.selectors import label_selector_from_spec
from minikube_py.reconcilers.base import Controller, OwnedIndex

REVISIONS = "/apis/apps/v1/controllerrevisions"


class RevisionCollision(Exception):
    """A revision's name is held by an object that is not this owner's revision of that template;
    the owner's ``status.collisionCount`` was bumped so the next sync picks another name."""


class HistoryKeeper:
    """The ControllerRevision side shared by the StatefulSet and DaemonSet controllers: an index of
    each owner's revisions from the shared informer, and the writes a :class:`HistoryStep` asks for."""

    def __init__(self, controller: Controller, owner_kind: str) -> None:
        self.client = controller.client
        #: the keys of each owner's revisions, and of the revisions no one controls
        self._of = OwnedIndex(owner_kind, controller.queue, orphans=True)
        self.revisions = controller.informer(REVISIONS, self._of.note)

    def of(self, owner: Obj) -> list[Obj]:
        return self._of.controlled(owner, self.revisions)

    async def claim(self, owner: Obj) -> list[Obj]:
        """The owner's revisions, after adopting the orphans its selector matches (those of a
        namesake deleted with ``--cascade=orphan``), as Kubernetes' ``ClaimControllerRevisions``
        does: the history goes on, and the pods' revision labels keep naming revisions of the
        owner. Adoption is conditional on the revision's resourceVersion."""
        own = self.of(owner)
        md = owner["metadata"]
        try:
            selector = label_selector_from_spec((owner.get("spec") or {}).get("selector"))
        except ValueError:
            return own
        for key in self._of.orphans(md["namespace"]):
            revision = self.revisions.get(key)
            if (
                revision is None
                or controller_of(revision) is not None
                or not selector.matches(revision["metadata"].get("labels"))
            ):
                continue
            rmd = revision["metadata"]
            refs = [*(rmd.get("ownerReferences") or []), controller_ref(owner)]
            with contextlib.suppress(NotFoundError, ConflictError):
                own.append(
                    await self.client.patch(
                        resource_path("apps/v1", "controllerrevisions", rmd["namespace"], rmd["name"]),
                        {"metadata": {"ownerReferences": refs, "resourceVersion": rmd["resourceVersion"]}},
                    )
                )
        return own

    async def update(
        self, owner: Obj, *, in_use: Iterable[str], labels: dict[str, str], status_path: str
    ) -> tuple[Obj, list[Obj]]:
        """Bring the owner's history up to date for its current template (:func:`plan_history`, with
        ``in_use`` and ``labels`` as it takes them); returns the current template's revision and
        every revision of the owner as it stood before (for the templates of older ones)."""
        revisions = await self.claim(owner)
        step = plan_history(owner, revisions, in_use=in_use, labels=labels)
        current = await self._sync(owner, revisions, step, status_path)
        return current, revisions

    async def _sync(self, owner: Obj, revisions: list[Obj], step: HistoryStep, status_path: str) -> Obj:
        md = owner["metadata"]
        namespace = md["namespace"]
        current = next((r for r in revisions if r["metadata"]["name"] == step.update), None)
        if step.create is not None:
            current = await self._create(owner, step.create, status_path)
        elif step.renumber is not None and current is not None:
            current = await self.client.patch(
                resource_path("apps/v1", "controllerrevisions", namespace, step.update),
                {"revision": step.renumber},
                "merge",
            )
        for name in step.delete:
            with contextlib.suppress(NotFoundError):
                await self.client.delete(resource_path("apps/v1", "controllerrevisions", namespace, name))
        assert current is not None
        return current

    async def _create(self, owner: Obj, revision: Obj, status_path: str) -> Obj:
        namespace = owner["metadata"]["namespace"]
        try:
            return await self.client.create(resource_path("apps/v1", "controllerrevisions", namespace), revision)
        except AlreadyExistsError:
            existing = await self.client.get(
                resource_path("apps/v1", "controllerrevisions", namespace, revision["metadata"]["name"])
            )
        if (controller_of(existing) or {}).get("uid") == owner["metadata"]["uid"] and existing.get("data") == revision[
            "data"
        ]:
            return existing  # ours, not yet in the cache
        status = dict(owner.get("status") or {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        await self.client.replace(status_path, {**owner, "status": status})
        raise RevisionCollision(f"revision name {revision['metadata']['name']} is taken")
