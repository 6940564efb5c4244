"""The object cache and the event feed that keeps it current, without a database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import orjson
import pytest

from minikube_py.store.base import Compacted, EventType, KeyNotFound
from minikube_py.store.cache import ObjectCache
from minikube_py.store.feed import EventFeed
from minikube_py.store.plan import EventRow, Row


def text(name: str, revision: int) -> str:
    return orjson.dumps({"metadata": {"name": name, "resourceVersion": str(revision)}}).decode()


def row(revision: int, key: str, type_: EventType = "ADDED") -> EventRow:
    return EventRow(revision, key, type_, text(key.rsplit("/", 1)[-1], revision), None)


def names(cache: ObjectCache, prefix: str, start_after: str | None = None, limit: int | None = None) -> list[str]:
    rows, _ = cache.select(prefix, start_after, limit)
    return [orjson.loads(r.text)["metadata"]["name"] for r in rows]


def test_select_keeps_bytewise_order_and_exact_prefix_boundaries() -> None:
    cache = ObjectCache()
    keys = [
        "/p/a/b",
        "/p/a/a",
        "/p/a/Z",
        "/p/a/é",
        "/p/a/a-1",
        "/p/a",
        "/p/ab/x",
        "/p/a0/y",
        "/p/b/y",
        "/p/a/\U0001f600",
    ]
    cache.apply([row(i + 1, key) for i, key in enumerate(keys)])
    assert names(cache, "/p/a/") == ["Z", "a", "a-1", "b", "é", "\U0001f600"]
    assert names(cache, "/p/a") == ["a", "Z", "a", "a-1", "b", "é", "\U0001f600", "y", "x"]
    assert names(cache, "") == ["a", "Z", "a", "a-1", "b", "é", "\U0001f600", "y", "x", "y"]
    assert names(cache, "/p/c/") == []
    assert cache.revision == len(keys)


def test_select_pages_after_a_key_and_reports_where_it_stopped() -> None:
    cache = ObjectCache()
    cache.apply([row(i, f"/p/a/{i:02d}") for i in range(1, 11)] + [row(11, "/p/b/00")])
    rows, next_key = cache.select("/p/a/", limit=4)
    assert [r.revision for r in rows] == [1, 2, 3, 4] and next_key == "/p/a/04"
    rows, next_key = cache.select("/p/a/", "/p/a/04", 6)
    assert [r.revision for r in rows] == [5, 6, 7, 8, 9, 10] and next_key is None
    rows, next_key = cache.select("/p/a/", "/p/a/08", 2)
    assert [r.revision for r in rows] == [9, 10] and next_key is None
    assert cache.select("/p/a/", "/p/a/99") == ([], None)
    assert cache.select("/p/a/", "/p/a0") == ([], None)
    # start_after before the prefix is ignored, as the SQL key range does
    assert [r.revision for r in cache.select("/p/b/", "/p/a/05")[0]] == [11]
    assert cache.select("/p/a/", limit=0) == ([], None)


def test_apply_updates_deletes_and_rejects_gaps() -> None:
    cache = ObjectCache(5, [("/p/a/x", Row(5, text("x", 5)))])
    cache.apply([row(6, "/p/a/y"), EventRow(7, "/p/a/x", "MODIFIED", text("x2", 7), text("x", 5))])
    assert cache.get("/p/a/x")["metadata"] == {"name": "x2", "resourceVersion": "7"}
    cache.apply([EventRow(8, "/p/a/x", "DELETED", text("x2", 7), text("x2", 7))])
    with pytest.raises(KeyNotFound):
        cache.get("/p/a/x")
    assert names(cache, "/p/") == ["y"] and len(cache) == 1
    with pytest.raises(ValueError):
        cache.apply([row(10, "/p/a/z")])
    assert cache.revision == 8


def test_get_hands_out_fresh_objects() -> None:
    cache = ObjectCache()
    cache.apply([row(1, "/p/a/x")])
    first = cache.get("/p/a/x")
    first["metadata"]["name"] = "mutated"
    assert cache.get("/p/a/x")["metadata"]["name"] == "x"


def test_load_sorts_whatever_order_the_rows_come_in() -> None:
    cache = ObjectCache(9, [("/p/b", Row(2, text("b", 2))), ("/p/a", Row(9, text("a", 9)))])
    assert names(cache, "/p/") == ["a", "b"]
    cache.apply([row(10, "/p/ab")])
    assert names(cache, "/p/") == ["a", "ab", "b"]


class FakeSink:
    """Records what the feed publishes; resync jumps to what the fake table holds."""

    def __init__(self, table: list[EventRow]) -> None:
        self.table = table
        self.revision = 0
        self.published: list[int] = []
        self.resyncs = 0
        self.changed = asyncio.Event()

    def publish(self, rows: Sequence[EventRow]) -> None:
        assert rows[0].revision == self.revision + 1
        self.revision = rows[-1].revision
        self.published.extend(r.revision for r in rows)
        self.changed.set()

    async def resync(self) -> None:
        self.resyncs += 1
        self.revision = max(r.revision for r in self.table)


class FakeTail:
    def __init__(self, table: list[EventRow], compacted: int = 0) -> None:
        self.table = table
        self.compacted = compacted
        self.reads: list[tuple[int, int]] = []

    async def __call__(self, after: int, upto: int) -> list[EventRow]:
        self.reads.append((after, upto))
        if after < self.compacted:
            raise Compacted(after, self.compacted + 1)
        return [r for r in self.table if after < r.revision <= upto][:2]


async def test_local_batches_next_in_line_publish_at_once_without_reading_the_table() -> None:
    table: list[EventRow] = []
    sink, tail = FakeSink(table), FakeTail(table)
    feed = EventFeed(sink, tail)
    feed.offer([row(1, "/k/a"), row(2, "/k/b")])
    feed.offer([row(3, "/k/c")])
    assert sink.published == [1, 2, 3]
    await feed.catch_up()
    assert tail.reads == []


async def test_a_local_batch_after_a_gap_waits_for_the_other_servers_writes() -> None:
    table = [row(1, "/k/a"), row(2, "/k/b"), row(3, "/k/c")]
    sink, tail = FakeSink(table), FakeTail(table)
    feed = EventFeed(sink, tail)
    feed.offer([row(4, "/k/d")])
    assert sink.published == []
    await feed.catch_up()
    assert sink.published == [1, 2, 3, 4]
    assert all(upto == 3 for _, upto in tail.reads)


async def test_announced_writes_are_read_and_a_compacted_gap_resyncs() -> None:
    table = [row(r, f"/k/{r}") for r in range(1, 6)]
    sink, tail = FakeSink(table), FakeTail(table)
    feed = EventFeed(sink, tail)
    feed.wake(3)
    await feed.catch_up()
    assert sink.published[:3] == [1, 2, 3] and sink.resyncs == 0
    published = sink.revision
    table.extend(row(r, f"/k/{r}") for r in range(6, 9))
    tail.compacted = published + 1  # the next event was compacted before this server read it
    feed.wake(8)
    await feed.catch_up()
    assert sink.resyncs == 1 and sink.revision == 8


async def test_a_poll_reads_until_the_table_has_nothing_newer() -> None:
    table = [row(r, f"/k/{r}") for r in range(1, 6)]
    sink, tail = FakeSink(table), FakeTail(table)
    feed = EventFeed(sink, tail, poll_interval=0.01)
    following = asyncio.create_task(feed.run())
    try:
        async with asyncio.timeout(2):
            while sink.revision < 5:
                sink.changed.clear()
                await sink.changed.wait()
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    assert sink.published == [1, 2, 3, 4, 5]


async def test_the_feed_outlives_an_unreachable_database_and_resumes_where_it_was() -> None:
    """Notifications and reads both fail for a while (PostgreSQL restarting): the feed neither ends
    nor skips or repeats an event; once the database answers it publishes from where it stopped."""
    table = [row(r, f"/k/{r}") for r in range(1, 4)]
    sink, tail = FakeSink(table), FakeTail(table)
    down = True
    listens = 0
    retried = asyncio.Event()

    async def listen(wake: Callable[[int | None], None], follow: Callable[[], Awaitable[None]]) -> None:
        nonlocal listens
        listens += 1
        if listens == 2:
            retried.set()
        if down:
            raise ConnectionRefusedError("connect call failed")
        await follow()

    async def flaky_tail(after: int, upto: int) -> list[EventRow]:
        if down:
            raise OSError("connection reset")
        return await tail(after, upto)

    feed = EventFeed(sink, flaky_tail, listen=listen, poll_interval=0.01)
    following = asyncio.create_task(feed.run())
    try:
        async with asyncio.timeout(5):
            await retried.wait()  # failed, backed off, tried again: still running
            assert not following.done() and sink.published == []
            table.extend(row(r, f"/k/{r}") for r in range(4, 7))
            down = False
            while sink.revision < 6:
                sink.changed.clear()
                await sink.changed.wait()
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    assert sink.published == [1, 2, 3, 4, 5, 6]


def test_count_is_the_number_of_keys_under_a_prefix() -> None:
    cache = ObjectCache()
    cache.apply(
        [
            row(1, "/core/pods/a/x"),
            row(2, "/core/pods/a/y"),
            row(3, "/core/pods/b/z"),
            row(4, "/core/podsx/a/q"),
            row(5, "/apps/deployments/a/d"),
        ]
    )
    assert cache.count("/core/pods/") == 3
    assert cache.count("/core/pods/a/") == 2
    assert cache.count("/core/podsx/") == 1
    assert cache.count("/batch/jobs/") == 0
    assert cache.count("") == 5
    cache.apply([row(6, "/core/pods/a/x", "DELETED")])
    assert cache.count("/core/pods/") == 2
