"""What the controllers' base offers them beside the work queue and OwnWrites: the index of what each
owner controls (and the owners each event queues), OwnWrites forgetting the writes of an owner that
is gone, a status write that waits for the cache to show it, and a write told as an event."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.client.errors import ApiError, ConflictError, NotFoundError
from minikube_py.client.informer import Informer
from minikube_py.client.kubeconfig import ClientConfig
from minikube_py.client.rest import ApiClient
from minikube_py.client.watching import WatchEvent
from minikube_py.reconcilers.base import Controller, OwnedIndex, OwnWrites, StatusWrites, WorkQueue

Obj = dict[str, Any]


def job(name: str, owner: str | None = None, *, uid: str = "", labels: dict[str, str] | None = None) -> Obj:
    md: Obj = {"namespace": "ns", "name": name, "uid": uid or f"uid-{name}", "resourceVersion": "5"}
    if owner is not None:
        md["ownerReferences"] = [{"kind": "CronJob", "name": owner, "uid": f"uid-{owner}", "controller": True}]
    if labels is not None:
        md["labels"] = labels
    return {"metadata": md}


def informer(path: str) -> Informer:
    """An informer that is never run: the test shows it events as its watch would."""
    return Informer(ApiClient(ClientConfig(server="https://127.0.0.1:1")), path)


async def queued(queue: WorkQueue) -> set[object]:
    """The keys queued since the last look, taken off the queue as a worker would."""
    keys = set()
    while len(queue):
        key = await queue.get()
        queue.done(key)
        keys.add(key)
    return keys


async def test_an_owned_object_is_indexed_under_its_owner_and_queues_it() -> None:
    queue = WorkQueue()
    index = OwnedIndex("CronJob", queue)
    assert index.note(None, job("a-1", "a")) == "ns/a"
    index.note(None, job("loose"))
    assert index["ns/a"] == {"ns/a-1"} and await queued(queue) == {"ns/a"}
    assert index.note(job("a-1", "a"), None) is None  # gone
    assert index["ns/a"] == set() and await queued(queue) == {"ns/a"}


async def test_an_object_changing_hands_queues_both_owners() -> None:
    queue = WorkQueue()
    index = OwnedIndex("CronJob", queue)
    index.note(None, job("x", "a"))
    await queued(queue)
    index.note(job("x", "a"), job("x", "b"))
    assert index["ns/a"] == set() and index["ns/b"] == {"ns/x"}
    assert await queued(queue) == {"ns/a", "ns/b"}
    index.note(job("x", "b"), job("x"))  # released
    assert index["ns/b"] == set() and await queued(queue) == {"ns/b"}


def test_controlled_leaves_out_what_a_deleted_namesake_controlled() -> None:
    cache = informer("/apis/batch/v1/jobs")
    index = OwnedIndex("CronJob", WorkQueue())
    cache.add_handler(index.note)
    ours, theirs = job("a-1", "a"), job("a-2", "a")
    theirs["metadata"]["ownerReferences"][0]["uid"] = "uid-of-an-earlier-a"
    for obj in (ours, theirs):
        cache._apply(WatchEvent("ADDED", obj))  # type: ignore[arg-type]
    assert index["ns/a"] == {"ns/a-1", "ns/a-2"}
    assert [j["metadata"]["name"] for j in index.controlled(job("a"), cache)] == ["a-1"]


def test_orphans_are_kept_by_namespace_when_asked_for() -> None:
    index = OwnedIndex("CronJob", WorkQueue(), orphans=True)
    index.note(None, job("loose"))
    index.note(None, job("a-1", "a"))
    assert index.orphans("ns") == {"ns/loose"}
    index.note(job("loose"), job("loose", "a"))  # adopted
    assert index.orphans("ns") == set() and index["ns/a"] == {"ns/a-1", "ns/loose"}
    assert OwnedIndex("CronJob", WorkQueue()).orphans("ns") == set()


def test_own_writes_forget_an_owner_that_is_gone_or_replaced() -> None:
    owners, owned = informer("/apis/batch/v1/cronjobs"), informer("/apis/batch/v1/jobs")
    writes = OwnWrites(owned, owners=owners)
    for owner in ("uid-a", "uid-b"):
        writes.wrote(owner, job(f"{owner}-job"))
    owners._apply(WatchEvent("ADDED", job("a", uid="uid-a")))  # type: ignore[arg-type]
    owners._apply(WatchEvent("ADDED", job("b", uid="uid-b")))  # type: ignore[arg-type]
    assert writes.pending("uid-a") and writes.pending("uid-b")
    owners._apply(WatchEvent("DELETED", job("a", uid="uid-a")))  # type: ignore[arg-type]
    owners._apply(WatchEvent("MODIFIED", job("b", uid="uid-b2")))  # a namesake, between two watches
    assert not writes.pending("uid-a") and not writes.pending("uid-b")


class StatusApi:
    """Answers a status replacement as the API would: the body at the next resourceVersion."""

    def __init__(self) -> None:
        self.replaced: list[str] = []

    async def replace(self, path: str, body: Obj) -> Obj:
        self.replaced.append(path)
        return {**body, "metadata": {**body["metadata"], "resourceVersion": "6"}}


async def test_a_status_write_goes_to_the_subresource_and_counts_until_the_cache_shows_it() -> None:
    api, cronjobs = StatusApi(), informer("/apis/batch/v1/cronjobs")
    writes = StatusWrites(cronjobs, api)  # type: ignore[arg-type]
    cached = {**job("a"), "status": {"active": []}}
    cronjobs._apply(WatchEvent("ADDED", cached))  # type: ignore[arg-type]
    assert await writes.replace(cached, {"active": []}) is cached and api.replaced == []  # unchanged: no write
    written = await writes.replace(cached, {"lastScheduleTime": "2026-12-06T00:00:00Z"})
    assert api.replaced == ["/apis/batch/v1/namespaces/ns/cronjobs/a/status"]
    assert written["metadata"]["resourceVersion"] == "6" and writes.pending("ns/a")
    cronjobs._apply(WatchEvent("MODIFIED", written))  # type: ignore[arg-type]
    assert not writes.pending("ns/a")


class EventsApi:
    """Takes the events a controller records, and nothing else."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def create(self, path: str, body: Obj) -> Obj:
        self.events.append((body["type"], body["reason"], body["message"]))
        return body


async def delete(error: ApiError | None) -> None:
    if error is not None:
        raise error


def api_error(cls: type[ApiError], message: str) -> ApiError:
    return cls({"code": 0, "reason": "", "message": message})


async def test_a_write_is_told_as_an_event_and_a_settled_one_not_at_all() -> None:
    api = EventsApi()
    ctrl = Controller(api)  # type: ignore[arg-type]
    owner = job("a")
    await ctrl.recorded(owner, "Delete", delete(None), settled=NotFoundError, done="Deleted job a-1", failed="")
    await ctrl.recorded(
        owner, "Delete", delete(api_error(NotFoundError, "gone")), settled=NotFoundError, done="", failed=""
    )
    with pytest.raises(ConflictError):
        await ctrl.recorded(
            owner,
            "Delete",
            delete(api_error(ConflictError, "changed")),
            settled=NotFoundError,
            done="",
            failed="Deleted job: ",
        )
    assert api.events == [
        ("Normal", "SuccessfulDelete", "Deleted job a-1"),
        ("Warning", "FailedDelete", "Deleted job: changed"),
    ]
