"""Events in both groups with the real server (in this process) and the real kubectl: what a
client-go events.k8s.io/v1 recorder writes reads as a core Event, and the other way round, in
gets, lists, watches and kubectl's views."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from inprocess import InProcessServer, start_in_process

Obj = dict[str, Any]
NEWER = "/apis/events.k8s.io/v1/namespaces/default/events"
CORE = "/api/v1/namespaces/default/events"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = start_in_process(tmp_path_factory.mktemp("events") / "data")
    yield running
    running.stop()


def newer_event(name: str) -> Obj:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name},
        "eventTime": "2026-12-07T00:00:00.000000Z",
        "reportingController": "example.com/operator",
        "reportingInstance": "operator-0",
        "action": "Reconcile",
        "reason": "Synced",
        "note": "all in order",
        "type": "Normal",
        "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "settings", "namespace": "default"},
    }


def test_an_event_written_in_either_group_reads_in_both(server: InProcessServer) -> None:
    status, created = server.request("POST", NEWER, newer_event("synced.1"))
    assert status == 201 and created["apiVersion"] == "events.k8s.io/v1" and created["note"] == "all in order"
    status, core = server.request("GET", f"{CORE}/synced.1")
    assert status == 200 and core["apiVersion"] == "v1"
    assert (core["message"], core["reportingComponent"], core["involvedObject"]["name"]) == (
        "all in order",
        "example.com/operator",
        "settings",
    )
    core_event = {
        "metadata": {"name": "old.1"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Pulled",
        "message": "image present",
        "type": "Normal",
        "count": 3,
        "source": {"component": "kubelet"},
    }
    assert server.request("POST", CORE, core_event)[0] == 201
    status, listed = server.request("GET", NEWER)
    by_name = {e["metadata"]["name"]: e for e in listed["items"]}
    assert status == 200 and listed["kind"] == "EventList" and listed["apiVersion"] == "events.k8s.io/v1"
    assert by_name["old.1"]["note"] == "image present" and by_name["old.1"]["deprecatedCount"] == 3
    assert by_name["old.1"]["regarding"]["name"] == "web" and "message" not in by_name["old.1"]
    # a strategic merge patch in the newer group changes the stored core field
    patched = server.request(
        "PATCH", f"{NEWER}/old.1", {"note": "image pulled"}, content_type="application/merge-patch+json"
    )
    assert patched[0] == 200 and server.request("GET", f"{CORE}/old.1")[1]["message"] == "image pulled"
    table = server.kubectl("get", "events.events.k8s.io", "-n", "default").stdout
    assert "Synced" in table and "configmap/settings" in table and "all in order" in table


def test_a_watch_in_the_newer_group_sees_core_writes_converted(server: InProcessServer) -> None:
    seen: list[Obj] = []
    ready = threading.Event()

    def watch() -> None:
        req = urllib.request.Request(f"{server.url}{NEWER}?watch=true&timeoutSeconds=10&resourceVersion=0")
        req.add_header("Authorization", f"Bearer {server.admin_token}")
        with urllib.request.urlopen(req, context=server.ssl_context(), timeout=20) as stream:
            ready.set()
            for line in stream:
                event = json.loads(line)
                if event["object"]["metadata"]["name"] == "watched.1":
                    seen.append(event)
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert ready.wait(10)
    core_event = {
        "metadata": {"name": "watched.1"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Killing",
        "message": "stopping",
        "type": "Normal",
    }
    assert server.request("POST", CORE, core_event)[0] == 201
    thread.join(15)
    (event,) = seen
    assert event["type"] == "ADDED" and event["object"]["apiVersion"] == "events.k8s.io/v1"
    assert event["object"]["note"] == "stopping"


def test_a_patch_in_the_newer_group_that_breaks_the_object_is_a_bad_request(server: InProcessServer) -> None:
    assert server.request("POST", NEWER, newer_event("broken.1"))[0] == 201
    for body, kind, code in (
        ({"metadata": ["not", "an", "object"]}, "application/merge-patch+json", 400),
        ([{"op": "replace", "path": "/metadata", "value": 5}], "application/json-patch+json", 400),
    ):
        status, answer = server.request("PATCH", f"{NEWER}/broken.1", body, content_type=kind)
        assert (status, answer["message"]) == (code, "metadata must be an object")
    assert server.request("GET", f"{NEWER}/broken.1")[1]["note"] == "all in order"


def test_a_time_that_is_not_a_string_is_refused_in_either_group(server: InProcessServer) -> None:
    """Stored, it would break every table that prints the event."""
    broken = {**newer_event("timeless.1"), "eventTime": {"nested": "2026-12-07T00:00:00.000000Z"}}
    status, answer = server.request("POST", NEWER, broken)
    assert status == 400 and "eventTime" in answer["message"], answer
    core = {"metadata": {"name": "timeless.2"}, "involvedObject": {"kind": "Pod", "name": "p"}, "lastTimestamp": 5}
    assert server.request("POST", CORE, core)[0] == 400
    assert server.kubectl("get", "events", "-n", "default").returncode == 0
