"""The controller pattern every reconciler follows: informer → work queue → ``reconcile(key)``.

Informers hold an in-memory copy of a collection, fed by list+watch through the API; their event
handlers only enqueue keys. Workers pop keys and reconcile them level-triggered: read the desired
state from the caches, compare with the actual state, write the difference through the API. A
failure re-queues the key with exponential back-off, and all keys' retries together come at most
ten a second (after a burst of a hundred); a key queued many times while waiting is reconciled once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from minikube_py import metrics
from minikube_py.client.errors import ApiError
from minikube_py.client.events import EventRecorder
from minikube_py.client.informer import Handler, Informer, SharedInformers, object_key
from minikube_py.client.rest import ApiClient, Obj
from minikube_py.model.podtemplate import controller_key, controller_of

log = logging.getLogger(__name__)

#: client-go's overall retry limit for a controller (DefaultControllerRateLimiter's token bucket)
RETRY_QPS, RETRY_BURST = 10.0, 100


class TokenBucket:
    """A token bucket that hands out reservations, as golang.org/x/time/rate's ``Reserve``: each
    call takes a token and says how long to wait for it. A full bucket (``burst`` tokens) lets a
    burst through at once; after that tokens come at ``rate`` per second and the waits grow, so
    whatever the callers do, at most ``rate`` reservations per second come due."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._last = clock()

    def reserve(self) -> float:
        """Seconds until the reserved token is there (0: at once). The balance may go negative:
        it is the queue of reservations already promised."""
        now = self._clock()
        self._tokens = min(float(self._burst), self._tokens + (now - self._last) * self._rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class QueueMetrics:
    """client-go's work queue metrics for one named queue: ``workqueue_adds_total``,
    ``workqueue_retries_total``, the time a key waits (``workqueue_queue_duration_seconds``) and is
    worked on (``workqueue_work_duration_seconds``); the depth is read at scrape time."""

    def __init__(self, name: str, queue: WorkQueue) -> None:
        self._adds = metrics.WORKQUEUE_ADDS.labels(name)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(name)
        self._waited = metrics.WORKQUEUE_QUEUE_DURATION.labels(name)
        self._worked = metrics.WORKQUEUE_WORK_DURATION.labels(name)
        # the newest queue of a name is the one measured: a new leadership term builds new controllers
        metrics.WORKQUEUE_DEPTH.labels(name).set_function(queue.__len__)
        self._added: dict[Hashable, float] = {}
        self._started: dict[Hashable, float] = {}

    def added(self, key: Hashable) -> None:
        self._adds.inc()
        self._added.setdefault(key, time.perf_counter())

    def retried(self) -> None:
        self._retries.inc()

    def started(self, key: Hashable) -> None:
        now = time.perf_counter()
        added = self._added.pop(key, None)
        if added is not None:
            self._waited.observe(now - added)
        self._started[key] = now

    def finished(self, key: Hashable) -> None:
        started = self._started.pop(key, None)
        if started is not None:
            self._worked.observe(time.perf_counter() - started)


class _Unmeasured:
    """The metrics of a queue without a name: none, as client-go's unnamed queues report none."""

    def added(self, key: Hashable) -> None:
        pass

    def retried(self) -> None:
        pass

    def started(self, key: Hashable) -> None:
        pass

    def finished(self, key: Hashable) -> None:
        pass


_UNMEASURED = _Unmeasured()


class WorkQueue:
    """Keys to reconcile: deduplicated, never handed to two workers at once, and retried as
    client-go's default controller rate limiter does: after the longer of a per-key exponential
    back-off and the wait for a token of a bucket shared by all keys (10 per second, bursts of
    100). The bucket bounds what a controller whose every key keeps failing costs the event loop;
    the back-off keeps one bad key from spinning.

    Keys come out in the order they were added, unless ``order`` gives each key a rank when it is
    added: then the lowest rank comes out first, keys of equal rank in the order they were added
    (the scheduler's queue takes pods of higher priority first)."""

    def __init__(
        self,
        base_delay: float = 0.05,
        max_delay: float = 60.0,
        *,
        retry_qps: float = RETRY_QPS,
        retry_burst: int = RETRY_BURST,
        clock: Callable[[], float] | None = None,
        name: str = "",
        order: Callable[[Hashable], int] | None = None,
    ) -> None:
        self._queue: asyncio.PriorityQueue[tuple[int, int, Hashable]] = asyncio.PriorityQueue()
        self._order = order
        self._added = itertools.count()
        self._metrics: QueueMetrics | _Unmeasured = QueueMetrics(name, self) if name else _UNMEASURED
        self._queued: set[Hashable] = set()
        self._active: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._base, self._max = base_delay, max_delay
        self._bucket = TokenBucket(retry_qps, retry_burst, clock or time.monotonic)

    def add(self, key: Hashable) -> None:
        if key in self._active:
            if key not in self._dirty:
                self._dirty.add(key)
                self._metrics.added(key)
        elif key not in self._queued:
            self._push(key)
            self._metrics.added(key)

    def _push(self, key: Hashable) -> None:
        self._queued.add(key)
        rank = self._order(key) if self._order is not None else 0
        self._queue.put_nowait((rank, next(self._added), key))

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
        """Queue a failed key again later (client-go's ``AddRateLimited``)."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self._metrics.retried()
        self.add_after(key, self._retry_delay(failures))

    def _retry_delay(self, failures: int) -> float:
        """The longer of the key's back-off after ``failures`` earlier failures and the wait for a
        token (client-go's MaxOfRateLimiter; the token is taken even when the back-off is longer)."""
        return max(min(self._base * 2**failures, self._max), self._bucket.reserve())

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    async def get(self) -> Hashable:
        _rank, _added, key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        self._metrics.started(key)
        return key

    def done(self, key: Hashable) -> None:
        self._active.discard(key)
        self._metrics.finished(key)
        if key in self._dirty:  # added while it was worked on (and counted then): queued again now
            self._dirty.discard(key)
            self._push(key)

    def __len__(self) -> int:
        return self._queue.qsize()


#: Kubernetes' ``ExpectationsTimeout``: a write the informer never shows (a missed watch event, an object
#: someone else deleted before the write's answer came back) stops blocking its owner after this long,
#: so a lost event delays a controller but never wedges it
EXPECTATIONS_TIMEOUT = 300.0


def resource_version(obj: Obj) -> int:
    """An object's resourceVersion as a number: pykube's are revisions of one store counter, so the
    versions of all objects compare as integers (anything else counts as 0, older than every write)."""
    version = obj["metadata"].get("resourceVersion") or ""
    return int(version) if version.isdigit() else 0


@dataclass
class _Write:
    owner: str
    obj: Obj | None  # what the write answered; None for a deletion
    since: float


class OwnWrites:
    """What a controller wrote through the API that its informer's cache does not show yet.

    A controller's next pass must not act on a cache older than its own last pass, or it repeats the
    pass: creates the pods again (their names are generated), takes a rollout step twice, counts a Job's
    pods against a status it already replaced. client-go answers with ControllerExpectations (counters of
    creates and deletes, decremented by watch events) for pods and a written resourceVersion or mutation
    cache for the rest. pykube needs only the second shape, for all of them: every write's answer names
    the object and its resourceVersion, and the versions are revisions of one counter, so "the cache
    holds that version or a newer one, or the object is gone" says exactly when a write has been seen,
    whatever the order and number of the events (counters break on a missed or repeated one) and even
    for generated names (the answer carries the name). A deletion is seen once the object is gone or
    its graceful deletion has begun (what the call causes first).

    Writes are grouped by an owner (a key the caller chooses: the Job's uid for its pods, the
    object's own key for a status write), and ``pending(owner)`` tells a pass whether to wait; ``get``
    overlays the cache with written objects not yet seen there, for a controller that reads its own
    writes instead of waiting. Each write is forgotten when the informer shows it, or stops counting
    after ``timeout`` (logged then: it is a lost event or someone else's delete).
    """

    def __init__(
        self,
        informer: Informer,
        *,
        owners: Informer | None = None,
        timeout: float = EXPECTATIONS_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._informer = informer
        self._timeout, self._clock = timeout, clock
        self._writes: dict[str, _Write] = {}  # object key -> the last write to it
        self._by_owner: dict[str, set[str]] = defaultdict(set)
        informer.add_handler(self._on_change)
        if owners is not None:
            owners.add_handler(self._on_owner)

    def wrote(self, owner: str, obj: Obj) -> Obj:
        """Remember a create's or update's answer ``obj`` (and return it) unless the cache shows it already."""
        cached = self._informer.get(object_key(obj))
        if cached is None or not self._shows(cached, obj):
            self._remember(owner, object_key(obj), obj)
        return obj

    def deleted(self, owner: str, obj: Obj) -> None:
        """Remember that ``obj`` was deleted, unless the cache shows it already."""
        cached = self._informer.get(object_key(obj))
        if cached is not None and not self._shows(cached, None):
            self._remember(owner, object_key(obj), None)

    def pending(self, owner: str) -> float:
        """0 when the cache shows every write of ``owner``'s; else the seconds until the oldest one
        stops counting (its watch event normally comes first, and brings the owner back)."""
        keys = self._by_owner.get(owner)
        if not keys:
            return 0.0
        now = self._clock()
        left = 0.0
        for key in list(keys):
            write = self._writes[key]
            if now - write.since >= self._timeout:
                log.warning(
                    "%s never showed in the cache of %s; %s goes on without it", key, self._informer.path, owner
                )
                self._drop(key)
            else:
                left = max(left, write.since + self._timeout - now)
        return left

    def get(self, key: str) -> Obj | None:
        """The cache's object, or what this controller wrote of it when the cache does not show that yet."""
        write, cached = self._writes.get(key), self._informer.get(key)
        if (
            write is not None
            and write.obj is not None
            and (cached is None or resource_version(cached) < resource_version(write.obj))
        ):
            return write.obj
        return cached

    def forget(self, owner: str) -> None:
        """Drop every write of ``owner`` (it is gone: nothing will wait for them)."""
        for key in list(self._by_owner.get(owner, ())):
            self._drop(key)

    @staticmethod
    def _shows(cached: Obj, written: Obj | None) -> bool:
        """Whether the cached object shows the write (``None``: the deletion)."""
        if written is None:
            return bool(cached["metadata"].get("deletionTimestamp"))
        return resource_version(cached) >= resource_version(written)

    def _remember(self, owner: str, key: str, obj: Obj | None) -> None:
        previous = self._writes.get(key)
        if previous is not None and previous.owner != owner:
            self._drop(key)
        self._writes[key] = _Write(owner, obj, self._clock())
        self._by_owner[owner].add(key)

    def _drop(self, key: str) -> None:
        write = self._writes.pop(key, None)
        if write is not None:
            keys = self._by_owner.get(write.owner)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_owner[write.owner]

    def _on_change(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is None:
            return
        key = object_key(obj)
        write = self._writes.get(key)
        if write is not None and (new is None or self._shows(new, write.obj)):
            self._drop(key)

    def _on_owner(self, old: Obj | None, new: Obj | None) -> None:
        """With ``owners`` (writes grouped by the uids of those objects): an owner that is gone, or
        replaced by a namesake between two watches, has its writes forgotten."""
        uid = (old or {}).get("metadata", {}).get("uid", "")
        if old is not None and (new is None or new["metadata"].get("uid", "") != uid):
            self.forget(uid)


class StatusWrites(OwnWrites):
    """The status replacements a controller made of the objects of its own kind (each under the
    object's key) that its informer's cache does not show yet: the Job, DaemonSet, StatefulSet and
    CronJob controllers write their status the same way and must not act again on an older one."""

    def __init__(self, informer: Informer, client: ApiClient) -> None:
        super().__init__(informer)
        self._client = client

    async def replace(self, obj: Obj, status: Obj) -> Obj:
        """Replace the status of ``obj`` (cached, of the informer's collection) with ``status``
        through the status subresource if it changed, and remember the answer; the object as it now
        stands. The write carries the cached resourceVersion: when someone else wrote the object
        meanwhile, the 409 retries the key once the cache has the newer one."""
        if status == (obj.get("status") or {}):
            return obj
        md = obj["metadata"]
        collection, _, plural = self._informer.path.rpartition("/")
        written = await self._client.replace(
            f"{collection}/namespaces/{md['namespace']}/{plural}/{md['name']}/status", {**obj, "status": status}
        )
        return self.wrote(object_key(obj), written)


def index_discard(index: dict[str, set[str]], bucket: str, key: str) -> None:
    """Take ``key`` out of ``index[bucket]``, dropping the bucket once empty."""
    members = index.get(bucket)
    if members is not None:
        members.discard(key)
        if not members:
            del index[bucket]


class OwnedIndex:
    """The keys of the objects that each owner of ``kind`` controls (its Jobs, its pods...), by the
    owner's key, kept from the (old, new) events of the objects' informer: how a controller finds
    what it controls without scanning the whole collection. Each event queues the owner it concerns,
    and the former one as well when the object changed hands (released, orphaned or gone), as
    Kubernetes' controllers resolve a controllerRef to queue its owner. A namesake of a deleted owner
    shares its key, so readers that want one owner's objects ask :meth:`controlled`, which checks
    the uid. With ``orphans``, for owners that adopt, it also keeps the keys of the objects no one
    controls, by namespace."""

    def __init__(self, kind: str, queue: WorkQueue, *, orphans: bool = False) -> None:
        self._kind, self._queue = kind, queue
        self._of: dict[str, set[str]] = {}
        self._orphans: dict[str, set[str]] | None = {} if orphans else None

    def __getitem__(self, owner: str) -> frozenset[str]:
        """The keys of the objects whose controller is (or was, for a namesake) the ``kind`` of key ``owner``."""
        return frozenset(self._of.get(owner, ()))

    def orphans(self, namespace: str) -> frozenset[str]:
        """The keys of the objects in ``namespace`` without a controller (of any kind)."""
        return frozenset((self._orphans or {}).get(namespace, ()))

    def note(self, old: Obj | None, new: Obj | None) -> str | None:
        """The handler of the objects' informer: index the change and queue the owners it concerns;
        the key of the object's owner now, if it has one of ``kind``."""
        obj = new or old
        assert obj is not None
        key = object_key(obj)
        if self._orphans is not None:
            if new is not None and controller_of(new) is None:
                self._orphans.setdefault(obj["metadata"]["namespace"], set()).add(key)
            else:
                index_discard(self._orphans, obj["metadata"]["namespace"], key)
        old_owner, owner = controller_key(old, self._kind), controller_key(new, self._kind)
        if old_owner and old_owner != owner:
            index_discard(self._of, old_owner, key)
            self._queue.add(old_owner)
        if owner:
            self._of.setdefault(owner, set()).add(key)
            self._queue.add(owner)
        return owner

    def controlled(self, owner: Obj, cache: Informer) -> list[Obj]:
        """The objects of ``cache`` that ``owner`` (an object of ``kind``) controls."""
        uid = owner["metadata"]["uid"]
        return [
            obj
            for key in self[object_key(owner)]
            if (obj := cache.get(key)) is not None and (controller_of(obj) or {}).get("uid") == uid
        ]


class Controller:
    """Base of every reconciler: subclasses set up informers and handlers in ``__init__`` and
    implement ``reconcile``."""

    name = "controller"
    #: the component its events name as their source, where kube-controller-manager's name for it is not ``name``
    event_source: str | None = None
    workers = 1
    #: whether the queue hands out keys by :meth:`queue_rank` rather than first come, first served
    ordered = False

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.queue = WorkQueue(name=self.name, order=self.queue_rank if self.ordered else None)
        self.informers: list[Informer] = []
        #: the controller's events about the objects it acts on (it writes none until it records one)
        self.events = EventRecorder(client, self.event_source or self.name)

    def informer(
        self,
        path: str,
        on_change: Handler | None = None,
        *,
        label_selector: str | None = None,
        metadata_only: bool = False,
    ) -> Informer:
        """The shared informer of ``path``, run and waited for with this controller; ``on_change``
        (if given) is added to its handlers, so a collection and what it queues are declared together.
        ``metadata_only``: this controller reads nothing but the objects' metadata (see
        :meth:`SharedInformers.informer`)."""
        informer = SharedInformers.of(self.client).informer(
            path, label_selector=label_selector, metadata_only=metadata_only
        )
        if informer not in self.informers:
            self.informers.append(informer)
        if on_change is not None:
            informer.add_handler(on_change)
        return informer

    def controlled(self, path: str, owner_kind: str, *, orphans: bool = False) -> tuple[Informer, OwnedIndex]:
        """The informer of what the objects of ``owner_kind`` control (a Job's pods, a CronJob's
        Jobs) and its index of them by owner, whose handler queues the owners each change concerns
        (see :class:`OwnedIndex`)."""
        index = OwnedIndex(owner_kind, self.queue, orphans=orphans)
        return self.informer(path, index.note), index

    def enqueue(self, old: Obj | None, new: Obj | None) -> None:
        """The handler for a controller's own kind: queue the key of the object that changed."""
        obj = new or old
        assert obj is not None
        self.queue.add(object_key(obj))

    async def recorded(
        self, obj: Obj, verb: str, write: Awaitable[object], *, settled: type[ApiError], done: str, failed: str
    ) -> None:
        """Carry out ``write`` for ``obj`` and tell it in an event on ``obj``, as kube-controller-manager
        does: ``Successful<verb>`` with the message ``done``, or a ``Failed<verb>`` warning with
        ``failed`` and the API's message, the error raised again for the key's retry. A ``settled``
        error (what it would create is there already, or what it would delete is gone) tells nothing."""
        try:
            await write
        except settled:
            return
        except ApiError as exc:
            await self.events.record(obj, "Warning", f"Failed{verb}", f"{failed}{exc.message}")
            raise
        await self.events.record(obj, "Normal", f"Successful{verb}", done)

    def queue_rank(self, key: Hashable) -> int:
        """Where ``key`` goes in an :attr:`ordered` controller's queue (lowest first)."""
        return 0

    async def reconcile(self, key: Any) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Run this controller alone (with its own informers)."""
        await run_controllers([self])

    async def run_workers(self) -> None:
        """Reconcile once the caches are filled: acting on a half-listed cache would, say, create
        pods that already exist. The events' background writer stops with the workers: it would
        otherwise outlive the controller's term, waiting for events through a client that was closed."""
        try:
            await asyncio.gather(*(i.synced.wait() for i in self.informers))
            async with asyncio.TaskGroup() as tasks:
                for n in range(self.workers):
                    tasks.create_task(self._worker(), name=f"{self.name}: worker {n}")
        finally:
            self.events.close()

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
