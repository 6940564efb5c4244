"""The CronJob controller's own part, fed informer events by hand and writing to a fake API: how it
carries out a plan (create, record, requeue), and the cases where the API knows more than its
caches (a Job made before a crash, a Job the cache has not seen yet)."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from minikube_py.client.errors import AlreadyExistsError, NotFoundError
from minikube_py.model.cronjobs import job_name
from minikube_py.reconcilers.cronjob import CronJobController

Obj = dict[str, Any]


class FakeApi:
    """Jobs and CronJobs by path; events are only counted."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.created: list[Obj] = []
        self.deleted: list[str] = []
        self.events: list[str] = []
        self.revision = 100

    async def create(self, path: str, body: Obj) -> Obj:
        if body["kind"] == "Event":
            self.events.append(body["reason"])
            return body
        key = f"{path}/{body['metadata']['name']}"
        if key in self.objects:
            raise AlreadyExistsError({"code": 409, "reason": "AlreadyExists", "message": "exists"})
        obj = copy.deepcopy(body)
        self.revision += 1
        obj["metadata"].update(uid=f"uid-{body['metadata']['name']}", resourceVersion=str(self.revision))
        self.objects[key] = obj
        self.created.append(obj)
        return obj

    async def get(self, path: str) -> Obj:
        if path not in self.objects:
            raise NotFoundError({"code": 404, "reason": "NotFound", "message": "not found"})
        return copy.deepcopy(self.objects[path])

    async def replace(self, path: str, body: Obj) -> Obj:
        self.revision += 1
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.objects[path.removesuffix("/status")] = obj
        return obj

    async def delete(self, path: str, **options: Any) -> Obj:
        self.deleted.append(path)
        return self.objects.pop(path)

    async def patch(self, path: str, body: Any, patch_type: str = "merge") -> Obj:
        return {}


JOBS = "/apis/batch/v1/namespaces/ns/jobs"
CRONJOB = "/apis/batch/v1/namespaces/ns/cronjobs/cj"


def cron_job(**status: Any) -> Obj:
    created = (datetime.now(UTC) - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "cj",
            "namespace": "ns",
            "uid": "cj-uid",
            "resourceVersion": "1",
            "creationTimestamp": created,
        },
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": "Forbid",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}},
        },
        "status": status,
    }


def latest_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def make(cj: Obj) -> tuple[CronJobController, FakeApi]:
    """A controller whose cache holds ``cj``; started clear of a minute's end, so the minute a test
    names is still the latest when it reconciles."""
    if datetime.now(UTC).second >= 58:
        await asyncio.sleep(2.5)
    api = FakeApi()
    ctrl = CronJobController(api)  # type: ignore[arg-type]
    ctrl.cronjobs.cache["ns/cj"] = cj
    api.objects[CRONJOB] = copy.deepcopy(cj)
    return ctrl, api


async def test_creates_the_job_of_the_minute_records_it_and_requeues_for_the_next() -> None:
    ctrl, api = await make(cron_job())
    await ctrl.reconcile("ns/cj")
    [job] = api.created
    assert job["metadata"]["name"] == job_name(cron_job(), latest_minute())
    status = api.objects[CRONJOB]["status"]
    assert [ref["name"] for ref in status["active"]] == [job["metadata"]["name"]]
    assert status["lastScheduleTime"] == latest_minute().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "SuccessfulCreate" in api.events
    timer = ctrl.queue._timers["ns/cj"]  # one timer for the next minute, no polling
    left = timer.when() - asyncio.get_running_loop().time()
    assert 0 < left <= 60.2


async def test_a_job_made_before_a_crash_is_taken_not_made_twice() -> None:
    cj = cron_job()
    ctrl, api = await make(cj)
    name = job_name(cj, latest_minute())
    api.objects[f"{JOBS}/{name}"] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": "earlier",
            "ownerReferences": [{"kind": "CronJob", "name": "cj", "uid": "cj-uid", "controller": True}],
        },
    }
    await ctrl.reconcile("ns/cj")
    assert api.created == []
    assert [ref["uid"] for ref in api.objects[CRONJOB]["status"]["active"]] == ["earlier"]


async def test_an_active_job_the_cache_has_not_seen_is_not_taken_for_gone() -> None:
    ctrl, api = await make(cron_job())
    name = job_name(cron_job(), latest_minute())
    ref = {"kind": "Job", "namespace": "ns", "name": name, "uid": "fresh", "apiVersion": "batch/v1"}
    cj = cron_job(active=[ref], lastScheduleTime=latest_minute().strftime("%Y-%m-%dT%H:%M:%SZ"))
    ctrl.cronjobs.cache["ns/cj"] = cj
    api.objects[CRONJOB] = copy.deepcopy(cj)
    api.objects[f"{JOBS}/{name}"] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": "fresh",
            "ownerReferences": [{"kind": "CronJob", "name": "cj", "uid": "cj-uid", "controller": True}],
        },
    }
    await ctrl.reconcile("ns/cj")
    assert api.created == [] and "MissingJob" not in api.events
    assert api.objects[CRONJOB]["status"]["active"] == [ref]
    del api.objects[f"{JOBS}/{name}"]  # now it is really gone
    await ctrl.reconcile("ns/cj")
    assert "MissingJob" in api.events
    assert "active" not in api.objects[CRONJOB]["status"]


async def test_job_events_queue_their_cron_job_only() -> None:
    ctrl, _ = await make(cron_job())
    owned = {
        "metadata": {
            "name": "cj-1",
            "namespace": "ns",
            "ownerReferences": [{"kind": "CronJob", "name": "cj", "uid": "cj-uid", "controller": True}],
        }
    }
    ctrl._jobs_of.note(None, {"metadata": {"name": "loose", "namespace": "ns"}})
    assert len(ctrl.queue) == 0
    ctrl._jobs_of.note(None, owned)
    assert len(ctrl.queue) == 1 and ctrl._jobs_of["ns/cj"] == {"ns/cj-1"}
    ctrl._jobs_of.note(owned, None)
    assert ctrl._jobs_of["ns/cj"] == set()
