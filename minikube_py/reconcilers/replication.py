"""The ReplicationController and ReplicaSet controller: keep ``spec.replicas`` pods running.

One implementation serves both kinds (:data:`REPLICATION_CONTROLLERS`, :data:`REPLICA_SETS`); they
differ only in where they live and how their selector is written (a plain label map for the v1
ReplicationController, a ``LabelSelector`` for the apps/v1 ReplicaSet). Every decision is a pure
function of :mod:`minikube_py.model.replication`; this module only indexes the caches, calls those
functions and writes their answers.

Pods are indexed as the informer reports them: by the uid of their controlling owner of this kind,
and (for orphans, the only other pods an owner may claim) by namespace, so a sync looks at its own
pods and its namespace's orphans, never at every pod.

Overshooting is prevented by expectations (:class:`~minikube_py.reconcilers.base.OwnWrites`): a sync
that creates or deletes pods records each one, and the owner is not scaled again until the informer has
shown them all (or five minutes passed). A user resizing in the middle only changes ``spec.replicas``; the next sync after the
informer caught up scales to the latest value. Two controller instances (before leader election
settles, say) may each create a gap's worth of pods, but the surplus is then removed by both picking
the same pods (the deletion order is total), so they converge on exactly ``replicas``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from minikube_py.client.errors import ApiError, ConflictError, NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.kinds import ResourceType, by_kind
from minikube_py.model.podtemplate import controller_of, controller_ref, pod_from_template
from minikube_py.model.replication import (
    BURST_REPLICAS,
    Claim,
    claim_pods,
    is_active,
    newly_adoptable,
    next_available_in,
    pods_to_delete,
    replica_diff,
    replica_status,
    slow_start_batches,
)
from minikube_py.model.selectors import LabelSelector, label_selector_from_spec
from minikube_py.reconcilers.base import Controller, OwnWrites, index_discard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplicaKind:
    """What tells the two owner kinds apart."""

    resource: ResourceType
    #: the owner's pod selector, from its spec
    selector: Callable[[Obj], LabelSelector]
    #: controller name, also the component its events come from
    component: str


def _map_selector(owner: Obj) -> LabelSelector:
    """A ReplicationController's ``selector`` is a label map; an empty one selects nothing here
    (defaulting fills it from the template, validation rejects it otherwise)."""
    labels = (owner.get("spec") or {}).get("selector")
    return label_selector_from_spec({"matchLabels": labels} if labels else None)


def _label_selector(owner: Obj) -> LabelSelector:
    return label_selector_from_spec((owner.get("spec") or {}).get("selector"))


def _resource(api_version: str, kind: str) -> ResourceType:
    rt = by_kind(api_version, kind)
    assert rt is not None, kind
    return rt


REPLICATION_CONTROLLERS = ReplicaKind(_resource("v1", "ReplicationController"), _map_selector, "replication-controller")
REPLICA_SETS = ReplicaKind(_resource("apps/v1", "ReplicaSet"), _label_selector, "replicaset-controller")


async def patch_pod_refs(client: ApiClient, pod: Obj, refs: list[Obj]) -> Obj:
    """Set a pod's ownerReferences (adopting or releasing it), on condition that the pod is still the
    version the caller decided on: a pod relabelled or adopted meanwhile answers 409."""
    md = pod["metadata"]
    return await client.patch(
        resource_path("v1", "pods", md["namespace"], md["name"]),
        {"metadata": {"ownerReferences": refs or None, "resourceVersion": md["resourceVersion"]}},
    )


class ReplicaFailure(Exception):
    """A sync's creates or deletes failed; the owner's status says so and the key is retried."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _now() -> datetime:
    return datetime.now(UTC)


class ReplicaController(Controller):
    workers = 5

    def __init__(self, client: ApiClient, kind: ReplicaKind, *, burst: int = BURST_REPLICAS) -> None:
        self.name = kind.component  # before the base class names the work queue after it
        super().__init__(client)
        self.kind = kind
        self.burst = burst
        rt = kind.resource
        self.owners = self.informer(resource_path(rt.api_version, rt.plural), self._on_owner)
        self.pods = self.informer("/api/v1/pods", self._on_pod)
        #: the pods each owner's last sync created and deleted, by owner uid
        self.pod_writes = OwnWrites(self.pods, owners=self.owners)
        #: owner uid -> owner cache key
        self._owner_keys: dict[str, str] = {}
        #: namespace -> owner cache keys, to find who may adopt an orphan
        self._owners_by_ns: dict[str, set[str]] = defaultdict(set)
        #: owner uid -> keys of the pods it controls
        self._owned: dict[str, set[str]] = defaultdict(set)
        #: namespace -> keys of pods without a controller
        self._orphans: dict[str, set[str]] = defaultdict(set)

    # ------------------------------------------------------------------------------ indexing

    def _on_owner(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        key, md = object_key(obj), obj["metadata"]
        if new is None:
            self._owner_keys.pop(md["uid"], None)
            index_discard(self._owners_by_ns, md["namespace"], key)
            return
        if old is not None and old["metadata"]["uid"] != md["uid"]:  # replaced by a namesake between watches
            self._owner_keys.pop(old["metadata"]["uid"], None)
        self._owner_keys[md["uid"]] = key
        self._owners_by_ns[md["namespace"]].add(key)
        self.queue.add(key)

    def _controller_uid(self, pod: Obj | None) -> str | None:
        """The uid of the pod's controller when it is of this controller's kind."""
        ref = controller_of(pod, self.kind.resource.kind)
        if ref is None:
            return None
        if ref.get("apiVersion", "").rpartition("/")[0] != self.kind.resource.group:
            return None
        return str(ref.get("uid", ""))

    def _index(self, pod: Obj, key: str, add: bool) -> None:
        uid = self._controller_uid(pod)
        if uid is not None:
            bucket, index = uid, self._owned
        elif controller_of(pod) is None:
            bucket, index = pod["metadata"]["namespace"], self._orphans
        else:
            return  # another kind's pod: never ours to claim
        if add:
            index[bucket].add(key)
        else:
            index_discard(index, bucket, key)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        pod = new or old
        assert pod is not None
        key = object_key(pod)
        if old is not None:
            self._index(old, key, add=False)
        if new is not None:
            self._index(new, key, add=True)
        uids = {uid for uid in (self._controller_uid(old), self._controller_uid(new)) if uid is not None}
        for uid in uids:
            owner_key = self._owner_keys.get(uid)
            if owner_key is not None:
                self.queue.add(owner_key)
        if new is not None and newly_adoptable(old, new):
            self._enqueue_matching(new)

    def _enqueue_matching(self, orphan: Obj) -> None:
        """Wake every owner in the orphan's namespace whose selector matches it (they may adopt it)."""
        labels = orphan["metadata"].get("labels")
        for owner_key in self._owners_by_ns.get(orphan["metadata"]["namespace"], ()):
            owner = self.owners.get(owner_key)
            if owner is not None and self._selects(owner, labels):
                self.queue.add(owner_key)

    def _selects(self, owner: Obj, labels: dict[str, str] | None) -> bool:
        try:
            return self.kind.selector(owner).matches(labels)
        except ValueError:
            return False

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        cached = self.owners.get(str(key))
        if cached is None:
            return
        rt = self.kind.resource
        owner = {**cached, "apiVersion": rt.api_version, "kind": rt.kind}  # list items may lack them
        md = owner["metadata"]
        uid, namespace = md["uid"], md["namespace"]
        try:
            selector = self.kind.selector(owner)
        except ValueError as exc:
            log.warning("%s: %s has an invalid selector: %s", self.name, key, exc)
            return
        needs_sync = not self.pod_writes.pending(uid)
        candidates = [
            p
            for k in (*self._owned.get(uid, ()), *self._orphans.get(namespace, ()))
            if (p := self.pods.get(k)) is not None
        ]
        deleting = bool(md.get("deletionTimestamp"))
        claim = claim_pods(uid, selector, candidates, owner_deleting=deleting)
        owned = claim.owned + await self._adopt(owner, claim)
        await self._release(owner, claim.release)
        active = [p for p in owned if is_active(p)]
        failure: ReplicaFailure | None = None
        if needs_sync and not deleting:
            try:
                await self._scale(owner, active)
            except ReplicaFailure as exc:
                failure = exc
        now = _now()
        await self._write_status(owner, replica_status(owner, active, now, failure and (failure.reason, str(failure))))
        if failure is not None:
            raise failure
        wait = next_available_in(active, int((owner.get("spec") or {}).get("minReadySeconds") or 0), now)
        if wait is not None:
            self.queue.add_after(key, wait + 0.05)

    async def _adopt(self, owner: Obj, claim: Claim) -> list[Obj]:
        """Put a controller reference on each orphan the claim picked, with a resourceVersion
        precondition so a pod another controller adopted (or relabelled) meanwhile is left alone.
        The owner is re-read first: one being deleted, or replaced by a namesake, adopts nothing."""
        if not claim.adopt:
            return []
        md = owner["metadata"]
        rt = self.kind.resource
        try:
            fresh = await self.client.get(resource_path(rt.api_version, rt.plural, md["namespace"], md["name"]))
        except NotFoundError:
            return []
        if fresh["metadata"].get("uid") != md["uid"] or fresh["metadata"].get("deletionTimestamp"):
            return []
        adopted = []
        for pod in claim.adopt:
            refs = [*(pod["metadata"].get("ownerReferences") or []), controller_ref(owner)]
            with contextlib.suppress(NotFoundError, ConflictError):  # the pod's next event brings us back
                adopted.append(await self._patch_refs(pod, refs))
        return adopted

    async def _release(self, owner: Obj, pods: list[Obj]) -> None:
        uid = owner["metadata"]["uid"]
        for pod in pods:
            refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            with contextlib.suppress(NotFoundError, ConflictError):
                await self._patch_refs(pod, refs)

    async def _patch_refs(self, pod: Obj, refs: list[Obj]) -> Obj:
        return await patch_pod_refs(self.client, pod, refs)

    async def _scale(self, owner: Obj, active: list[Obj]) -> None:
        diff = replica_diff(len(active), int((owner.get("spec") or {}).get("replicas", 1)), self.burst)
        if diff > 0:
            await self._create(owner, diff)
        elif diff < 0:
            await self._delete(owner, pods_to_delete(active, -diff))

    async def _create(self, owner: Obj, count: int) -> None:
        pod = pod_from_template(owner, (owner.get("spec") or {}).get("template") or {})
        path = resource_path("v1", "pods", owner["metadata"]["namespace"])
        for batch in slow_start_batches(count):
            results = await asyncio.gather(
                *(self._create_one(owner, path, pod) for _ in range(batch)), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            for error in errors:
                if not isinstance(error, ApiError):
                    raise error
            if errors:
                raise ReplicaFailure("FailedCreate", str(errors[0]))

    async def _create_one(self, owner: Obj, path: str, pod: Obj) -> None:
        """Create one pod; a namespace on its way out refuses pods, which is no failure
        (nothing there needs replicas any more), as Kubernetes treats it."""
        try:
            made = await self.client.create(path, pod)
        except ApiError as exc:
            if any(c.get("reason") == "NamespaceTerminating" for c in exc.details.get("causes") or ()):
                return
            await self.events.record(owner, "Warning", "FailedCreate", f"Error creating: {exc}")
            raise
        self.pod_writes.wrote(owner["metadata"]["uid"], made)
        await self.events.record(owner, "Normal", "SuccessfulCreate", f"Created pod: {made['metadata']['name']}")

    async def _delete(self, owner: Obj, victims: list[Obj]) -> None:
        results = await asyncio.gather(*(self._delete_one(owner, p) for p in victims), return_exceptions=True)
        errors = []
        for pod, result in zip(victims, results, strict=True):
            if not isinstance(result, BaseException):
                self.pod_writes.deleted(owner["metadata"]["uid"], pod)
            else:
                if not isinstance(result, ApiError):
                    raise result
                if not isinstance(result, NotFoundError):
                    errors.append(result)
        if errors:
            raise ReplicaFailure("FailedDelete", str(errors[0]))

    async def _delete_one(self, owner: Obj, pod: Obj) -> None:
        md = pod["metadata"]
        try:
            await self.client.delete(resource_path("v1", "pods", md["namespace"], md["name"]))
        except ApiError as exc:
            if not isinstance(exc, NotFoundError):  # already gone is what we wanted
                await self.events.record(owner, "Warning", "FailedDelete", f"Error deleting: {exc}")
            raise
        await self.events.record(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {md['name']}")

    async def _write_status(self, owner: Obj, status: Obj) -> None:
        """Only a changed status is written, through the status subresource and conditional on the
        cached resourceVersion; a conflict means a newer owner is on its way through the informer,
        whose event brings this key back."""
        if status == (owner.get("status") or {}):
            return
        md = owner["metadata"]
        rt = self.kind.resource
        with contextlib.suppress(ConflictError, NotFoundError):
            await self.client.replace(
                resource_path(rt.api_version, rt.plural, md["namespace"], md["name"], "status"),
                {**owner, "status": status},
            )
