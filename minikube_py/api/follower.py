"""Server state kept in step with one prefix of the store: a listing, then a watch from its revision.

Several parts of the API server answer requests from memory built from stored objects (the RBAC
policy, the types CRDs serve, the node authorizer's graph) and must follow every change, whichever
server of the cluster wrote it. :class:`PrefixFollower` does the following for them: it loads the
state (the owner's listing, whose revision it returns), applies each watch event, replaces a watch
that fell behind the store's history (or failed) by a fresh load, and lets a write this server
answered wait until the state holds it (:meth:`PrefixFollower.caught_up`), so that a client's next
request sees the effect of its write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field

from minikube_py.guard import cancel_and_wait
from minikube_py.store.base import Compacted, Event, Obj, Store, revision_of

log = logging.getLogger(__name__)


@dataclass(eq=False)
class PrefixFollower:
    """Follows ``prefix`` of ``store``: ``load`` (re)builds the whole state and returns the revision
    its listing was taken at; ``apply`` takes one event after it. ``what`` names the state in logs;
    ``catch_up_timeout`` bounds :meth:`caught_up`."""

    store: Store
    prefix: str
    _: KW_ONLY
    what: str
    load: Callable[[], Awaitable[int]]
    apply: Callable[[Event], None]
    catch_up_timeout: float = 5.0
    #: the newest revision the state holds, and its change's signal to :meth:`caught_up`
    _revision: int = field(default=0, init=False)
    _advanced: asyncio.Condition = field(default_factory=asyncio.Condition, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        """Load the state (before the server answers anything), then follow it in the background."""
        revision = await self._reload()
        self._task = asyncio.create_task(self._follow(revision), name=f"follow {self.what}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _reload(self) -> int:
        revision = await self.load()
        await self._advance(revision)
        return revision

    async def _follow(self, revision: int) -> None:
        while True:
            try:
                async for event in self.store.watch(self.prefix, revision):
                    self.apply(event)
                    revision = event.revision
                    await self._advance(revision)
            except Compacted:
                log.warning("the %s fell behind the store's history; reloading", self.what)
            except Exception:
                log.exception("following the %s failed; reloading", self.what)
                await asyncio.sleep(1.0)
            revision = await self._reload()

    async def _advance(self, revision: int) -> None:
        async with self._advanced:
            self._revision = max(self._revision, revision)
            self._advanced.notify_all()

    async def caught_up(self, obj: Obj) -> None:
        """Until the state holds ``obj``, which this server just wrote (or deleted); after the
        catch-up timeout the write is answered anyway (it is committed; the state follows)."""
        revision = revision_of(obj)
        try:
            async with asyncio.timeout(self.catch_up_timeout), self._advanced:
                await self._advanced.wait_for(lambda: self._revision >= revision)
        except TimeoutError:
            log.warning("the %s have not caught up with revision %d yet", self.what, revision)
