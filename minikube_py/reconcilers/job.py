"""The Job controller: runs a Job's pods to completion, counts them, and finishes the Job.

Decisions come from :mod:`minikube_py.model.jobs`; this module carries them out in the order that
keeps counting exact: delete and create pods, write the status that names newly finished pods,
remove their ``batch.kubernetes.io/job-tracking`` finalizers, then write the counted status and the
terminal condition. A finished Job with ``ttlSecondsAfterFinished`` is deleted (foreground, so its
pods go first) once that time has passed, which Kubernetes leaves to its TTL-after-finished
controller.
"""

from __future__ import annotations

import contextlib
import copy
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from minikube_py.client.errors import NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.jobs import (
    COMPLETE,
    TRACKING_FINALIZER,
    JobStep,
    finished_at,
    has_tracking_finalizer,
    is_finished,
    plan_job,
    settle_job,
)
from minikube_py.model.podtemplate import controller_key, controller_of, pod_from_template
from minikube_py.reconcilers.base import Controller, OwnWrites, StatusWrites
from minikube_py.reconcilers.podcontrol import PodControl


class JobController(Controller):
    name = "job-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.jobs = self.informer("/apis/batch/v1/jobs", self.enqueue)
        self.pods, self._pods_of = self.controlled("/api/v1/pods", "Job")
        self.pods.add_handler(self._on_pod)
        #: the pods each Job's last pass created and deleted (by Job uid), and its status writes (by key)
        self.pod_writes, self.status_writes = OwnWrites(self.pods, owners=self.jobs), StatusWrites(self.jobs, client)
        self.pod_control = PodControl(client, self.events, self.pod_writes)
        #: UIDs whose tracking finalizer was removed, until the cache shows it gone (per job key)
        self._released: dict[str, set[str]] = defaultdict(set)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        """Once a pod shows its tracking finalizer gone, its release no longer needs remembering."""
        owner = controller_key(new, "Job")
        if owner is not None and new is not None and not has_tracking_finalizer(new):
            self._released[owner].discard(new["metadata"].get("uid", ""))

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        key = str(key)
        job = self.jobs.get(key)
        pods = [p for k in self._pods_of[key] if (p := self.pods.get(k)) is not None]
        owner_uid = job["metadata"]["uid"] if job else None
        mine = [p for p in pods if (controller_of(p) or {}).get("uid") == owner_uid]
        for orphan in pods:
            if (controller_of(orphan) or {}).get("uid") != owner_uid and has_tracking_finalizer(orphan):
                await self._release(key, orphan)  # its Job is gone: nothing will count it any more
        if job is None:
            self._released.pop(key, None)
            return
        if self.status_writes.pending(key):
            return  # the cache has not seen our last status write yet; its watch event brings the key back
        if is_finished(job):
            await self._expire(job)
            return
        uid = job["metadata"]["uid"]
        now = datetime.now(UTC)
        step = plan_job(
            job,
            mine,
            now,
            released=frozenset(self._released.get(key, ())),
            expectations_met=not self.pod_writes.pending(uid),
        )
        failures = await self.pod_control.delete(job, step.delete) + await self._create(job, step)
        for event_type, reason, message in step.events:
            await self.events.record(job, event_type, reason, message)
        job = await self.status_writes.replace(job, step.status)
        for pod in step.release:
            await self._release(key, pod)
        with_finalizer = {p["metadata"]["uid"] for p in mine if has_tracking_finalizer(p)} - self._released[key]
        settled = copy.deepcopy(job.get("status") or {})
        finished = settle_job(settled, with_finalizer, step.final, step.terminating, now)
        job = await self.status_writes.replace(job, settled)
        if finished and step.final is not None:
            if step.final["type"] == COMPLETE:
                await self.events.record(job, "Normal", "Completed", "Job completed")
            else:
                await self.events.record(job, "Warning", step.final["reason"], step.final["message"])
            await self._expire(job)
        if step.requeue_after is not None:
            self.queue.add_after(key, step.requeue_after + 0.05)
        if failures:
            raise RuntimeError(f"{failures} pod operation(s) for job {key} failed")

    async def _create(self, job: Obj, step: JobStep) -> int:
        created_count = 0
        template = (job.get("spec") or {}).get("template") or {}
        for _ in range(step.create):
            pod = pod_from_template(job, template)
            finalizers = pod["metadata"].setdefault("finalizers", [])
            if TRACKING_FINALIZER not in finalizers:
                finalizers.append(TRACKING_FINALIZER)
            if not await self.pod_control.create(job, pod):
                break  # the next attempt comes with the retry's back-off, not in a burst of failures
            created_count += 1
        missing = step.create - created_count
        if missing:
            active = int(step.status.get("active", 0)) - missing
            step.status.pop("active", None)
            if active > 0:
                step.status["active"] = active
        return missing

    async def _release(self, key: str, pod: Obj) -> None:
        md = pod["metadata"]
        if md["uid"] in self._released[key]:
            return
        try:
            await self.client.patch(
                resource_path("v1", "pods", md["namespace"], md["name"]),
                {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}},
                "strategic",
            )
        except NotFoundError:
            return
        self._released[key].add(md["uid"])

    async def _expire(self, job: Obj) -> None:
        """Delete a finished Job whose ``ttlSecondsAfterFinished`` has passed, or come back then."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        done = finished_at(job)
        if ttl is None or done is None or job["metadata"].get("deletionTimestamp"):
            return
        left = (done + timedelta(seconds=int(ttl)) - datetime.now(UTC)).total_seconds()
        if left > 0:
            self.queue.add_after(object_key(job), left + 0.05)
            return
        md = job["metadata"]
        with contextlib.suppress(NotFoundError):
            await self.client.delete(
                resource_path("batch/v1", "jobs", md["namespace"], md["name"]), propagation_policy="Foreground"
            )
