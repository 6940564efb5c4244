"""The StatefulSet controller: pods with stable names and storage, in order, and their history.

Decisions come from :mod:`minikube_py.model.statefulsets` (which pods to create, delete and when)
and :mod:`minikube_py.model.history` (which ControllerRevision holds the current template). Each sync
first brings the history up to date, so every pod is created from a revision that exists, then
carries out the step: claims before the pod that mounts them, pod deletions by uid (a namesake
recreated meanwhile is never hit), then the status.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from minikube_py.client.errors import AlreadyExistsError, ApiError, NotFoundError
from minikube_py.client.events import EventRecorder
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.history import HASH_LABEL, plan_history, revision_hash, template_of
from minikube_py.model.podtemplate import controller_of
from minikube_py.model.replication import Expectations
from minikube_py.model.statefulsets import claims_for, new_pod, plan_statefulset, revision_of
from minikube_py.reconcilers.base import Controller
from minikube_py.reconcilers.history import HistoryKeeper
from minikube_py.reconcilers.job import deletion_settles, older_version


class StatefulSetController(Controller):
    name = "statefulset-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.sets = self.informer("/apis/apps/v1/statefulsets")
        self.pods = self.informer("/api/v1/pods")
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_pod)
        self.history = HistoryKeeper(self, "StatefulSet")
        self.expectations = Expectations()
        self.events = EventRecorder(client, "statefulset-controller")
        self._pods_of: dict[str, set[str]] = defaultdict(set)  # set uid -> pod keys
        #: the resourceVersion of the status this controller last wrote, per set uid
        self._written: dict[str, str] = {}

    # ------------------------------------------------------------------------------ handlers

    def _on_set(self, old: Obj | None, new: Obj | None) -> None:
        if new is None and old is not None:
            uid = old["metadata"].get("uid", "")
            self.expectations.forget(uid)
            self._pods_of.pop(uid, None)
            self._written.pop(uid, None)
            self.history.forget(uid)
        obj = new or old
        assert obj is not None
        self.queue.add(object_key(obj))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        pod = new or old
        assert pod is not None
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "StatefulSet":
            return
        key, owner = object_key(pod), ref.get("uid", "")
        if new is None:
            self._pods_of[owner].discard(key)
        else:
            self._pods_of[owner].add(key)
        if old is None:
            self.expectations.creation_observed(owner)
        elif deletion_settles(old, new):
            self.expectations.deletion_observed(owner, key)
        self.queue.add(f"{pod['metadata']['namespace']}/{ref['name']}")

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        sts = self.sets.get(str(key))
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        md = sts["metadata"]
        uid = md["uid"]
        if older_version(md.get("resourceVersion", ""), self._written.get(uid, "")):
            return  # the cache has not seen our last status write yet; its watch event brings the key back
        pods = [p for k in list(self._pods_of.get(uid, ())) if (p := self.pods.get(k)) is not None
                and (controller_of(p) or {}).get("uid") == uid]
        revisions = self.history.of(sts)
        status = sts.get("status") or {}
        in_use = {status.get("currentRevision"), *(revision_of(p) for p in pods)} - {None, ""}
        status_path = resource_path("apps/v1", "statefulsets", md["namespace"], md["name"], "status")
        update = await self.history.sync(
            sts, plan_history(sts, revisions, in_use=in_use, labels={HASH_LABEL: revision_hash(sts)}), status_path)
        by_name = {r["metadata"]["name"]: r for r in revisions}
        by_name[update["metadata"]["name"]] = update
        current = by_name.get(status.get("currentRevision") or "") or update
        step = plan_statefulset(sts, pods, current["metadata"]["name"], update["metadata"]["name"],
                                datetime.now(UTC), expectations_met=self.expectations.satisfied(uid))
        if step.create or step.delete:  # (replacing what is still expected would forget it)
            self.expectations.expect(uid, creates=len(step.create), deletes=[object_key(p) for p in step.delete])
        failures = await self._delete(sts, step.delete, step.release_claims)
        failures += await self._create(sts, step.create, by_name)
        await self._write_status(sts, step.status, status_path)
        if step.requeue_after is not None:
            self.queue.add_after(str(key), step.requeue_after + 0.05)
        if failures:
            raise RuntimeError(f"{failures} pod operation(s) for statefulset {key} failed")

    async def _create(self, sts: Obj, ordinals: list[tuple[int, str]], revisions: dict[str, Obj]) -> int:
        namespace = sts["metadata"]["namespace"]
        for done, (ordinal, revision) in enumerate(ordinals):
            pod = new_pod(sts, template_of(revisions[revision]), revision, ordinal)
            try:
                for claim in claims_for(sts, ordinal):
                    await self._create_claim(sts, claim)
                await self.client.create(resource_path("v1", "pods", namespace), pod)
            except ApiError as exc:
                self.expectations.creation_observed(sts["metadata"]["uid"], len(ordinals) - done)
                if isinstance(exc, AlreadyExistsError):
                    return 0  # a pod of that name still exists (not ours, or not yet in the cache)
                await self.events.record(sts, "Warning", "FailedCreate",
                                         f"create Pod {pod['metadata']['name']} in StatefulSet "
                                         f"{sts['metadata']['name']} failed error: {exc.message}")
                return len(ordinals) - done
            await self.events.record(sts, "Normal", "SuccessfulCreate",
                                     f"create Pod {pod['metadata']['name']} in StatefulSet "
                                     f"{sts['metadata']['name']} successful")
        return 0

    async def _create_claim(self, sts: Obj, claim: Obj) -> None:
        """Create a pod's claim unless it exists already: a claim outlives its pod, and the pod that
        comes back under the same name reattaches it."""
        md = claim["metadata"]
        try:
            await self.client.create(resource_path("v1", "persistentvolumeclaims", md["namespace"]), claim)
        except AlreadyExistsError:
            return
        except ApiError as exc:
            await self.events.record(sts, "Warning", "FailedCreate",
                                     f"create Claim {md['name']} for StatefulSet {sts['metadata']['name']} "
                                     f"failed error: {exc.message}")
            raise
        await self.events.record(sts, "Normal", "SuccessfulCreate",
                                 f"create Claim {md['name']} in StatefulSet {sts['metadata']['name']} success")

    async def _delete(self, sts: Obj, pods: list[Obj], release_claims: dict[str, list[str]]) -> int:
        failures = 0
        for pod in pods:
            md = pod["metadata"]
            try:
                for claim in release_claims.get(md["name"], ()):
                    await self._hand_claim_to(sts, pod, claim)
                await self.client.delete(resource_path("v1", "pods", md["namespace"], md["name"]), uid=md["uid"])
            except ApiError as exc:
                self.expectations.deletion_observed(sts["metadata"]["uid"], object_key(pod))
                if not isinstance(exc, NotFoundError):
                    failures += 1
                    await self.events.record(sts, "Warning", "FailedDelete",
                                             f"delete Pod {md['name']} in StatefulSet {sts['metadata']['name']} "
                                             f"failed error: {exc.message}")
                continue
            await self.events.record(sts, "Normal", "SuccessfulDelete",
                                     f"delete Pod {md['name']} in StatefulSet {sts['metadata']['name']} successful")
        return failures

    async def _hand_claim_to(self, sts: Obj, pod: Obj, claim: str) -> None:
        """Make the condemned pod the owner of its claim in place of the set (``whenScaled:
        Delete``): the garbage collector removes the claim once the pod is gone, which it would not
        while the set still owned it too."""
        md = pod["metadata"]
        path = resource_path("v1", "persistentvolumeclaims", md["namespace"], claim)
        try:
            current = await self.client.get(path)
        except NotFoundError:
            return
        owners = current["metadata"].get("ownerReferences") or []
        refs = [r for r in owners if r.get("uid") != sts["metadata"]["uid"]]
        if any(r.get("uid") == md["uid"] for r in refs) and len(refs) == len(owners):
            return
        refs = [r for r in refs if r.get("uid") != md["uid"]]
        ref = {"apiVersion": "v1", "kind": "Pod", "name": md["name"], "uid": md["uid"]}
        await self.client.patch(path, {"metadata": {"ownerReferences": [*refs, ref],
                                                    "resourceVersion": current["metadata"]["resourceVersion"]}},
                                "merge")

    async def _write_status(self, sts: Obj, status: Obj, path: str) -> None:
        if status == (sts.get("status") or {}):
            return
        written = await self.client.replace(path, {**sts, "status": status})
        self._written[sts["metadata"]["uid"]] = written["metadata"]["resourceVersion"]
