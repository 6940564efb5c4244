"""The watch hub and the pure batch planner, without a database."""

from __future__ import annotations

import asyncio

import pytest

from minikube_py.store.base import Compacted, Create, Delete, Event, KeyExists, KeyNotFound, RevisionMismatch, Update
from minikube_py.store.plan import Row, encode, plan_batch
from minikube_py.store.schema import prefix_end
from minikube_py.store.watch import WatchExpired, WatchHub


def ev(revision: int, key: str = "/p/a/x") -> Event:
    return Event("ADDED", key, revision, {"metadata": {"resourceVersion": str(revision)}}, None)


async def no_history(prefix: str, after: int, upto: int) -> tuple[list[Event], int]:
    raise AssertionError("the ring should have served this")


async def test_hub_serves_ring_then_live_events_filtered_by_prefix() -> None:
    hub = WatchHub(0, ring_size=10)
    hub.publish([ev(1), ev(2, "/p/b/y"), ev(3)])
    events = hub.watch("/p/a/", 1, no_history)
    assert (await anext(events)).revision == 3
    hub.publish([ev(4, "/p/ab/z"), ev(5)])
    assert (await anext(events)).revision == 5
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(events)


def stored(revision: int, *, deleted: bool = False) -> Event:
    """An event as the store makes it: from the stored texts of the object and of its previous state."""
    text = encode({"metadata": {"name": "x", "resourceVersion": str(revision)}, "spec": {"n": revision}})
    previous = encode({"metadata": {"name": "x"}})
    return Event("DELETED" if deleted else "MODIFIED", "/p/a/x", revision, None, None, text=text, prev_text=previous)


def test_a_detached_event_decodes_its_own_objects() -> None:
    for deleted in (False, True):
        live = stored(4, deleted=deleted)
        copy = live.detached()
        assert (copy.type, copy.key, copy.revision, copy.text) == (live.type, live.key, 4, live.text)
        assert copy.value == live.value and copy.value is not live.value
        assert copy.value["metadata"]["resourceVersion"] == "4"
        assert copy.prev == live.prev and copy.prev is not live.prev
    built = ev(1)
    assert built.detached() is built  # built from objects: it has nothing else to keep


async def test_watchers_resuming_from_the_ring_get_the_change_decoded_afresh() -> None:
    """The ring keeps texts, not the objects that live watchers decoded (which would pin a decoded
    copy of every recent change in memory)."""
    hub = WatchHub(0, ring_size=10)
    live = hub.watch("/p/", 0, no_history)
    hub.publish([stored(1)])
    seen = await anext(live)
    resumed = [await anext(hub.watch("/p/", 0, no_history)) for _ in range(2)]
    assert [e.value for e in resumed] == [seen.value] * 2
    assert len({id(seen.value), *(id(e.value) for e in resumed)}) == 3
    assert [e.prev for e in resumed] == [seen.prev] * 2


async def test_hub_reads_history_until_the_ring_covers() -> None:
    hub = WatchHub(0, ring_size=2)
    hub.publish([ev(r) for r in range(1, 6)])
    asked: list[tuple[int, int]] = []

    async def history(prefix: str, after: int, upto: int) -> tuple[list[Event], int]:
        asked.append((after, upto))
        return [ev(r) for r in range(after + 1, min(after + 2, upto) + 1)], min(after + 2, upto)

    events = hub.watch("/p/", 0, history)
    assert [(await anext(events)).revision for _ in range(5)] == [1, 2, 3, 4, 5]
    assert asked == [(0, 5), (2, 5)]


async def test_hub_rejects_compacted_and_gaps() -> None:
    hub = WatchHub(10, compacted=5)
    with pytest.raises(Compacted):
        await anext(hub.watch("/", 4, no_history))
    with pytest.raises(ValueError):
        hub.publish([ev(12)])


async def test_overflowing_watcher_expires_without_holding_up_others() -> None:
    hub = WatchHub(0, buffer_size=3)
    slow = hub.watch("/", 0, no_history)
    fast = hub.watch("/", 0, no_history)
    hub.publish([ev(1)])
    assert (await anext(slow)).revision == 1
    assert (await anext(fast)).revision == 1
    for r in range(2, 7):
        hub.publish([ev(r)])
        assert (await anext(fast)).revision == r
    with pytest.raises(WatchExpired):
        await anext(slow)


async def test_wait_published_returns_once_the_revision_is_out() -> None:
    hub = WatchHub(0)
    waiting = asyncio.create_task(hub.wait_published(2))
    hub.publish([ev(1)])
    await asyncio.sleep(0)
    assert not waiting.done()
    hub.publish([ev(2)])
    await asyncio.wait_for(waiting, 1)


def test_plan_keeps_failing_commits_out_and_numbers_the_rest() -> None:
    current = {"/k/a": Row(7, '{"metadata":{"resourceVersion":"7"}}')}
    plan = plan_batch(
        current,
        [
            [Create("/k/b", {"v": 1}), Create("/k/a", {})],  # fails: /k/a exists
            [Update("/k/a", {"v": 2}, expected=7)],  # 11
            [Update("/k/a", {"v": 3}, expected=7)],  # fails: now at 11
            [Delete("/k/missing")],  # fails
            [Create("/k/c", {}), Delete("/k/c")],  # 12, 13
        ],
        10,
    )
    assert isinstance(plan.results[0], KeyExists)
    assert plan.results[1][0]["metadata"]["resourceVersion"] == "11"  # type: ignore[index]
    assert isinstance(plan.results[2], RevisionMismatch) and plan.results[2].actual == 11
    assert isinstance(plan.results[3], KeyNotFound)
    assert [(e.revision, e.type, e.key) for e in plan.events] == [
        (11, "MODIFIED", "/k/a"),
        (12, "ADDED", "/k/c"),
        (13, "DELETED", "/k/c"),
    ]
    assert plan.last_revision == 13
    assert set(plan.writes) == {"/k/a", "/k/c"} and plan.writes["/k/c"] is None


def test_prefix_end_bounds_exactly_the_prefix() -> None:
    assert prefix_end("/p/a/") == "/p/a0"
    assert prefix_end("") is None
    assert prefix_end("/p/a/") <= "/p/ab/x"  # type: ignore[operator]
