"""The CronJob controller: starts a CronJob's Jobs on its schedule and keeps its status and history.

Decisions come from :func:`minikube_py.model.cronjobs.plan_cronjob`; this module carries them out:
delete the Jobs the plan retires (replaced runs, history beyond the limits), create the Job of the
scheduled time, write ``status.active``/``lastScheduleTime``/``lastSuccessfulTime``, record the
events. Nothing polls: each sync queues its CronJob again for just after its next schedule time,
and changes to the CronJob or its Jobs queue it through the informers.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from minikube_py.client.errors import AlreadyExistsError, ApiError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.cronjobs import CronJobStep, job_ref, plan_cronjob
from minikube_py.model.podtemplate import controller_of
from minikube_py.model.times import rfc3339
from minikube_py.reconcilers.base import Controller, StatusWrites


class CronJobController(Controller):
    name = "cronjob-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.cronjobs = self.informer("/apis/batch/v1/cronjobs", self.enqueue)
        #: a Job's change (or end) is its CronJob's business: it may be done, or history to trim
        self.jobs, self._jobs_of = self.controlled("/apis/batch/v1/jobs", "CronJob")
        #: the status this controller last wrote, per CronJob key, until the cache shows it
        self.status_writes = StatusWrites(self.cronjobs, client)

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        key = str(key)
        cronjob = self.cronjobs.get(key)
        if cronjob is None:
            return
        if self.status_writes.pending(key):
            return  # the cache has not seen our last status write yet; its watch event brings the key back
        jobs = await self._jobs(cronjob)
        step = plan_cronjob(cronjob, jobs, datetime.now(UTC))
        for job in step.delete:
            await self._delete(cronjob, job)
        failed = await self._create(cronjob, step)
        with contextlib.suppress(NotFoundError):  # deleted meanwhile: nothing more to write of it
            await self.status_writes.replace(cronjob, step.status)
        for event_type, reason, message in step.events:
            await self.events.record(cronjob, event_type, reason, message)
        if step.requeue_after is not None:
            self.queue.add_after(key, max(step.requeue_after, 0.0))
        if failed is not None:
            raise failed

    async def _jobs(self, cronjob: Obj) -> list[Obj]:
        """The Jobs ``cronjob`` controls: the cache's, plus any Job ``status.active`` names that the
        cache has not seen yet (just created), asked of the API so it is not taken for gone."""
        jobs = self._jobs_of.controlled(cronjob, self.jobs)
        seen = {job["metadata"]["uid"] for job in jobs}
        for ref in (cronjob.get("status") or {}).get("active") or []:
            if ref.get("uid") in seen:
                continue
            try:
                job = await self.client.get(
                    resource_path(
                        "batch/v1", "jobs", ref.get("namespace") or cronjob["metadata"]["namespace"], ref["name"]
                    )
                )
            except NotFoundError:
                continue
            if job["metadata"].get("uid") == ref.get("uid"):
                jobs.append(job)
        return jobs

    async def _delete(self, cronjob: Obj, job: Obj) -> None:
        md = job["metadata"]
        path = resource_path("batch/v1", "jobs", md["namespace"], md["name"])
        await self.recorded(
            cronjob,
            "Delete",
            self.client.delete(path, propagation_policy="Background"),
            settled=NotFoundError,
            done=f"Deleted job {md['name']}",
            failed="Deleted job: ",
        )

    async def _create(self, cronjob: Obj, step: CronJobStep) -> Exception | None:
        """Create the planned Job and record it in ``step.status``; a Job of that name this CronJob
        already controls (a sync that crashed before its status write) is taken as created."""
        if step.create is None or step.scheduled is None:
            return None
        namespace = cronjob["metadata"]["namespace"]
        try:
            job = await self.client.create(resource_path("batch/v1", "jobs", namespace), step.create)
        except AlreadyExistsError as exc:
            try:
                job = await self.client.get(
                    resource_path("batch/v1", "jobs", namespace, step.create["metadata"]["name"])
                )
            except NotFoundError:
                return exc
            if (controller_of(job) or {}).get("uid") != cronjob["metadata"]["uid"]:
                return exc
        except ApiError as exc:
            await self.events.record(cronjob, "Warning", "FailedCreate", f"Error creating job: {exc.message}")
            return exc
        else:
            await self.events.record(cronjob, "Normal", "SuccessfulCreate", f"Created job {job['metadata']['name']}")
        active = [ref for ref in step.status.get("active") or [] if ref.get("uid") != job["metadata"]["uid"]]
        step.status["active"] = [*active, job_ref(job)]
        step.status["lastScheduleTime"] = rfc3339(step.scheduled)
        return None
