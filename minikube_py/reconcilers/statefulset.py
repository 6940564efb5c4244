"""The StatefulSet controller: pods with stable names and storage, in order, and their history.

Decisions come from :mod:`minikube_py.model.statefulsets` (which pods to create, delete and when)
and :mod:`minikube_py.model.history` (which ControllerRevision holds the current template). Each sync
first brings the history up to date, so every pod is created from a revision that exists, then
carries out the step: claims before the pod that mounts them, pod deletions by uid (a namesake
recreated meanwhile is never hit), then the status.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from minikube_py.client.errors import AlreadyExistsError, ApiError, ConflictError, NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.history import HASH_LABEL, revision_hash, template_of
from minikube_py.model.podtemplate import controller_ref
from minikube_py.model.replication import claim_pods, newly_adoptable
from minikube_py.model.selectors import label_selector_from_spec
from minikube_py.model.statefulsets import (
    claim_names,
    claim_owners,
    claims_for,
    finished,
    members,
    new_pod,
    ordinal_of,
    plan_statefulset,
    pod_name,
    revision_of,
)
from minikube_py.reconcilers.base import Controller, OwnWrites, StatusWrites
from minikube_py.reconcilers.history import HistoryKeeper
from minikube_py.reconcilers.replication import patch_pod_refs


class StatefulSetController(Controller):
    name = "statefulset-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.sets = self.informer("/apis/apps/v1/statefulsets", self.enqueue)
        #: the pods each set controls and the pods no one controls, which a set may adopt
        self.pods, self._pods_of = self.controlled("/api/v1/pods", "StatefulSet", orphans=True)
        self.pods.add_handler(self._on_pod)
        self.claims = self.informer("/api/v1/persistentvolumeclaims")
        self.history = HistoryKeeper(self, "StatefulSet")
        #: the pods each set's last pass created and deleted (by uid), and its status writes (by key)
        self.pod_writes, self.status_writes = OwnWrites(self.pods, owners=self.sets), StatusWrites(self.sets, client)

    # ------------------------------------------------------------------------------ handlers

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        if new is not None and newly_adoptable(old, new):
            self._wake_adopters(new)

    def _wake_adopters(self, orphan: Obj) -> None:
        """Queue the set of the orphan's namespace whose ordinal it is named as, if any."""
        name = orphan["metadata"]["name"].rpartition("-")[0]
        key = f"{orphan['metadata']['namespace']}/{name}"
        sts = self.sets.get(key) if name else None
        if sts is not None and members(sts, [orphan]):
            self.queue.add(key)

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        sts = self.sets.get(str(key))
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        md = sts["metadata"]
        uid = md["uid"]
        if self.status_writes.pending(str(key)):
            return  # the cache has not seen our last status write yet; its watch event brings the key back
        pods = await self._claim_pods(sts)
        status = sts.get("status") or {}
        in_use = {status.get("currentRevision"), *(revision_of(p) for p in pods)} - {None, ""}
        status_path = resource_path("apps/v1", "statefulsets", md["namespace"], md["name"], "status")
        update, revisions = await self.history.update(
            sts, in_use=in_use, labels={HASH_LABEL: revision_hash(sts)}, status_path=status_path
        )
        by_name = {r["metadata"]["name"]: r for r in revisions}
        by_name[update["metadata"]["name"]] = update
        current = by_name.get(status.get("currentRevision") or "") or update
        step = plan_statefulset(
            sts,
            pods,
            current["metadata"]["name"],
            update["metadata"]["name"],
            datetime.now(UTC),
            expectations_met=not self.pod_writes.pending(uid),
        )
        await self._settle_claim_owners(sts, pods)
        failures = await self._delete(sts, step.delete)
        failures += await self._create(sts, step.create, by_name)
        await self._restore_claims(sts, step.pending)
        await self.status_writes.replace(sts, step.status)
        if step.requeue_after is not None:
            self.queue.add_after(str(key), step.requeue_after + 0.05)
        if failures:
            raise RuntimeError(f"{failures} pod operation(s) for statefulset {key} failed")

    async def _claim_pods(self, sts: Obj) -> list[Obj]:
        """The set's pods: those it controls and still selects, plus the orphans it adopts (pods named
        as its ordinals whose labels it selects); pods it no longer selects are released. Adoption and
        release are conditional on the pod's resourceVersion; a pod that changed meanwhile is looked
        at again on its own event."""
        md = sts["metadata"]
        candidates = [
            p
            for k in (*self._pods_of[object_key(sts)], *self._pods_of.orphans(md["namespace"]))
            if (p := self.pods.get(k)) is not None
        ]
        selector = label_selector_from_spec((sts.get("spec") or {}).get("selector"))  # (validated on write)
        claim = claim_pods(md["uid"], selector, members(sts, candidates), owner_deleting=False)
        pods = list(claim.owned)
        for pod in claim.adopt:
            with contextlib.suppress(NotFoundError, ConflictError):
                pods.append(
                    await patch_pod_refs(
                        self.client, pod, [*(pod["metadata"].get("ownerReferences") or []), controller_ref(sts)]
                    )
                )
        for pod in claim.release:
            with contextlib.suppress(NotFoundError, ConflictError):
                await patch_pod_refs(
                    self.client,
                    pod,
                    [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("uid") != md["uid"]],
                )
        return pods

    async def _create(self, sts: Obj, ordinals: list[tuple[int, str]], revisions: dict[str, Obj]) -> int:
        namespace = sts["metadata"]["namespace"]
        for done, (ordinal, revision) in enumerate(ordinals):
            pod = new_pod(sts, template_of(revisions[revision]), revision, ordinal)
            try:
                for claim in claims_for(sts, ordinal):
                    await self._create_claim(sts, pod, claim)
                created = await self.client.create(resource_path("v1", "pods", namespace), pod)
            except ApiError as exc:
                if isinstance(exc, AlreadyExistsError):
                    return 0  # a pod of that name still exists (not ours, or not yet in the cache)
                await self._pod_event(sts, "create", pod, exc)
                return len(ordinals) - done
            self.pod_writes.wrote(sts["metadata"]["uid"], created)
            await self._pod_event(sts, "create", pod)
        return 0

    async def _pod_event(self, sts: Obj, verb: str, pod: Obj, error: ApiError | None = None) -> None:
        """kube-controller-manager's event for a write of a set's pod: ``create Pod web-0 in
        StatefulSet web successful``, or a warning that ends ``failed error: <why>``."""
        subject = f"{verb} Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']}"
        if error is None:
            await self.events.record(sts, "Normal", f"Successful{verb.capitalize()}", f"{subject} successful")
        else:
            message = f"{subject} failed error: {error.message}"
            await self.events.record(sts, "Warning", f"Failed{verb.capitalize()}", message)

    async def _restore_claims(self, sts: Obj, ordinals: list[int]) -> None:
        """Make the claims of pending pods that are missing (deleted by someone): without them the
        pods would wait forever."""
        for ordinal in ordinals:
            pod = {"metadata": {"name": pod_name(sts, ordinal)}}
            for claim in claims_for(sts, ordinal):
                if self.claims.get(f"{claim['metadata']['namespace']}/{claim['metadata']['name']}") is None:
                    await self._create_claim(sts, pod, claim)

    async def _create_claim(self, sts: Obj, pod: Obj, claim: Obj) -> None:
        """Create a pod's claim unless it exists already: a claim outlives its pod, and the pod that
        comes back under the same name reattaches it."""
        md = claim["metadata"]
        what = f"Claim {md['name']} Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']}"
        await self.recorded(
            sts,
            "Create",
            self.client.create(resource_path("v1", "persistentvolumeclaims", md["namespace"]), claim),
            settled=AlreadyExistsError,
            done=f"create {what} success",
            failed=f"create {what} failed error: ",
        )

    async def _delete(self, sts: Obj, pods: list[Obj]) -> int:
        failures = 0
        for pod in pods:
            md = pod["metadata"]
            if finished(pod):
                await self.events.record(
                    sts,
                    "Warning",
                    "RecreatingFailedPod",
                    f"StatefulSet {md['namespace']}/{sts['metadata']['name']} is recreating failed Pod {md['name']}",
                )
            try:
                await self.client.delete(resource_path("v1", "pods", md["namespace"], md["name"]), uid=md["uid"])
            except ApiError as exc:
                if not isinstance(exc, NotFoundError):
                    failures += 1
                    await self._pod_event(sts, "delete", pod, exc)
                continue
            self.pod_writes.deleted(sts["metadata"]["uid"], pod)
            await self._pod_event(sts, "delete", pod)
        return failures

    async def _settle_claim_owners(self, sts: Obj, pods: list[Obj]) -> None:
        """Give each pod's claims the owners the retention policy asks for (:func:`claim_owners`),
        before any pod is deleted: a pod scaled away under ``whenScaled: Delete`` must own its claim
        by the time it goes. Each patch is conditional on the claim's resourceVersion; one that
        changed meanwhile is settled by a later sync."""
        for pod in pods:
            ordinal = ordinal_of(sts, pod)
            for name in claim_names(sts, ordinal) if ordinal is not None else ():
                claim = self.claims.get(f"{pod['metadata']['namespace']}/{name}")
                if claim is None or claim["metadata"].get("deletionTimestamp"):
                    continue
                refs = claim_owners(sts, pod, claim)
                if refs is None:
                    continue
                cmd = claim["metadata"]
                with contextlib.suppress(NotFoundError, ConflictError):
                    await self.client.patch(
                        resource_path("v1", "persistentvolumeclaims", cmd["namespace"], cmd["name"]),
                        {"metadata": {"ownerReferences": refs or None, "resourceVersion": cmd["resourceVersion"]}},
                    )
