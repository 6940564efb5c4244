"""What differs between SQLite and PostgreSQL, so that :mod:`minikube_py.store.sql` is written once.

SQLite (aiosqlite): one process owns the file. WAL mode lets readers run beside the single writer;
``synchronous=NORMAL`` syncs the WAL only at checkpoints, which survives a crash of the *process*
(every committed transaction is in the OS page cache) but may lose the newest transactions on power
loss or a kernel crash; pass ``sqlite_synchronous="FULL"`` to survive those too. Python's own
transaction handling is switched off and the writer issues ``BEGIN IMMEDIATE`` so it takes the write
lock up front instead of failing to upgrade a read lock.

PostgreSQL (asyncpg): several pykube servers share one database. Each write transaction first takes
a transaction-scoped advisory lock, so revisions are allocated and committed in one global order,
and ends with a NOTIFY that wakes the other servers' tailers.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from minikube_py.store.feed import Listen

#: the transaction-scoped advisory lock every PostgreSQL writer holds while it allocates revisions
REVISION_LOCK = 0x706B7562
#: the LISTEN/NOTIFY channel announcing new events (payload: newest revision)
CHANNEL = "pykube_events"
#: execution option naming the statement that opens a SQLite transaction (None: autocommit)
_BEGIN_OPTION = "pykube_begin"
#: options the backends understand, next to the store's own
BACKEND_OPTIONS = frozenset({"sqlite_synchronous", "read_pool_size"})


@dataclass(frozen=True, slots=True)
class Engines:
    """``write``: the single writer connection; ``point``: single-statement reads without a
    transaction; ``snapshot``: multi-statement reads that must see one consistent state."""

    write: AsyncEngine
    read: AsyncEngine
    point: AsyncEngine
    snapshot: AsyncEngine

    async def dispose(self) -> None:
        await self.write.dispose()
        await self.read.dispose()


class Backend:
    """Base of the two backends; ``shared`` says whether other processes may write the database."""

    shared = False
    #: the dialect's INSERT construct, which knows ON CONFLICT
    _insert: Callable[[Table], Any]

    def __init__(self, url: URL, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options

    def engines(self) -> Engines:
        raise NotImplementedError

    def upsert(self, table: Table) -> Any:
        """``INSERT ... ON CONFLICT (primary key) DO UPDATE`` of the other columns: one statement
        writes new and changed rows alike (both dialects spell it the same way)."""
        statement = self._insert(table)
        changed = {column.name: statement.excluded[column.name] for column in table.c if not column.primary_key}
        return statement.on_conflict_do_update(index_elements=list(table.primary_key), set_=changed)

    async def lock_revisions(self, conn: AsyncConnection) -> None:
        """Called first in every write transaction; returns once this transaction may allocate revisions."""

    async def announce(self, conn: AsyncConnection, revision: int) -> None:
        """Called last in every write transaction that created events up to ``revision``."""

    def listener(self, engine: AsyncEngine) -> Listen | None:
        """How the event feed hears of other servers' writes (None: nobody else writes)."""
        return None


class SqliteBackend(Backend):
    _insert = staticmethod(sqlite.insert)

    def engines(self) -> Engines:
        synchronous = str(self.options.get("sqlite_synchronous", "NORMAL")).upper()
        if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"sqlite_synchronous: {synchronous!r}")
        write = self._engine(synchronous, "BEGIN IMMEDIATE", wal=True, pool_size=1)
        read = self._engine(synchronous, "BEGIN", wal=False, pool_size=int(self.options.get("read_pool_size", 4)))
        return Engines(write=write, read=read, point=read.execution_options(**{_BEGIN_OPTION: None}), snapshot=read)

    def _engine(self, synchronous: str, begin: str, *, wal: bool, pool_size: int) -> AsyncEngine:
        # Every use either autocommits one statement or ends its own transaction, so the pool's
        # rollback on return would only cost a round trip to the connection's thread.
        engine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=0,
            pool_reset_on_return=None,
            connect_args={"isolation_level": None},
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _configure(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            statement = conn.get_execution_options().get(_BEGIN_OPTION, begin)
            if statement:
                conn.exec_driver_sql(statement)

        return engine


class PostgresBackend(Backend):
    shared = True

    @staticmethod
    def _insert(table: Table) -> Any:
        # imported here: PostgreSQL's dialect costs every SQLite server ~20 ms of start-up otherwise
        from sqlalchemy.dialects.postgresql import insert

        return insert(table)

    def engines(self) -> Engines:
        write = create_async_engine(self.url, pool_size=1, max_overflow=0, pool_pre_ping=True)
        read = create_async_engine(
            self.url, pool_size=int(self.options.get("read_pool_size", 5)), max_overflow=10, pool_pre_ping=True
        )
        return Engines(
            write=write,
            read=read,
            point=read.execution_options(isolation_level="AUTOCOMMIT"),
            snapshot=read.execution_options(isolation_level="REPEATABLE READ"),
        )

    async def lock_revisions(self, conn: AsyncConnection) -> None:
        await conn.execute(select(func.pg_advisory_xact_lock(REVISION_LOCK)))

    async def announce(self, conn: AsyncConnection, revision: int) -> None:
        await conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": str(revision)})

    def listener(self, engine: AsyncEngine) -> Listen:
        return functools.partial(self._listen, engine)

    async def _listen(
        self, engine: AsyncEngine, wake: Callable[[int | None], None], follow: Callable[[], Awaitable[None]]
    ) -> None:
        """LISTEN on a dedicated connection and run ``follow`` until that connection is lost (raises
        ConnectionError) or ``follow`` fails; the caller reconnects."""
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            lost = asyncio.Event()
            await driver.add_listener(CHANNEL, lambda _conn, _pid, _channel, payload: wake(_announced(payload)))
            driver.add_termination_listener(lambda *_: lost.set())
            follower = asyncio.create_task(follow(), name="pykube-store-follow")
            watchdog = asyncio.create_task(lost.wait(), name="pykube-store-listen-watchdog")
            try:
                await asyncio.wait({follower, watchdog}, return_when=asyncio.FIRST_COMPLETED)
                if follower.done():
                    follower.result()
                raise ConnectionError("the LISTEN connection to PostgreSQL was lost")
            finally:
                follower.cancel()
                watchdog.cancel()
                await asyncio.gather(follower, watchdog, return_exceptions=True)


def _announced(payload: str) -> int | None:
    """The revision a notification announces (None if the payload is not one of ours)."""
    return int(payload) if payload.isdigit() else None


def backend_for(url: str, options: dict[str, Any]) -> Backend:
    """The backend for ``url``: ``sqlite:///PATH`` (or ``sqlite+aiosqlite``) and
    ``postgresql://user:pw@host:port/db`` (or ``postgres://``, ``postgresql+asyncpg://``)."""
    parsed = make_url(url)
    name = parsed.get_backend_name()
    if name == "sqlite":
        database = parsed.database or ""
        if database in {"", ":memory:"} or database.startswith("file::memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared by the writer and the readers")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        return SqliteBackend(parsed.set(drivername="sqlite+aiosqlite"), options)
    if name in {"postgresql", "postgres"}:
        return PostgresBackend(parsed.set(drivername="postgresql+asyncpg"), options)
    raise ValueError(f"unsupported store URL scheme: {parsed.drivername}")
