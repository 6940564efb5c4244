"""The controller pattern every reconciler follows: informer → work queue → ``reconcile(key)``.

Informers hold an in-memory copy of a collection, fed by list+watch through the API; their event
handlers only enqueue keys. Workers pop keys and reconcile them level-triggered: read the desired
state from the caches, compare with the actual state, write the difference through the API. A
failure re-queues the key with exponential back-off; a key queued many times while waiting is
reconciled once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from minikube_py.client.rest import ApiClient, Obj
from minikube_py.client.watching import Listing, WatchEvent, watch_forever

log = logging.getLogger(__name__)

#: called with (old, new); old is None for an addition, new is None for a deletion
Handler = Callable[[Obj | None, Obj | None], None]


def object_key(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), as client-go's cache keys."""
    md = obj.get("metadata") or {}
    return f"{md['namespace']}/{md['name']}" if md.get("namespace") else md["name"]


class Informer:
    """A cache of one collection kept current by a watch."""

    def __init__(self, client: ApiClient, path: str, *, label_selector: str | None = None) -> None:
        self.path = path
        self._client = client
        self._label_selector = label_selector
        self.cache: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self._handlers: list[Handler] = []

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def items(self) -> list[Obj]:
        return list(self.cache.values())

    async def run(self) -> None:
        async for item in watch_forever(self._client, self.path, label_selector=self._label_selector):
            if isinstance(item, Listing):
                self._replace(item.items)
                self.synced.set()
            else:
                self._apply(item)

    def _replace(self, items: list[Obj]) -> None:
        fresh = {object_key(obj): obj for obj in items}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                self._notify(old, None)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            self.cache[key] = obj
            if old is None or old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._notify(old, obj)

    def _apply(self, event: WatchEvent) -> None:
        key = object_key(event.object)
        old = self.cache.get(key)
        if event.type == "DELETED":
            self.cache.pop(key, None)
            self._notify(old or event.object, None)
        else:
            self.cache[key] = event.object
            self._notify(old, event.object)

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            try:
                handler(old, new)
            except Exception:
                log.exception("informer handler for %s failed", self.path)


class SharedInformers:
    """One informer per collection for every controller on a client, as client-go's shared
    informer factory: eight controllers watching pods cost one watch, not eight. Cached objects
    are shared, so controllers must copy before they modify."""

    _by_client: WeakKeyDictionary[ApiClient, SharedInformers] = WeakKeyDictionary()

    def __init__(self, client: ApiClient) -> None:
        self._client = client
        self._informers: dict[tuple[str, str | None], Informer] = {}

    @classmethod
    def of(cls, client: ApiClient) -> SharedInformers:
        shared = cls._by_client.get(client)
        if shared is None:
            shared = cls._by_client[client] = cls(client)
        return shared

    def informer(self, path: str, *, label_selector: str | None = None) -> Informer:
        key = (path, label_selector)
        if key not in self._informers:
            self._informers[key] = Informer(self._client, path, label_selector=label_selector)
        return self._informers[key]


class WorkQueue:
    """Keys to reconcile: deduplicated, never handed to two workers at once, retried with per-key
    exponential back-off (as client-go's rate-limited queue)."""

    def __init__(self, base_delay: float = 0.05, max_delay: float = 60.0) -> None:
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()
        self._active: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._base, self._max = base_delay, max_delay

    def add(self, key: Hashable) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Hashable, delay: float) -> None:
        loop = asyncio.get_running_loop()
        timer = self._timers.get(key)
        if timer is not None:
            if timer.when() <= loop.time() + delay:
                return  # an earlier retry is already planned
            timer.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def retry(self, key: Hashable) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(self._base * 2**failures, self._max))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    async def get(self) -> Hashable:
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: Hashable) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def __len__(self) -> int:
        return self._queue.qsize()


class Controller:
    """Base of every reconciler: subclasses set up informers and handlers in ``__init__`` and
    implement ``reconcile``."""

    name = "controller"
    workers = 1

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.queue = WorkQueue()
        self.informers: list[Informer] = []

    def informer(self, path: str, *, label_selector: str | None = None) -> Informer:
        informer = SharedInformers.of(self.client).informer(path, label_selector=label_selector)
        if informer not in self.informers:
            self.informers.append(informer)
        return informer

    async def reconcile(self, key: Any) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Run this controller alone (with its own informers)."""
        await run_controllers([self])

    async def run_workers(self) -> None:
        """Reconcile once the caches are filled: acting on a half-listed cache would, say, create
        pods that already exist."""
        await asyncio.gather(*(i.synced.wait() for i in self.informers))
        async with asyncio.TaskGroup() as tasks:
            for n in range(self.workers):
                tasks.create_task(self._worker(), name=f"{self.name}: worker {n}")

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: reconciling %s failed: %s", self.name, key, exc)
                self.queue.retry(key)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)


async def run_controllers(controllers: Sequence[Controller]) -> None:
    """Run each shared informer once and every controller's workers, until cancelled."""
    informers = list(dict.fromkeys(i for c in controllers for i in c.informers))
    async with asyncio.TaskGroup() as tasks:
        for informer in informers:
            tasks.create_task(informer.run(), name=f"informer {informer.path}")
        for controller in controllers:
            tasks.create_task(controller.run_workers(), name=controller.name)
