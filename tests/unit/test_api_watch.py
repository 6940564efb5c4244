"""Watch stream encoding: shared lines for plain watchers, per-watcher rendering, batched writes."""

from __future__ import annotations

import json
from typing import Any, cast

from aiohttp import web
from prometheus_client import REGISTRY

from minikube_py.api.watch import WatchRequest, _SharedLines, _Stream
from minikube_py.metrics import WATCH_EVENTS
from minikube_py.model.kinds import by_kind
from minikube_py.store.base import Event, Obj
from minikube_py.store.plan import encode

PODS = by_kind("v1", "Pod")
assert PODS is not None


class FakeResponse:
    """Records each write, so tests see how many writes a burst took and what they carried."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.writes.append(data)


def pod(name: str, app: str = "web", rv: int = 1) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"app": app}, "resourceVersion": str(rv)}}


def stream(render: Any = None, app: str = "web") -> tuple[_Stream, FakeResponse]:
    def matches(obj: Obj) -> bool:
        return bool(obj["metadata"]["labels"].get("app") == app)

    response = FakeResponse()
    request = WatchRequest(PODS, "ns", None, matches, None, 60.0, False, render)
    return _Stream(cast(web.StreamResponse, response), request, WATCH_EVENTS.labels("", "v1", "Pod")), response


def lines(response: FakeResponse) -> list[dict[str, Any]]:
    return [json.loads(line) for chunk in response.writes for line in chunk.splitlines()]


def added(value: Obj) -> Event:
    return Event("ADDED", "/core/pods/ns/" + value["metadata"]["name"], 1, value, None)


def test_shared_line_is_encoded_once_per_event_kind_and_type() -> None:
    shared = _SharedLines(8)
    event = added(pod("a"))
    first = shared.line("ADDED", event, PODS)
    assert shared.line("ADDED", event, PODS) is first
    assert shared.line("ADDED", added(pod("a")), PODS) is not first  # an equal but different event: not shared
    assert shared.line("DELETED", event, PODS) != first
    assert json.loads(first) == {"type": "ADDED", "object": {**pod("a"), "apiVersion": "v1", "kind": "Pod"}}
    assert event.value == pod("a")  # the shared event value is never modified


def test_shared_lines_stay_bounded_and_drop_the_oldest() -> None:
    shared = _SharedLines(2)
    events = [added(pod(str(i))) for i in range(3)]
    encoded = [shared.line("ADDED", e, PODS) for e in events]
    assert shared.line("ADDED", events[2], PODS) is encoded[2]
    assert shared.line("ADDED", events[0], PODS) is not encoded[0]  # evicted, encoded again
    assert len(shared._lines) == 2


def test_a_stored_event_goes_out_as_its_text_and_a_deletion_with_its_revision() -> None:
    text = encode({**pod("a", rv=7), "apiVersion": "v1", "kind": "Pod"})
    stored = Event("MODIFIED", "/core/pods/ns/a", 7, None, None, text=text, prev_text=encode(pod("a", rv=6)))
    line = _SharedLines(8).line("MODIFIED", stored, PODS)
    assert line == b'{"type":"MODIFIED","object":' + text.encode() + b"}\n"
    assert stored.prev == pod("a", rv=6)
    deleted = Event("DELETED", "/core/pods/ns/a", 9, None, None, text=text)
    assert deleted.text is None  # its stored text carries the last write's revision, not the deleting one
    assert json.loads(_SharedLines(8).line("DELETED", deleted, PODS))["object"]["metadata"]["resourceVersion"] == "9"


async def test_plain_watchers_share_bytes_and_buffered_events_go_out_in_one_write() -> None:
    first, first_response = stream()
    second, second_response = stream()
    events = [
        Event("ADDED", "/core/pods/ns/a", 5, pod("a", rv=5), None),
        Event("MODIFIED", "/core/pods/ns/a", 6, pod("a", app="db", rv=6), pod("a", rv=5)),
        Event("ADDED", "/core/pods/ns/b", 7, pod("b", app="db", rv=7), None),
    ]
    for s, response in ((first, first_response), (second, second_response)):
        for event in events:
            s.change(event)
        assert response.writes == []  # buffered until flushed
        await s.flush()
    assert len(first_response.writes) == 1
    assert first_response.writes == second_response.writes
    # the object left the selection (DELETED); one that never matched is not sent at all
    assert [(line["type"], line["object"]["metadata"]["name"]) for line in lines(first_response)] == [
        ("ADDED", "a"),
        ("DELETED", "a"),
    ]
    await first.flush()
    assert len(first_response.writes) == 1  # nothing buffered: nothing written


async def test_rendering_watchers_render_per_watcher_and_mark_the_first_event() -> None:
    seen: list[bool] = []

    def render(obj: Obj, first: bool) -> Obj:
        seen.append(first)
        return {"kind": "Table", "rows": [obj["metadata"]["name"]]}

    s, response = stream(render)
    s.change(Event("ADDED", "/core/pods/ns/a", 5, pod("a"), None))
    s.change(Event("MODIFIED", "/core/pods/ns/a", 6, pod("a", rv=6), pod("a")))
    await s.bookmark(6)
    assert seen == [True, False]
    assert [line["type"] for line in lines(response)] == ["ADDED", "MODIFIED", "BOOKMARK"]
    assert lines(response)[0]["object"] == {"kind": "Table", "rows": ["a"]}
    assert len(response.writes) == 1  # the bookmark flushed what was buffered before it, in order


async def test_every_line_sent_counts_as_a_watch_event() -> None:
    def sent() -> float:
        return (
            REGISTRY.get_sample_value("apiserver_watch_events_total", {"group": "", "version": "v1", "kind": "Pod"})
            or 0.0
        )

    before = sent()
    s, response = stream()
    s.change(Event("ADDED", "/core/pods/ns/a", 1, pod("a"), None))
    s.change(Event("ADDED", "/core/pods/ns/b", 2, pod("b", app="other"), None))  # not selected: not sent
    await s.bookmark(2)
    await s.flush()
    assert len(lines(response)) == 2 and sent() - before == 2
