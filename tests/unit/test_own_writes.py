"""OwnWrites: a controller's writes count until its informer shows them, whatever the order of the
events and the answers, and no longer than the timeout."""

from __future__ import annotations

from typing import Any

from minikube_py.client.informer import Informer
from minikube_py.client.kubeconfig import ClientConfig
from minikube_py.client.rest import ApiClient
from minikube_py.client.watching import WatchEvent
from minikube_py.reconcilers.base import OwnWrites, resource_version

Obj = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pod(name: str, rv: int, *, deleting: bool = False) -> Obj:
    md: Obj = {"namespace": "ns", "name": name, "resourceVersion": str(rv)}
    if deleting:
        md["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {"metadata": md}


def informer() -> Informer:
    """An informer that is never run: the test shows it events as its watch would."""
    return Informer(ApiClient(ClientConfig(server="https://127.0.0.1:1")), "/api/v1/pods")


def show(inf: Informer, kind: str, obj: Obj) -> None:
    inf._apply(WatchEvent(kind, obj))  # type: ignore[arg-type]


def test_a_create_counts_until_the_cache_shows_it() -> None:
    inf, clock = informer(), Clock()
    writes = OwnWrites(inf, clock=clock)
    assert writes.pending("rs") == 0
    writes.wrote("rs", pod("a", 5))
    writes.wrote("rs", pod("b", 6))
    assert writes.pending("rs") == 300
    show(inf, "ADDED", pod("a", 5))
    assert writes.pending("rs") > 0
    show(inf, "ADDED", pod("b", 7))  # a newer version shows the write too
    assert writes.pending("rs") == 0
    assert writes.pending("other") == 0


def test_an_event_before_the_answer_is_not_waited_for() -> None:
    inf = informer()
    writes = OwnWrites(inf)
    show(inf, "ADDED", pod("a", 5))  # the watch was quicker than the create's answer
    writes.wrote("rs", pod("a", 5))
    assert writes.pending("rs") == 0


def test_an_update_counts_until_the_cache_reaches_its_version() -> None:
    inf = informer()
    writes = OwnWrites(inf)
    show(inf, "ADDED", pod("job", 10))
    writes.wrote("ns/job", pod("job", 12))
    show(inf, "MODIFIED", pod("job", 11))  # someone else's write before ours
    assert writes.pending("ns/job") > 0
    show(inf, "MODIFIED", pod("job", 12))
    assert writes.pending("ns/job") == 0


def test_a_deletion_is_seen_when_graceful_deletion_begins_or_the_object_goes() -> None:
    inf = informer()
    writes = OwnWrites(inf)
    show(inf, "ADDED", pod("a", 1))
    show(inf, "ADDED", pod("b", 2))
    writes.deleted("rs", pod("a", 1))
    writes.deleted("rs", pod("b", 2))
    show(inf, "MODIFIED", pod("a", 3, deleting=True))
    assert writes.pending("rs") > 0
    show(inf, "DELETED", pod("b", 2))
    assert writes.pending("rs") == 0
    writes.deleted("rs", pod("gone", 1))  # not in the cache: nothing to wait for
    writes.deleted("rs", pod("a", 3))  # its graceful deletion shows already
    assert writes.pending("rs") == 0


def test_an_object_deleted_by_someone_else_after_our_write_is_seen() -> None:
    inf = informer()
    writes = OwnWrites(inf)
    writes.wrote("rs", pod("a", 5))
    show(inf, "DELETED", pod("a", 4))  # the cache never held version 5, but the object is gone
    assert writes.pending("rs") == 0


def test_a_write_never_shown_stops_counting_after_the_timeout() -> None:
    inf, clock = informer(), Clock()
    writes = OwnWrites(inf, timeout=10, clock=clock)
    writes.wrote("svc", pod("a", 5))
    clock.now = 4
    assert writes.pending("svc") == 6
    clock.now = 10
    assert writes.pending("svc") == 0
    show(inf, "ADDED", pod("a", 5))  # late: harmless
    assert writes.pending("svc") == 0


def test_forget_drops_an_owners_writes() -> None:
    inf = informer()
    writes = OwnWrites(inf)
    writes.wrote("rs-1", pod("a", 5))
    writes.wrote("rs-2", pod("b", 5))
    writes.forget("rs-1")
    assert writes.pending("rs-1") == 0
    assert writes.pending("rs-2") > 0


def test_a_key_written_again_belongs_to_its_latest_owner() -> None:
    inf = informer()
    writes = OwnWrites(inf)
    writes.wrote("old-owner", pod("a", 5))
    writes.wrote("new-owner", pod("a", 6))
    assert writes.pending("old-owner") == 0
    assert writes.pending("new-owner") > 0


def test_get_overlays_the_cache_with_writes_not_shown_yet() -> None:
    inf = informer()
    writes = OwnWrites(inf)
    assert writes.get("ns/a") is None
    written = writes.wrote("d", pod("a", 5))
    assert writes.get("ns/a") is written  # not in the cache yet
    show(inf, "ADDED", pod("a", 4))
    assert writes.get("ns/a") is written  # the cache is behind
    show(inf, "MODIFIED", pod("a", 6))
    assert resource_version(writes.get("ns/a") or {"metadata": {}}) == 6
    writes.deleted("d", pod("a", 6))
    assert resource_version(writes.get("ns/a") or {"metadata": {}}) == 6  # a deletion overlays nothing


def test_resource_versions_compare_as_numbers() -> None:
    assert resource_version(pod("a", 10)) > resource_version(pod("a", 9))
    assert resource_version({"metadata": {}}) == 0
    assert resource_version({"metadata": {"resourceVersion": "opaque"}}) == 0
