"""The Store contract, checked identically on SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from minikube_py.store import WatchExpired, open_store
from minikube_py.store.base import (
    Compacted,
    Create,
    Delete,
    Event,
    KeyExists,
    KeyNotFound,
    Obj,
    RevisionMismatch,
    Store,
    Update,
    create,
    delete,
    revision_of,
    update,
)
from minikube_py.store.sql import ForeignWrite

OpenStore = Callable[..., Awaitable[Store]]
FreshDatabase = Callable[[], contextlib.AbstractAsyncContextManager[str]]


def pod(name: str, **extra: object) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "a"}, **extra}


async def take(events: AsyncIterator[Event], count: int, within: float = 10) -> list[Event]:
    async with asyncio.timeout(within):
        return [await anext(events) for _ in range(count)]


async def nothing_more(events: AsyncIterator[Event], wait: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(wait):
            await anext(events)


# -- single-object semantics -----------------------------------------------------------------------


async def test_create_stamps_revision_and_leaves_input_alone(store: Store) -> None:
    value = pod("x", spec={"nodeName": "n1"})
    value["metadata"]["resourceVersion"] = "999"
    created = await create(store, "/core/pods/a/x", value)
    assert revision_of(created) == 1
    assert value["metadata"]["resourceVersion"] == "999"
    fetched = await store.get("/core/pods/a/x")
    assert fetched == created
    assert fetched["spec"] == {"nodeName": "n1"}
    assert await store.current_revision() == 1


async def test_create_of_existing_key_raises_key_exists(store: Store) -> None:
    await create(store, "/core/pods/a/x", pod("x"))
    with pytest.raises(KeyExists) as err:
        await create(store, "/core/pods/a/x", pod("x"))
    assert err.value.key == "/core/pods/a/x"
    assert await store.current_revision() == 1


async def test_get_of_missing_key_raises_key_not_found(store: Store) -> None:
    with pytest.raises(KeyNotFound):
        await store.get("/core/pods/a/none")


async def test_update_checks_expected_revision(store: Store) -> None:
    first = await create(store, "/core/pods/a/x", pod("x"))
    second = await update(store, "/core/pods/a/x", pod("x", spec={"v": 2}), expected=revision_of(first))
    assert revision_of(second) == 2
    with pytest.raises(RevisionMismatch) as err:
        await update(store, "/core/pods/a/x", pod("x", spec={"v": 3}), expected=revision_of(first))
    assert (err.value.expected, err.value.actual) == (1, 2)
    third = await update(store, "/core/pods/a/x", pod("x", spec={"v": 4}))
    assert revision_of(third) == 3
    assert (await store.get("/core/pods/a/x"))["spec"] == {"v": 4}
    with pytest.raises(KeyNotFound):
        await update(store, "/core/pods/a/none", pod("none"))


async def test_delete_returns_last_state_at_deleting_revision(store: Store) -> None:
    created = await create(store, "/core/pods/a/x", pod("x", spec={"v": 1}))
    with pytest.raises(RevisionMismatch):
        await delete(store, "/core/pods/a/x", expected=revision_of(created) + 5)
    removed = await delete(store, "/core/pods/a/x", expected=revision_of(created))
    assert removed["spec"] == {"v": 1}
    assert revision_of(removed) == 2
    with pytest.raises(KeyNotFound):
        await store.get("/core/pods/a/x")
    with pytest.raises(KeyNotFound):
        await delete(store, "/core/pods/a/x")
    assert (await create(store, "/core/pods/a/x", pod("x")))["metadata"]["resourceVersion"] == "3"


# -- commits ---------------------------------------------------------------------------------------


async def test_multi_op_commit_is_all_or_nothing(store: Store) -> None:
    await create(store, "/core/pods/a/taken", pod("taken"))
    with pytest.raises(KeyExists) as err:
        await store.commit([Create("/core/pods/a/new", pod("new")), Create("/core/pods/a/taken", pod("taken"))])
    assert err.value.key == "/core/pods/a/taken"
    with pytest.raises(KeyNotFound):
        await store.get("/core/pods/a/new")
    assert await store.current_revision() == 1

    written = await store.commit(
        [
            Create("/core/pods/a/new", pod("new")),
            Update("/core/pods/a/new", pod("new", spec={"v": 2}), expected=2),
            Delete("/core/pods/a/taken", expected=1),
        ]
    )
    assert [revision_of(v) for v in written] == [2, 3, 4]
    assert (await store.get("/core/pods/a/new"))["spec"] == {"v": 2}
    with pytest.raises(KeyNotFound):
        await store.get("/core/pods/a/taken")


async def test_a_failing_commit_does_not_fail_concurrent_ones(store: Store) -> None:
    await create(store, "/core/pods/a/taken", pod("taken"))
    ops = [
        [Create(f"/core/pods/a/p{i}", pod(f"p{i}"))] if i % 3 else [Create("/core/pods/a/taken", pod("taken"))]
        for i in range(30)
    ]
    results = await asyncio.gather(*(store.commit(o) for o in ops), return_exceptions=True)
    for i, result in enumerate(results):
        if i % 3:
            assert isinstance(result, list) and result[0]["metadata"]["name"] == f"p{i}"
        else:
            assert isinstance(result, KeyExists)
    assert len((await store.list("/core/pods/a/")).items) == 21


async def test_racing_updates_with_same_expected_revision_have_one_winner(store: Store) -> None:
    created = await create(store, "/core/pods/a/x", pod("x"))
    rev = revision_of(created)
    results = await asyncio.gather(
        *(update(store, "/core/pods/a/x", pod("x", spec={"writer": i}), expected=rev) for i in range(20)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1
    assert all(isinstance(r, RevisionMismatch) for r in results if not isinstance(r, dict))
    assert await store.get("/core/pods/a/x") == winners[0]


async def test_revisions_strictly_increase(store: Store) -> None:
    results = await asyncio.gather(*(create(store, f"/core/pods/a/p{i}", pod(f"p{i}")) for i in range(100)))
    revisions = sorted(revision_of(r) for r in results)
    assert revisions == list(range(1, 101))
    assert await store.current_revision() == 100
    later = await update(store, "/core/pods/a/p0", pod("p0"))
    assert revision_of(later) == 101


# -- list ------------------------------------------------------------------------------------------


async def test_list_orders_bytewise_respects_prefix_and_pages(store: Store) -> None:
    names = ["b", "a", "Z", "é", "a-1", "a.b", "ab"]
    for name in names:
        await create(store, f"/core/pods/a/{name}", pod(name))
    await create(store, "/core/pods/ab/x", pod("x"))
    await create(store, "/core/pods/b/y", pod("y"))
    await create(store, "/core/pods/a", pod("exactly-prefix-without-slash"))

    listed = await store.list("/core/pods/a/")
    assert [o["metadata"]["name"] for o in listed.items] == sorted(names)
    assert listed.revision == 10 and listed.next_key is None
    assert all(revision_of(o) > 0 for o in listed.items)

    page1 = await store.list("/core/pods/a/", limit=3)
    assert [o["metadata"]["name"] for o in page1.items] == sorted(names)[:3]
    assert page1.next_key == f"/core/pods/a/{sorted(names)[2]}"
    page2 = await store.list("/core/pods/a/", start_after=page1.next_key, limit=4)
    assert [o["metadata"]["name"] for o in page2.items] == sorted(names)[3:7]
    assert page2.next_key is None
    assert (await store.list("/core/pods/a/", start_after=page1.next_key, limit=3)).next_key is not None

    everything = await store.list("/core/pods/")
    assert len(everything.items) == 10
    assert (await store.list("/core/nodes/")).items == []


async def test_list_skips_texts_without_the_hints_but_pages_by_what_it_read(store: Store) -> None:
    for name in ("a", "b", "c", "d"):
        await create(
            store, f"/core/pods/h/{name}", {**pod(name), "status": {"phase": "Running" if name in "ac" else "Pending"}}
        )
    running = await store.list("/core/pods/h/", must_contain=('"Running"',))
    assert [o["metadata"]["name"] for o in running.items] == ["a", "c"]
    page = await store.list("/core/pods/h/", limit=2, must_contain=('"Pending"',))
    assert [o["metadata"]["name"] for o in page.items] == ["b"] and page.next_key == "/core/pods/h/b"
    assert (await store.list("/core/pods/h/", must_contain=('"Running"', '"nope"'))).items == []


async def test_list_revision_is_the_store_revision(store: Store) -> None:
    await create(store, "/core/pods/a/x", pod("x"))
    await create(store, "/core/nodes/n", {"kind": "Node", "metadata": {"name": "n"}})
    listed = await store.list("/core/pods/")
    assert listed.revision == 2 == await store.current_revision()


# -- watch -----------------------------------------------------------------------------------------


async def _history_of_three(store: Store) -> None:
    await create(store, "/core/pods/a/x", pod("x", spec={"v": 1}))  # 1
    await create(store, "/core/pods/ab/y", pod("y"))  # 2, outside /core/pods/a/
    await update(store, "/core/pods/a/x", pod("x", spec={"v": 2}), expected=1)  # 3
    await delete(store, "/core/pods/a/x", expected=3)  # 4


def _check_history(events: list[Event]) -> None:
    assert [(e.type, e.revision) for e in events] == [("ADDED", 1), ("MODIFIED", 3), ("DELETED", 4)]
    added, modified, deleted = events
    assert added.prev is None and revision_of(added.value) == 1
    assert modified.value["spec"] == {"v": 2} and revision_of(modified.value) == 3
    assert modified.prev is not None and modified.prev["spec"] == {"v": 1} and revision_of(modified.prev) == 1
    assert deleted.value["spec"] == {"v": 2} and revision_of(deleted.value) == 4
    assert deleted.prev is not None and revision_of(deleted.prev) == 3
    assert {e.key for e in events} == {"/core/pods/a/x"}


async def test_watch_replays_history_from_the_ring(store: Store) -> None:
    await _history_of_three(store)
    events = store.watch("/core/pods/a/", 0)
    _check_history(await take(events, 3))
    await nothing_more(events)
    later = store.watch("/core/pods/a/", 1)
    assert [e.revision for e in await take(later, 2)] == [3, 4]


async def test_watch_replays_history_from_the_database(open_started: OpenStore) -> None:
    store = await open_started(ring_size=2, history_page=2)
    await _history_of_three(store)
    for i in range(5):
        await create(store, f"/core/pods/b/p{i}", pod(f"p{i}"))  # 5..9 push 1..4 out of the ring
    events = store.watch("/core/pods/a/", 0)
    _check_history(await take(events, 3))
    everything = await take(store.watch("/core/pods/", 2), 7)
    assert [e.revision for e in everything] == [3, 4, 5, 6, 7, 8, 9]


async def test_watch_sees_writes_committed_after_it_started(store: Store) -> None:
    await create(store, "/core/pods/a/old", pod("old"))
    events = store.watch("/core/pods/a/", await store.current_revision())
    collected = asyncio.create_task(take(events, 3))
    await asyncio.sleep(0.05)
    await create(store, "/core/pods/ab/other", pod("other"))
    await create(store, "/core/pods/a/x", pod("x"))
    await update(store, "/core/pods/a/x", pod("x", spec={"v": 2}))
    await delete(store, "/core/pods/a/old")
    got = await collected
    assert [(e.type, e.key, e.revision) for e in got] == [
        ("ADDED", "/core/pods/a/x", 3),
        ("MODIFIED", "/core/pods/a/x", 4),
        ("DELETED", "/core/pods/a/old", 5),
    ]


async def test_watch_started_after_commit_sees_it(store: Store) -> None:
    """commit() returns only once its events reach the hub, so this never races."""
    for i in range(20):
        before = await store.current_revision()
        await create(store, f"/core/pods/a/p{i}", pod(f"p{i}"))
        (event,) = await take(store.watch("/core/pods/a/", before), 1, within=2)
        assert event.key == f"/core/pods/a/p{i}"


async def test_watch_from_a_compacted_revision_raises_compacted(store: Store) -> None:
    for i in range(10):
        await create(store, f"/core/pods/a/p{i}", pod(f"p{i}"))
    await store.compact(6)
    with pytest.raises(Compacted) as err:
        await anext(store.watch("/core/pods/a/", 3))
    assert err.value.oldest == 7
    assert [e.revision for e in await take(store.watch("/core/pods/a/", 6), 4)] == [7, 8, 9, 10]
    from_zero = store.watch("/core/pods/a/", 0)
    assert [e.revision for e in await take(from_zero, 4)] == [7, 8, 9, 10]
    current = store.watch("/core/pods/a/", await store.current_revision())
    await create(store, "/core/pods/a/late", pod("late"))
    assert [e.revision for e in await take(current, 1)] == [11]


async def test_compaction_survives_the_ring(open_started: OpenStore) -> None:
    store = await open_started(ring_size=2)
    for i in range(6):
        await create(store, f"/core/pods/a/p{i}", pod(f"p{i}"))
    await store.compact(3)
    with pytest.raises(Compacted):
        await anext(store.watch("/core/pods/", 1))
    assert [e.revision for e in await take(store.watch("/core/pods/", 3), 3)] == [4, 5, 6]


async def test_slow_watcher_blocks_neither_writers_nor_other_watchers(open_started: OpenStore) -> None:
    store = await open_started(watch_buffer=32, max_batch=8)
    slow = store.watch("/core/pods/", 0)
    fast = store.watch("/core/pods/", 0)
    received: list[int] = []

    async def drain() -> None:
        async for event in fast:
            received.append(event.revision)
            if event.revision == 200:
                return

    draining = asyncio.create_task(drain())
    # The slow watcher subscribes when it starts iterating: it takes one event, then stalls.
    await create(store, "/core/pods/a/first", pod("first"))
    assert (await take(slow, 1))[0].revision == 1
    async with asyncio.timeout(30):
        await asyncio.gather(*(create(store, f"/core/pods/a/p{i}", pod(f"p{i}")) for i in range(199)))
        await draining
    assert received == list(range(1, 201))
    with pytest.raises(WatchExpired) as err:
        async with asyncio.timeout(5):
            while True:
                await anext(slow)
    assert isinstance(err.value, Compacted)


# -- persistence and sharing -----------------------------------------------------------------------


async def test_reopening_keeps_objects_and_revision(store_url: str) -> None:
    first = open_store(store_url)
    await first.start()
    await create(first, "/core/pods/a/x", pod("x"))
    await update(first, "/core/pods/a/x", pod("x", spec={"v": 2}))
    await first.close()

    second = open_store(store_url)
    await second.start()
    try:
        assert await second.current_revision() == 2
        assert (await second.get("/core/pods/a/x"))["spec"] == {"v": 2}
        assert revision_of(await create(second, "/core/pods/a/y", pod("y"))) == 3
        assert [e.revision for e in await take(second.watch("/core/pods/a/", 0), 3)] == [1, 2, 3]
    finally:
        await second.close()


async def test_close_flushes_queued_commits(store_url: str) -> None:
    store = open_store(store_url)
    await store.start()
    pending = [asyncio.create_task(create(store, f"/core/pods/a/p{i}", pod(f"p{i}"))) for i in range(50)]
    await asyncio.sleep(0)
    await store.close()
    assert all(revision_of(t.result()) > 0 for t in pending)
    reopened = open_store(store_url)
    await reopened.start()
    try:
        assert len((await reopened.list("/core/pods/a/")).items) == 50
    finally:
        await reopened.close()


async def test_two_servers_on_one_postgres_database_see_each_other(fresh_postgres: FreshDatabase) -> None:
    async with fresh_postgres() as url:
        one, two = open_store(url, poll_interval=30.0), open_store(url, poll_interval=30.0)
        await one.start()
        await two.start()
        try:
            on_two = two.watch("/core/pods/", 0)
            on_one = one.watch("/core/pods/", 0)
            writes = [create(one if i % 2 else two, f"/core/pods/a/p{i}", pod(f"p{i}")) for i in range(40)]
            written = await asyncio.gather(*writes)
            assert sorted(revision_of(w) for w in written) == list(range(1, 41))
            seen_two = await take(on_two, 40)
            seen_one = await take(on_one, 40)
            assert [e.revision for e in seen_two] == list(range(1, 41)) == [e.revision for e in seen_one]
            assert (await two.get("/core/pods/a/p1"))["metadata"]["name"] == "p1"
            assert await one.current_revision() == await two.current_revision() == 40
        finally:
            await one.close()
            await two.close()


async def test_a_create_refused_for_another_servers_key_is_followed_by_reads_that_find_it(
    fresh_postgres: FreshDatabase,
) -> None:
    """Two servers starting at once both create the cluster's namespaces: the one that loses learns
    from the database that the key is taken, and its next read, served from its own cache, must find
    it. The loser's feed is held back here (as a late notification would), so a refusal that did not
    wait for the feed would be read as a missing key."""
    async with fresh_postgres() as url:
        one, two = open_store(url, poll_interval=30.0), open_store(url, poll_interval=30.0)
        await one.start()
        await two.start()
        delivery = two._delivery  # type: ignore[attr-defined]  # the feed's sink: where the lag is made
        held: list[object] = []

        def release() -> None:
            del delivery.publish  # the class's own again
            for rows in held:
                delivery.publish(rows)

        try:
            delivery.publish = held.append
            await create(one, "/core/namespaces/default", {"metadata": {"name": "default"}})
            asyncio.get_running_loop().call_later(0.2, release)
            with pytest.raises(KeyExists):
                await create(two, "/core/namespaces/default", {"metadata": {"name": "default"}})
            assert (await two.get("/core/namespaces/default"))["metadata"]["name"] == "default"
        finally:
            await one.close()
            await two.close()


# -- the object cache serving reads ------------------------------------------------------------------


async def test_reads_see_each_commit_as_soon_as_it_returns(store: Store) -> None:
    async def writer(i: int) -> None:
        key = f"/core/pods/a/p{i:02d}"
        created = await create(store, key, pod(f"p{i:02d}"))
        assert await store.get(key) == created
        updated = await update(store, key, pod(f"p{i:02d}", spec={"v": 2}), expected=revision_of(created))
        assert await store.get(key) == updated
        listed = await store.list(key)
        assert listed.items == [updated] and listed.revision >= revision_of(updated)
        assert await store.current_revision() >= revision_of(updated)

    await asyncio.gather(*(writer(i) for i in range(60)))
    assert len((await store.list("/core/pods/a/")).items) == 60


async def test_a_listing_is_exactly_the_state_at_its_revision(store: Store) -> None:
    created: dict[int, str] = {}

    async def writer(i: int) -> None:
        value = await create(store, f"/core/pods/a/p{i:03d}", pod(f"p{i:03d}"))
        created[revision_of(value)] = value["metadata"]["name"]

    writing = asyncio.gather(*(writer(i) for i in range(300)))
    listings = []
    while not writing.done():
        listings.append(await store.list("/core/pods/a/"))
        await asyncio.sleep(0)
    await writing
    assert len(listings) > 1
    for listed in listings:
        expected = sorted(name for revision, name in created.items() if revision <= listed.revision)
        assert [item["metadata"]["name"] for item in listed.items] == expected
        assert all(revision_of(item) <= listed.revision for item in listed.items)


async def test_handed_out_objects_may_be_mutated(store: Store) -> None:
    await create(store, "/core/pods/a/x", pod("x", spec={"v": 1}))
    (await store.get("/core/pods/a/x"))["spec"]["v"] = 99
    (await store.list("/core/pods/a/")).items[0]["spec"]["v"] = 98
    assert (await store.get("/core/pods/a/x"))["spec"] == {"v": 1}


async def test_deleted_keys_vanish_from_reads(store: Store) -> None:
    for name in ("x", "y", "z"):
        await create(store, f"/core/pods/a/{name}", pod(name))
    await delete(store, "/core/pods/a/y")
    await store.commit([Create("/core/pods/a/w", pod("w")), Delete("/core/pods/a/w")])
    with pytest.raises(KeyNotFound):
        await store.get("/core/pods/a/y")
    with pytest.raises(KeyNotFound):
        await store.get("/core/pods/a/w")
    listed = await store.list("/core/pods/a/")
    assert [o["metadata"]["name"] for o in listed.items] == ["x", "z"] and listed.revision == 6
    assert (await store.list("/core/pods/a/", start_after="/core/pods/a/x", limit=1)).items[0]["metadata"][
        "name"
    ] == "z"


async def test_prefix_boundaries_match_the_database(store: Store) -> None:
    keys = [
        "/core/pods/a",
        "/core/pods/a/",
        "/core/pods/a/x",
        "/core/pods/a0",
        "/core/pods/a/\U0001f600",
        "/core/pods/b",
    ]
    for i, key in enumerate(keys):
        await create(store, key, pod(f"n{i}"))
    assert [o["metadata"]["name"] for o in (await store.list("/core/pods/a/")).items] == ["n1", "n2", "n4"]
    assert [o["metadata"]["name"] for o in (await store.list("/core/pods/a")).items] == ["n0", "n1", "n2", "n4", "n3"]
    assert len((await store.list("")).items) == len(keys)
    page = await store.list("/core/pods/", limit=2)
    assert page.next_key == "/core/pods/a/"
    rest = await store.list("/core/pods/", start_after=page.next_key)
    assert [o["metadata"]["name"] for o in rest.items] == ["n2", "n4", "n3", "n5"] and rest.next_key is None


async def test_reopening_loads_the_cache_from_the_database(store_url: str) -> None:
    first = open_store(store_url)
    await first.start()
    for i in range(20):
        await create(first, f"/core/pods/a/p{i:02d}", pod(f"p{i:02d}", spec={"i": i}))
    await delete(first, "/core/pods/a/p03")
    await update(first, "/core/pods/a/p04", pod("p04", spec={"i": "changed"}))
    before = await first.list("")
    await first.close()

    second = open_store(store_url)
    await second.start()
    try:
        after = await second.list("")
        assert after == before and after.revision == 22 and len(after.items) == 19
        assert (await second.get("/core/pods/a/p04"))["spec"] == {"i": "changed"}
        with pytest.raises(KeyNotFound):
            await second.get("/core/pods/a/p03")
    finally:
        await second.close()


async def test_two_postgres_servers_converge_and_stale_reads_never_win(fresh_postgres: FreshDatabase) -> None:
    async with fresh_postgres() as url:
        one, two = open_store(url, poll_interval=30.0), open_store(url, poll_interval=30.0)
        await one.start()
        await two.start()
        try:
            await asyncio.gather(
                *(create(one if i % 2 else two, f"/core/pods/a/p{i:02d}", pod(f"p{i:02d}")) for i in range(30))
            )
            await delete(one, "/core/pods/a/p07")
            written = await update(two, "/core/pods/a/p08", pod("p08", spec={"by": "two"}))
            await take(one.watch("/core/pods/", revision_of(written) - 1), 1)  # one has caught up
            assert await one.list("/core/pods/") == await two.list("/core/pods/")
            assert (await one.get("/core/pods/a/p08"))["spec"] == {"by": "two"}
            # A precondition taken from one server's read is checked in SQL, so a write that raced
            # ahead on the other server is never overwritten.
            seen = await one.get("/core/pods/a/p09")
            await update(two, "/core/pods/a/p09", pod("p09", spec={"v": 2}), expected=revision_of(seen))
            with pytest.raises(RevisionMismatch):
                await update(one, "/core/pods/a/p09", pod("p09", spec={"v": 3}), expected=revision_of(seen))
        finally:
            await one.close()
            await two.close()


async def test_a_second_process_on_one_sqlite_file_cannot_lose_updates(tmp_path: Path) -> None:
    """SQLite writers check preconditions against their cache, which another writer of the same file
    would make stale; the revision compare-and-set catches that and the cache reloads."""
    url = f"sqlite:///{tmp_path}/shared.db"
    one, two = open_store(url), open_store(url)
    await one.start()
    await two.start()
    try:
        await create(one, "/core/pods/a/x", pod("x"))
        with pytest.raises(ForeignWrite):
            await create(two, "/core/pods/a/x", pod("x", spec={"by": "two"}))
        with pytest.raises(KeyExists):
            await create(two, "/core/pods/a/x", pod("x", spec={"by": "two"}))
        assert (await two.get("/core/pods/a/x"))["metadata"]["resourceVersion"] == "1"
    finally:
        await one.close()
        await two.close()
