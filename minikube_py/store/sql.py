"""The revisioned object store on SQL (SQLAlchemy Core, asyncio), for SQLite and PostgreSQL alike.

Writes: callers queue their commits; one writer task drains the queue and applies everything queued
in one database transaction (its rows are loaded with one query, :func:`plan_batch` decides in
memory, and a handful of executemany statements write the result), so 50 concurrent writers cost a
few transactions rather than 50. One writer per process, plus PostgreSQL's advisory lock across
processes, means revisions commit in revision order: a tailer of the events table never sees a
lower revision appear after a higher one.

Reads (get, list, current_revision) are served from :class:`ObjectCache`, an in-memory mirror of
every current object, loaded at start and kept current by the ordered event path that also feeds the
watch hub; a batch reaches the mirror before its committers and watchers are released, so a read
after commit() returns sees the write. The database is read only at start, for watchers resuming
from old history, and (PostgreSQL) by the tailer and the writer.

On PostgreSQL with several servers, the mirror learns of other servers' writes through the tailer,
so a read on one server may lag a write committed on another by the NOTIFY latency (milliseconds),
exactly as reads from kube-apiserver's watch cache may lag etcd. Conditional writes stay correct
regardless: the writer checks their preconditions against rows it SELECTs inside its locked
transaction, never against the mirror.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from minikube_py.metrics import STORE_COMMIT_DURATION
from minikube_py.store.backend import Backend, Engines
from minikube_py.store.base import (
    Compacted,
    DiskFull,
    Event,
    ListResult,
    Obj,
    Op,
    StoreError,
    TextListResult,
    Unavailable,
)
from minikube_py.store.cache import ObjectCache
from minikube_py.store.encryption import KEYRING_KEY, SECRETS_PREFIX, Encryption, UnknownKey, key_name
from minikube_py.store.feed import EventFeed
from minikube_py.store.plan import BatchPlan, EventRow, Row, decode_all, decode_event, plan_batch, touched_keys
from minikube_py.store.schema import COMPACTED, REVISION, events, key_range, meta, metadata, objects
from minikube_py.store.watch import WatchHub

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Tuning knobs, each with the reason for its default."""

    #: commits grouped into one transaction at most; bounds the IN list and the latency of one batch
    max_batch: int = 512
    #: events kept after automatic compaction: ~40 MB of history with 2 KB objects, and more than the
    #: 5 minutes etcd keeps for Kubernetes at up to ~30 writes/s, a busy small cluster; a watcher that
    #: falls further behind re-lists, which reflectors do anyway
    retain_revisions: int = 10_000
    #: seconds between automatic compactions (None: only explicit compact())
    compact_interval: float | None = 60.0
    #: revisions deleted per compaction transaction, so the writer never waits long on SQLite's lock
    compact_chunk: int = 5_000
    #: recent events held in memory: resuming watchers rarely need the database
    ring_size: int = 4096
    #: events a watcher may have unread before it is expired; one transaction's events arrive at once,
    #: so it must exceed ``max_batch`` for a healthy watcher to keep up
    watch_buffer: int = 2048
    #: events read from the database per query when a watcher resumes from old history
    history_page: int = 1000
    #: seconds between polls of the events table on PostgreSQL, should a NOTIFY be lost
    poll_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.watch_buffer <= self.max_batch:
            raise ValueError("watch_buffer must exceed max_batch, or a burst would expire healthy watchers")

    @classmethod
    def pick(cls, options: dict[str, Any]) -> StoreOptions:
        """The knobs among ``options``; the rest belong to the backend."""
        return cls(**{name: options[name] for name in cls.__dataclass_fields__ if name in options})


#: how long check() waits for the database to answer before calling it unavailable
_CHECK_TIMEOUT = 2.0
#: errors that mean the database could not be reached or lost the connection, not that a statement
#: was wrong: the driver's (wrapped by SQLAlchemy), the socket's, and a connect that timed out
_UNREACHABLE = (DBAPIError, OSError, TimeoutError)


class ForeignWrite(RuntimeError):
    """The revision counter moved under the writer: another process wrote a database this process
    believed it owned (two servers on one SQLite file)."""


class _Delivery:
    """Where the event feed delivers: each batch updates the object cache first, then the watch hub
    (whose publish releases committers waiting for their revision)."""

    def __init__(self, cache: ObjectCache, hub: WatchHub, load: Callable[[], Awaitable[ObjectCache]]) -> None:
        self.cache = cache
        self.hub = hub
        self._load = load

    @property
    def revision(self) -> int:
        return self.cache.revision

    def publish(self, rows: Sequence[EventRow]) -> None:
        self.cache.apply(rows)
        self.hub.publish([decode_event(row) for row in rows])

    async def resync(self) -> None:
        """Reload the cache from the objects table; if the database moved on meanwhile, the events in
        between are lost to the watchers, which the hub expires so they re-list."""
        cache = await self._load()
        self.cache = cache
        if cache.revision != self.hub.revision:
            self.hub.restart(cache.revision)


@dataclass(frozen=True, slots=True)
class _Pending:
    ops: tuple[Op, ...]
    #: the written values and their revision, or the refusal and the revision the transaction saw
    future: asyncio.Future[tuple[list[Obj] | StoreError, int]]


class SqlStore:
    """:class:`minikube_py.store.base.Store` on SQLite or PostgreSQL. Values it hands out, and in
    particular the events shared by all watchers, must be treated as read-only."""

    def __init__(
        self, backend: Backend, options: StoreOptions | None = None, encryption: Encryption | None = None
    ) -> None:
        self._backend = backend
        self._options = options or StoreOptions()
        #: seals Secrets on their way to the database and opens them on the way back (see encryption.py)
        self.encryption = encryption or Encryption()
        #: built once: constructing an ON CONFLICT statement costs ~75 µs, a cached one's key ~0.3 µs
        self._upsert_objects = backend.upsert(objects)
        self._engines: Engines | None = None
        self._delivery: _Delivery | None = None
        self._feed: EventFeed | None = None
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._engines = self._backend.engines()
        compacted = await self._create_schema()
        cache = await self._load()
        options = self._options
        hub = WatchHub(cache.revision, compacted, ring_size=options.ring_size, buffer_size=options.watch_buffer)
        self._delivery = _Delivery(cache, hub, self._load)
        listen = self._backend.listener(self._engines.point)
        self._feed = EventFeed(
            self._delivery, self._tail, listen=listen, poll_interval=options.poll_interval if listen else None
        )
        self._writer = self._spawn(self._write_loop(), "pykube-store-writer")
        self._tasks.append(self._spawn(self._feed.run(), "pykube-store-feed"))
        if options.compact_interval is not None:
            self._tasks.append(self._spawn(self._compact_loop(options.compact_interval), "pykube-store-compactor"))

    async def close(self) -> None:
        """Let every queued commit finish and reach the watchers, then stop."""
        if self._closing or self._engines is None:
            return
        self._closing = True
        assert self._writer is not None and self._delivery is not None
        self._queue.put_nowait(None)
        await self._writer
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._delivery.hub.close()
        await self._engines.dispose()

    @staticmethod
    def _spawn(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A background task whose unexpected end is logged rather than lost."""

        def report(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.error("%s crashed", name, exc_info=task.exception())

        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(report)
        return task

    async def _create_schema(self) -> int:
        """Create what is missing (under the writers' lock, as servers may start together); return
        the compacted revision."""
        async with self._engine().write.begin() as conn:
            await self._backend.lock_revisions(conn)
            await conn.run_sync(metadata.create_all)
            counters = await _counters(conn)
            missing = [{"name": name, "value": 0} for name in (REVISION, COMPACTED) if name not in counters]
            if missing:
                await conn.execute(insert(meta), missing)
        return counters.get(COMPACTED, 0)

    async def _load(self) -> ObjectCache:
        return await self._opened(self._load_once)

    async def _load_once(self) -> ObjectCache:
        """Every current object and the revision they reflect, read in one snapshot, Secrets opened
        with the key ring of that same snapshot."""
        async with self._engine().snapshot.connect() as conn, conn.begin():
            revision = (await _counters(conn))[REVISION]
            await self._adopt_keyring(conn)
            rows = await conn.execute(select(objects.c.key, objects.c.revision, objects.c.value))
            unseal = self.encryption.open
            return ObjectCache(revision, ((row.key, Row(row.revision, unseal(row.key, row.value))) for row in rows))

    async def _adopt_keyring(self, conn: AsyncConnection) -> None:
        """Use the key ring stored now (if encryption was ever enabled)."""
        found = (
            await conn.execute(select(objects.c.revision, objects.c.value).where(objects.c.key == KEYRING_KEY))
        ).first()
        if found is not None:
            await self.encryption.adopt_record(found.value, found.revision)

    async def _opened(self, read: Callable[[], Awaitable[T]]) -> T:
        """Run a read of stored values; when one is sealed with a key this server does not know yet
        (another server rotated), adopt the current key ring and read again: a value whose key was
        dropped meanwhile has been resealed with a newer one, which the second read finds."""
        try:
            return await read()
        except UnknownKey:
            async with self._engine().point.connect() as conn:
                await self._adopt_keyring(conn)
            return await read()

    def _engine(self) -> Engines:
        if self._engines is None:
            raise RuntimeError("the store is not started")
        return self._engines

    def _delivered(self) -> _Delivery:
        if self._delivery is None:
            raise RuntimeError("the store is not started")
        return self._delivery

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, key: str) -> Obj:
        return self._delivered().cache.get(key)

    async def get_text(self, key: str) -> str:
        return self._delivered().cache.get_text(key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None, must_contain: Sequence[str] = ()
    ) -> ListResult:
        page = await self.list_texts(prefix, start_after=start_after, limit=limit, must_contain=must_contain)
        return ListResult(await decode_all(page.texts), page.revision, page.next_key)

    async def list_texts(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None, must_contain: Sequence[str] = ()
    ) -> TextListResult:
        cache = self._delivered().cache
        rows, next_key = cache.select(prefix, start_after, limit)
        texts = [row.text for row in rows]
        if must_contain:
            texts = [text for text in texts if all(part in text for part in must_contain)]
        return TextListResult(texts, cache.revision, next_key)

    async def current_revision(self) -> int:
        return self._delivered().cache.revision

    def count(self, prefix: str) -> int:
        return self._delivered().cache.count(prefix)

    def watch(self, prefix: str, after_revision: int) -> AsyncIterator[Event]:
        return self._delivered().hub.watch(prefix, after_revision, self._history)

    async def _history(self, prefix: str, after: int, upto: int) -> tuple[list[Event], int]:
        """Committed events under ``prefix`` in ``(after, upto]``, one page; raises Compacted when
        part of that range is gone."""
        rows = await self._event_rows(prefix, after, upto)
        found = [decode_event(row) for row in rows]
        return found, (found[-1].revision if len(found) == self._options.history_page else upto)

    async def _tail(self, after: int, upto: int) -> list[EventRow]:
        return await self._event_rows("", after, upto)

    async def _event_rows(self, prefix: str, after: int, upto: int) -> list[EventRow]:
        return await self._opened(lambda: self._event_rows_once(prefix, after, upto))

    async def _event_rows_once(self, prefix: str, after: int, upto: int) -> list[EventRow]:
        query = (
            select(events)
            .where(events.c.revision > after, events.c.revision <= upto, key_range(events.c.key, prefix))
            .order_by(events.c.revision)
            .limit(self._options.history_page)
        )
        async with self._engine().snapshot.connect() as conn, conn.begin():
            compacted = (await _counters(conn))[COMPACTED]
            if compacted > after:
                raise Compacted(after, compacted + 1)
            rows = (await conn.execute(query)).all()
        hub = self._delivered().hub
        hub.compacted = max(hub.compacted, compacted)
        unseal = self.encryption.open
        return [
            EventRow(
                row.revision,
                row.key,
                row.type,
                unseal(row.key, row.value),
                None if row.prev_value is None else unseal(row.key, row.prev_value),
            )
            for row in rows
        ]

    # -- writes ----------------------------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> list[Obj]:
        if self._closing or self._engines is None:
            raise RuntimeError("the store is not running")
        if not ops:
            return []
        future: asyncio.Future[tuple[list[Obj] | StoreError, int]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(tuple(ops), future))
        values, revision = await future
        # a refusal too waits for what it was refused for: a create that found its key taken (by
        # another server, whose write reaches this server's cache through the feed) is followed by
        # reads that find the key
        await self._delivered().hub.wait_published(revision)
        if isinstance(values, StoreError):
            raise values
        return values

    async def _write_loop(self) -> None:
        """Drain the queue: whatever queued while the previous transaction ran forms the next one."""
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._options.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Pending]) -> None:
        commits = [pending.ops for pending in batch]
        started = time.perf_counter()
        try:
            async with self._engine().write.begin() as conn:
                await self._backend.lock_revisions(conn)
                current, revision = await self._current(conn, touched_keys(commits))
                seen = revision
                plan = plan_batch(current, commits, revision)
                if plan.events:
                    await self._write_plan(conn, plan, revision)
                    await self._backend.announce(conn, plan.last_revision)
        except Exception as err:
            log.warning("store: a transaction of %d commits failed: %s", len(batch), err)
            failure = _failure(err)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(failure)
            if not self._backend.shared:
                await self._resync_after_failure()
            return
        STORE_COMMIT_DURATION.observe(time.perf_counter() - started)
        assert self._feed is not None
        self._feed.offer(plan.events)
        revision = plan.last_revision - len(plan.events)
        for pending, result in zip(batch, plan.results, strict=True):
            if not isinstance(result, list):
                if not pending.future.done():
                    pending.future.set_result((result, seen))
                continue
            revision += len(result)
            if not pending.future.done():
                pending.future.set_result((result, revision))

    async def _current(self, conn: AsyncConnection, keys: set[str]) -> tuple[dict[str, Row], int]:
        """The stored rows of ``keys`` and the newest revision, as this transaction must see them.

        PostgreSQL: other servers write too, so both are read in SQL under the revision lock.

        SQLite: this writer is the database's only writer, and its own commits reach the cache
        synchronously (``EventFeed.offer`` publishes a batch that is next in line at once, and on
        SQLite every batch is), so when a transaction begins the cache holds exactly the committed
        state: reading it instead of SELECTing is exact, and saves two statements per transaction.
        Should another process write the file after all, the revision compare-and-set in
        :meth:`_write_plan` detects it and fails the transaction instead of losing an update.

        A batch that writes a Secret also reads the key ring record, so that it seals with the write
        key current at this point of the global order, never with one another server retired.
        """
        secrets = any(key.startswith(SECRETS_PREFIX) for key in keys)
        if self._backend.shared:
            revision = (await _counters(conn))[REVISION]
            found = (
                await conn.execute(
                    select(objects.c.key, objects.c.revision, objects.c.value).where(
                        objects.c.key.in_(keys | {KEYRING_KEY} if secrets else keys)
                    )
                )
            ).all()
            for row in found:
                if row.key == KEYRING_KEY:
                    await self.encryption.adopt_record(row.value, row.revision)
            unseal = self.encryption.open
            return {
                row.key: Row(row.revision, unseal(row.key, row.value)) for row in found if row.key in keys
            }, revision
        cache = self._delivered().cache
        if secrets and (ring := cache.row(KEYRING_KEY)) is not None:
            await self.encryption.adopt_record(ring.text, ring.revision)
        return {key: row for key in keys if (row := cache.row(key)) is not None}, cache.revision

    async def _write_plan(self, conn: AsyncConnection, plan: BatchPlan, revision: int) -> None:
        """Move the revision counter from ``revision`` (compare-and-set), then write the final state
        of each changed key and the events: one statement per kind, each executemany."""
        moved = await conn.execute(
            update(meta).where(meta.c.name == REVISION, meta.c.value == revision).values(value=plan.last_revision)
        )
        if moved.rowcount != 1:
            raise ForeignWrite(f"the revision counter is no longer {revision}: another process wrote the database")
        seal = self.encryption.seal
        # each value as stored (a Secret sealed), once: a written row is also its event's value
        stored = {ev.revision: seal(ev.key, ev.text) for ev in plan.events}
        upserts = [
            {"key": key, "revision": row.revision, "value": stored[row.revision]}
            for key, row in plan.writes.items()
            if row is not None
        ]
        deletes = [key for key, row in plan.writes.items() if row is None]
        if upserts:
            await conn.execute(self._upsert_objects, upserts)
        if deletes:
            await conn.execute(delete(objects).where(objects.c.key.in_(deletes)))
        await conn.execute(
            insert(events),
            [
                {
                    "revision": ev.revision,
                    "key": ev.key,
                    "type": ev.type,
                    "value": stored[ev.revision],
                    "prev_value": None if ev.prev_text is None else seal(ev.key, ev.prev_text),
                }
                for ev in plan.events
            ],
        )

    async def _resync_after_failure(self) -> None:
        """A failed SQLite transaction normally rolled back and left the cache exact, but its outcome
        may be unknown (or another process wrote): reload, so the next batch plans on the truth."""
        assert self._feed is not None
        try:
            await self._feed.resync()
        except Exception:
            log.exception("store: reloading the object cache after a failed transaction failed")

    # -- encryption at rest ----------------------------------------------------------------------

    async def key_usage(self) -> Counter[str]:
        """How many stored Secret values (current objects and history) each key sealed, plain ones
        counted as ``identity``: what must reach zero before a key may be dropped."""
        usage: Counter[str] = Counter()
        async with self._engine().point.connect() as conn:
            for table, columns in ((objects, (objects.c.value,)), (events, (events.c.value, events.c.prev_value))):
                found = await conn.execute(select(*columns).where(key_range(table.c.key, SECRETS_PREFIX)))
                usage.update(key_name(value) for row in found for value in row if value is not None)
        return usage

    async def reencrypt(self) -> int:
        """Seal every stored Secret value, current and historical, with the write key (or store it
        plain when encryption is disabled); returns how many rows changed. Values are rewritten in
        place, not through new revisions: their content is the same, so neither watchers nor
        resourceVersions see a change, and history is covered too, which an update would not be.
        A current row is rewritten only if its revision is still the one read; a writer that
        changed it meanwhile sealed it with the write key already (see :meth:`_current`)."""
        changed = 0
        async with self._engine().point.connect() as conn:
            current = (
                await conn.execute(
                    select(objects.c.key, objects.c.revision, objects.c.value).where(
                        key_range(objects.c.key, SECRETS_PREFIX)
                    )
                )
            ).all()
            history = (
                await conn.execute(
                    select(events.c.revision, events.c.key, events.c.value, events.c.prev_value).where(
                        key_range(events.c.key, SECRETS_PREFIX)
                    )
                )
            ).all()
        reseal = self.encryption.reseal
        rows = [
            {"k": row.key, "r": row.revision, "v": new}
            for row in current
            if (new := reseal(row.key, row.value)) is not None
        ]
        events_rows = []
        for row in history:
            value, prev = reseal(row.key, row.value), row.prev_value and reseal(row.key, row.prev_value)
            if value is not None or prev is not None:
                events_rows.append({"r": row.revision, "v": value or row.value, "p": prev or row.prev_value})
        statements = (
            (
                update(objects)
                .where(objects.c.key == bindparam("k"), objects.c.revision == bindparam("r"))
                .values(value=bindparam("v")),
                rows,
            ),
            (
                update(events)
                .where(events.c.revision == bindparam("r"))
                .values(value=bindparam("v"), prev_value=bindparam("p")),
                events_rows,
            ),
        )
        for statement, params in statements:
            for first in range(0, len(params), self._options.compact_chunk):
                chunk = params[first : first + self._options.compact_chunk]
                async with self._engine().write.begin() as conn:
                    await conn.execute(statement, chunk)
                changed += len(chunk)
        return changed

    # -- compaction ------------------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Forget events at and below ``revision`` (at most the current revision), a chunk per
        transaction so that writers wait at most for one chunk."""
        async with self._engine().point.connect() as conn:
            counters = await _counters(conn)
        target = min(revision, counters[REVISION])
        done = counters[COMPACTED]
        while done < target:
            upto = min(done + self._options.compact_chunk, target)
            async with self._engine().write.begin() as conn:
                await conn.execute(delete(events).where(events.c.revision <= upto))
                await conn.execute(update(meta).where(meta.c.name == COMPACTED, meta.c.value < upto).values(value=upto))
            done = upto
        hub = self._delivered().hub
        hub.compacted = max(hub.compacted, done)

    async def check(self) -> None:
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT), self._engine().point.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except _UNREACHABLE as exc:
            raise Unavailable(_reason(exc)) from None

    async def _compact_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.compact(await self.current_revision() - self._options.retain_revisions)
            except Exception:
                log.exception("store: automatic compaction failed; retrying in %s s", interval)


#: SQLite's SQLITE_FULL, PostgreSQL's disk_full SQLSTATE, and the kernel's ENOSPC and EDQUOT
_SQLITE_FULL, _PG_DISK_FULL, _NO_SPACE = 13, "53100", (errno.ENOSPC, errno.EDQUOT)


def _failure(exc: Exception) -> Exception:
    """What the writers of a failed transaction are told: :class:`DiskFull` when the database's disk
    is full, :class:`Unavailable` when the database cannot be reached, else the error itself."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if (
        getattr(cause, "sqlite_errorcode", None) == _SQLITE_FULL
        or getattr(cause, "sqlstate", None) == _PG_DISK_FULL
        or (isinstance(cause, OSError) and cause.errno in _NO_SPACE)
    ):
        return DiskFull(_reason(exc))
    return Unavailable(_reason(exc)) if isinstance(exc, _UNREACHABLE) else exc


def _reason(exc: BaseException) -> str:
    """One line on why the database failed, for logs and clients (a driver error's first line)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


async def _counters(conn: AsyncConnection) -> dict[str, int]:
    return {row.name: row.value for row in await conn.execute(select(meta.c.name, meta.c.value))}
