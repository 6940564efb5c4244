"""In-process fan-out of committed events to watchers.

Events reach the :class:`WatchHub` strictly in revision order, each exactly once (the store's writer
or, on PostgreSQL, its tailer guarantees it). The hub keeps a ring of the newest events so that a
watcher resuming from a recent revision needs no database read; older resumes read the events table
through a ``History`` callable until the ring takes over. The ring holds events as stored texts
(:meth:`Event.detached`): the live watchers of an event share its decoded objects while they handle
it, but 4,096 decoded Pods and their previous states kept for resumes would be ~50 MiB.

Publishing never waits for a watcher: each one has a bounded buffer, and a watcher whose buffer is
full is ended with :class:`WatchExpired` (a :class:`Compacted`, so the API answers 410 "too old
resource version" and the client re-lists), which keeps a stuck client from holding memory or
slowing anyone else.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from minikube_py.store.base import Compacted, Event, StoreError

#: reads events with ``after < revision <= upto`` under ``prefix`` in revision order, at most one page;
#: returns them and the revision up to which the scan is complete; raises Compacted
History = Callable[[str, int, int], Awaitable[tuple[list[Event], int]]]


class WatchExpired(Compacted):
    """The watcher fell further behind than its buffer allows; it must re-list and watch again."""

    def __init__(self, requested: int, oldest: int) -> None:
        StoreError.__init__(self, "", f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Subscription:
    """One live watcher's buffer, filled by the hub and drained by the watcher's iterator."""

    __slots__ = ("_wakeup", "after", "buffer", "closed", "error", "limit", "prefix")

    def __init__(self, prefix: str, after: int, limit: int) -> None:
        self.prefix = prefix
        self.after = after
        self.limit = limit
        self.buffer: deque[Event] = deque()
        self.error: StoreError | None = None
        self.closed = False
        self._wakeup = asyncio.Event()

    def push(self, event: Event, newest: int) -> bool:
        """Queue ``event``; False when the buffer overflowed and the watcher is now expired."""
        if event.revision <= self.after:
            return True
        if len(self.buffer) >= self.limit:
            delivered = self.buffer[0].revision - 1
            self.buffer.clear()
            self.error = WatchExpired(delivered, newest)
            self._wakeup.set()
            return False
        self.buffer.append(event)
        self._wakeup.set()
        return True

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def next(self) -> Event | None:
        """The next event; None once the hub closed; raises WatchExpired after an overflow."""
        while not self.buffer:
            if self.error is not None:
                raise self.error
            if self.closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        return self.buffer.popleft()


class WatchHub:
    """Holds the newest published revision, the ring of recent events and the live watchers."""

    def __init__(self, revision: int, compacted: int = 0, *, ring_size: int = 4096, buffer_size: int = 1024) -> None:
        self.revision = revision
        self.compacted = compacted
        self.buffer_size = buffer_size
        self._ring: deque[Event] = deque(maxlen=ring_size)
        self._subs: dict[str, set[Subscription]] = {}
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._closed = False

    def publish(self, events: Sequence[Event]) -> None:
        """Deliver ``events``, which must continue the published sequence without a gap."""
        for event in events:
            if event.revision != self.revision + 1:
                raise ValueError(f"event {event.revision} published after {self.revision}")
            self.revision = event.revision
            self._ring.append(event.detached())
            self._fan_out(event)
        self._wake_waiters()

    def _fan_out(self, event: Event) -> None:
        for prefix, subs in self._subs.items():
            if event.key.startswith(prefix):
                expired = [sub for sub in subs if not sub.push(event, self.revision)]
                subs.difference_update(expired)

    def restart(self, revision: int) -> None:
        """Jump to ``revision`` when the events in between can no longer be read (compacted before
        this server saw them): every live watcher is expired, as it would miss them."""
        for subs in self._subs.values():
            for sub in subs:
                sub.error = WatchExpired(self.revision, revision)
                sub.buffer.clear()
                sub.close()
        self._subs.clear()
        self._ring.clear()
        self.revision = revision
        self._wake_waiters()

    def covers(self, after: int) -> bool:
        """Whether every event after ``after`` is in the ring or still to come."""
        return after >= self.revision or (bool(self._ring) and self._ring[0].revision <= after + 1)

    def subscribe(self, prefix: str, after: int) -> Subscription:
        """A live watcher from ``after``, pre-filled from the ring; needs ``covers(after)``."""
        assert self.covers(after)
        sub = Subscription(prefix, after, self.buffer_size)
        if self._closed:
            sub.close()
            return sub
        if self._ring and after < self.revision:
            start = after + 1 - self._ring[0].revision
            sub.buffer.extend(
                ev.detached() for ev in itertools.islice(self._ring, start, None) if ev.key.startswith(prefix)
            )
        self._subs.setdefault(prefix, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.prefix)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.prefix]

    async def watch(self, prefix: str, after: int, history: History) -> AsyncIterator[Event]:
        """Events under ``prefix`` after ``after`` in revision order: from ``history`` while the ring
        does not reach back far enough, then live. ``after == 0`` means "from the oldest retained"."""
        if after and after < self.compacted:
            raise Compacted(after, self.compacted + 1)
        position = after or self.compacted
        while not self.covers(position):
            page, position = await history(prefix, position, self.revision)
            for event in page:
                yield event
        sub = self.subscribe(prefix, position)
        try:
            while (event := await sub.next()) is not None:
                yield event
        finally:
            self.unsubscribe(sub)

    async def wait_published(self, revision: int) -> None:
        """Return once ``revision`` has been published (or the hub closed)."""
        if self.revision >= revision or self._closed:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (revision, next(self._seq), future))
        await future

    def _wake_waiters(self) -> None:
        while self._waiters and (self._closed or self._waiters[0][0] <= self.revision):
            future = heapq.heappop(self._waiters)[2]
            if not future.done():
                future.set_result(None)

    def close(self) -> None:
        """End every watcher's iteration and release every waiter."""
        self._closed = True
        for subs in self._subs.values():
            for sub in subs:
                sub.close()
        self._subs.clear()
        self._wake_waiters()
