"""The one ordered path by which committed events reach the object cache and the watch hub.

The local writer hands over the event rows of each transaction it committed; other servers' writes
(PostgreSQL) are found by reading the events table, woken by LISTEN/NOTIFY and, should a notification
be lost, by a periodic poll. Either way the feed publishes strictly in revision order: a local batch
that is next in line is published at once, inside the writer's turn of the event loop (on SQLite,
every batch), and one that is not waits until every lower revision, local or not, has been published.

The events table is read only when there is something to read there: a notification announced a
revision newer than the published one, a local batch arrived with a gap before it, or the poll timer
fired. (Reading after every local batch would cost a query per transaction for nothing.)

Revisions have no holes (they are allocated under the writers' lock), so a hole can only mean history
compacted before this server read it; the sink then reloads its state from the objects table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from minikube_py.store.base import Compacted
from minikube_py.store.plan import EventRow

log = logging.getLogger(__name__)

#: subscribes ``wake`` (called with the announced revision, or None when unknown) to notifications and
#: runs the follower until the subscription breaks
Listen = Callable[[Callable[[int | None], None], Callable[[], Awaitable[None]]], Awaitable[None]]
#: reads event rows with ``after < revision <= upto`` in revision order, at most one page; raises Compacted
Tail = Callable[[int, int], Awaitable[list[EventRow]]]

_UNBOUNDED = 2**62
#: back-off between attempts to reach a database that failed: quick at first, then every few seconds
_FIRST_RETRY, _LAST_RETRY = 0.5, 8.0


class Sink(Protocol):
    """Where the feed delivers: the store's cache and watch hub."""

    @property
    def revision(self) -> int:
        """The newest revision delivered."""

    def publish(self, rows: Sequence[EventRow]) -> None:
        """Deliver rows that continue ``revision`` without a gap."""

    async def resync(self) -> None:
        """Events after ``revision`` can no longer be read: reload the state as it is now."""


class EventFeed:
    def __init__(
        self, sink: Sink, tail: Tail, *, listen: Listen | None = None, poll_interval: float | None = None
    ) -> None:
        self._sink = sink
        self._tail = tail
        self._listen = listen
        self._poll_interval = poll_interval
        self._local: dict[int, Sequence[EventRow]] = {}
        #: the newest revision known to be committed (from notifications and local batches)
        self._announced = sink.revision
        self._resyncing = False
        self._wake = asyncio.Event()

    def offer(self, rows: Sequence[EventRow]) -> None:
        """Event rows this server committed (contiguous revisions): published now when they are next
        in line, else queued for the follower."""
        if not rows:
            return
        self._announced = max(self._announced, rows[-1].revision)
        if rows[0].revision == self._sink.revision + 1 and not self._local and not self._resyncing:
            self._sink.publish(rows)
            return
        self._local[rows[0].revision] = rows
        self._wake.set()

    async def resync(self) -> None:
        """Reload the sink; local batches offered meanwhile wait, as the reload may already hold them."""
        self._resyncing = True
        try:
            await self._sink.resync()
        finally:
            self._resyncing = False

    def wake(self, announced: int | None = None) -> None:
        """Another server committed up to ``announced`` (None: unknown, read the table to find out)."""
        self._announced = _UNBOUNDED if announced is None else max(self._announced, announced)
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; with ``listen``, (re)subscribe to notifications. A database that
        cannot be reached (restarting, a network cut) never ends the feed: it tries again with
        back-off, polling the events table meanwhile, and resumes from the last revision it
        published, so watchers miss nothing and see nothing twice."""
        delay = _FIRST_RETRY
        while True:
            try:
                await (self._follow() if self._listen is None else self._listen(self.wake, self._follow))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event feed: the database failed (%s); retrying in %.1fs", exc, delay)
            try:  # other servers' writes arrive by polling while notifications cannot
                await self.catch_up()
                delay = _FIRST_RETRY
            except Exception:
                delay = min(delay * 2, _LAST_RETRY)
            await asyncio.sleep(delay)

    async def _follow(self) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for may swallow a cancellation that arrives
        # as the wake event is set, and then the store's close() would wait for this task forever.
        self.wake()  # whatever was committed while nobody listened
        while True:
            self._wake.clear()
            await self.catch_up()
            try:
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            except TimeoutError:
                self.wake()

    async def catch_up(self) -> None:
        """Publish everything known to be committed, in order."""
        sink = self._sink
        while True:
            for start in [start for start, batch in self._local.items() if batch[-1].revision <= sink.revision]:
                del self._local[start]
            following = sink.revision + 1
            if following in self._local:
                sink.publish(self._local.pop(following))
                continue
            if self._local:
                upto = min(self._local) - 1
            elif self._announced > sink.revision:
                upto = _UNBOUNDED
            else:
                return
            announced = self._announced
            try:
                page = await self._tail(sink.revision, upto)
            except Compacted:
                await self.resync()
                continue
            # The writer may have published local batches while the table was read.
            fresh = [row for row in page if row.revision > sink.revision]
            if fresh and fresh[0].revision == sink.revision + 1:
                sink.publish(fresh)
            elif fresh or (not page and sink.revision < upto != _UNBOUNDED):
                await self.resync()  # a hole: those events were compacted before this server read them
            elif not page and self._announced == announced:
                self._announced = sink.revision  # the table holds nothing newer
