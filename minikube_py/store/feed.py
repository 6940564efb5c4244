"""The one ordered path by which committed events reach the watch hub.

The local writer hands over the events of each transaction it committed; other servers' writes
(PostgreSQL) are found by reading the events table, woken by LISTEN/NOTIFY and, should a
notification be lost, by a periodic poll. Either way the feed publishes strictly in revision order:
a local batch waits until every lower revision, local or not, has been published. Revisions have no
holes (they are allocated under the writers' lock), so a hole can only mean history compacted before
this server read it; the hub is then restarted, expiring its watchers so they re-list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from minikube_py.store.base import Compacted, Event
from minikube_py.store.watch import History, WatchHub

log = logging.getLogger(__name__)

#: subscribes ``wake`` to notifications and runs until the subscription breaks (then returns)
Listen = Callable[[Callable[[], None], Callable[[], Awaitable[None]]], Awaitable[None]]

_UNBOUNDED = 2**62


class EventFeed:
    def __init__(
        self, hub: WatchHub, history: History, *, listen: Listen | None = None, poll_interval: float | None = None
    ) -> None:
        self._hub = hub
        self._history = history
        self._listen = listen
        self._poll_interval = poll_interval
        self._local: dict[int, Sequence[Event]] = {}
        self._wake = asyncio.Event()

    def offer(self, events: Sequence[Event]) -> None:
        """Events this server committed (contiguous revisions); published as soon as their turn comes."""
        if events:
            self._local[events[0].revision] = events
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; with ``listen``, (re)subscribe to notifications, polling meanwhile."""
        if self._listen is None:
            await self._follow()
            return
        while True:
            try:
                await self._listen(self.wake, self._follow)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event feed: listening failed; polling until it recovers")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._follow(), self._poll_interval or 1.0)

    async def _follow(self) -> None:
        while True:
            self._wake.clear()
            await self.catch_up()
            if self._poll_interval is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def catch_up(self) -> None:
        """Publish everything committed so far, in order."""
        hub = self._hub
        while True:
            for start in [start for start, batch in self._local.items() if batch[-1].revision <= hub.revision]:
                del self._local[start]
            following = hub.revision + 1
            if following in self._local:
                hub.publish(self._local.pop(following))
                continue
            upto = min(self._local) - 1 if self._local else _UNBOUNDED
            try:
                page, _ = await self._history("", hub.revision, upto)
            except Compacted as err:
                hub.restart(err.oldest - 1)
                continue
            if page and page[0].revision != following:
                hub.restart(page[0].revision - 1)
            elif not page and upto != _UNBOUNDED:
                hub.restart(upto)
            if page:
                hub.publish(page)
            elif upto == _UNBOUNDED:
                return
