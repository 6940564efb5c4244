"""The contract every pykube datastore keeps.

Objects live under keys ``/<group>/<resource>/<namespace>/<name>`` (cluster-scoped kinds leave the
namespace segment out). Every committed write gets a new, globally increasing revision that becomes
the object's ``metadata.resourceVersion``; writes are conditional so that two racing writers get one
success and one :class:`RevisionMismatch` instead of a lost update. Every write also appends an
:class:`Event` to a history from which watchers resume; history older than the compaction point
raises :class:`Compacted` (the API turns it into 410 Gone).

Errors, as a tree::

    StoreError
    ├── KeyNotFound        update/delete/get of a key that does not exist
    ├── KeyExists          create of a key that exists
    ├── RevisionMismatch   update/delete whose expected revision is not the current one
    ├── Compacted          watch from a revision older than the retained history
    └── Unavailable        the database cannot be reached now (the write was not acknowledged)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from minikube_py.store.encryption import Encryption

import orjson

Obj = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]


class StoreError(Exception):
    """Base of every error a store raises; carries the key it concerns."""

    def __init__(self, key: str, message: str = "") -> None:
        super().__init__(message or key)
        self.key = key


class KeyNotFound(StoreError):
    pass


class KeyExists(StoreError):
    pass


class RevisionMismatch(StoreError):
    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(key, f"{key}: expected revision {expected}, found {actual}")
        self.expected = expected
        self.actual = actual


class Compacted(StoreError):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__("", f"revision {requested} is compacted; oldest retained is {oldest}")
        self.requested = requested
        self.oldest = oldest


class Unavailable(StoreError):
    """The database does not answer (restarting, unreachable, disk full): a write was not
    acknowledged and should be retried later; reads are still served from memory."""

    def __init__(self, reason: str) -> None:
        super().__init__("", f"the datastore is unavailable: {reason}")


class DiskFull(Unavailable):
    """The database's disk (or its quota) is full: writes are refused until space is freed, reads
    go on from memory. Unlike an outage this does not pass by itself, so it is told apart."""

    def __init__(self, reason: str) -> None:
        StoreError.__init__(
            self,
            "",
            f"the datastore's disk is full ({reason}): writes are refused until space is freed; reads are still served",
        )


@dataclass(frozen=True, slots=True)
class Create:
    """Create ``key`` with ``value``; fails with KeyExists if it is there."""

    key: str
    value: Obj


@dataclass(frozen=True, slots=True)
class Update:
    """Replace ``key``; ``expected`` is the revision the writer read (None: unconditional)."""

    key: str
    value: Obj
    expected: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove ``key``; ``expected`` as for Update."""

    key: str
    expected: int | None = None


Op = Create | Update | Delete


class Event:
    """One committed change. ``value`` is the object after the write (for DELETED: the last state,
    with the deleting revision as resourceVersion); ``prev`` is the object before it, so a watcher
    with a selector can tell an object that stopped matching (it sees DELETED).

    An event read from the store keeps the stored texts and decodes ``value`` and ``prev`` when they
    are first read: many events (Events, Leases) reach no watcher that looks inside them, and a watcher
    without selectors sends :attr:`text` as it is. Events are shared by all watchers: read-only."""

    __slots__ = ("_deleted_text", "_prev", "_prev_text", "_value", "key", "revision", "text", "type")

    def __init__(
        self,
        type: EventType,
        key: str,
        revision: int,
        value: Obj | None,
        prev: Obj | None,
        *,
        text: str | None = None,
        prev_text: str | None = None,
    ) -> None:
        self.type = type
        self.key = key
        self.revision = revision
        #: the stored JSON of ``value`` when it is exactly that object (not for DELETED, whose value
        #: carries the deleting revision); None when the event was built from objects
        self.text = text if type != "DELETED" else None
        self._value = value
        self._prev = prev
        self._deleted_text = text if type == "DELETED" else None
        self._prev_text = prev_text

    @property
    def value(self) -> Obj:
        if self._value is None:
            source = self.text if self.text is not None else self._deleted_text
            assert source is not None, "an event has a value or its text"
            value: Obj = orjson.loads(source)
            value.setdefault("metadata", {})["resourceVersion"] = str(self.revision)
            self._value = value
        return self._value

    @property
    def prev(self) -> Obj | None:
        if self._prev is None and self._prev_text is not None:
            self._prev = orjson.loads(self._prev_text)
        return self._prev

    def detached(self) -> Event:
        """The same change without the objects decoded so far: what a history of events keeps, so
        that it holds the stored texts only (a decoded Pod takes five times its text) and each
        reader of it decodes its own. An event built from objects has nothing to drop."""
        source = self.text if self.text is not None else self._deleted_text
        if source is None:
            return self
        return Event(self.type, self.key, self.revision, None, None, text=source, prev_text=self._prev_text)

    def __repr__(self) -> str:
        return f"Event({self.type}, {self.key!r}, {self.revision})"


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[Obj]
    revision: int
    #: the last key returned when the page was cut by ``limit``; None when the listing is complete
    next_key: str | None


@dataclass(frozen=True, slots=True)
class TextListResult:
    """A listing as the stored JSON texts, for readers that pass them on without decoding."""

    texts: list[str]
    revision: int
    next_key: str | None


class Store(Protocol):
    """A revisioned object store. Values handed out carry ``metadata.resourceVersion``; values
    handed in may carry any resourceVersion (the store overwrites it)."""

    #: how Secrets are sealed in the database (see :mod:`minikube_py.store.encryption`)
    encryption: Encryption

    async def start(self) -> None:
        """Open connections, create the schema, start background tasks."""

    async def close(self) -> None:
        """Flush pending writes, stop background tasks, close connections."""

    async def get(self, key: str) -> Obj:
        """Current value of ``key``; raises KeyNotFound."""

    async def get_text(self, key: str) -> str:
        """The stored JSON text of ``key``'s current value; raises KeyNotFound."""

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None, must_contain: Sequence[str] = ()
    ) -> ListResult:
        """Objects whose key starts with ``prefix``, in key order, after ``start_after``, at most
        ``limit`` read (``next_key`` says where reading stopped); ``revision`` is the store revision
        the listing reflects. Objects whose stored JSON text lacks one of ``must_contain`` are skipped
        without being decoded (a field selector's cheap first test)."""

    async def list_texts(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None, must_contain: Sequence[str] = ()
    ) -> TextListResult:
        """As :meth:`list`, the stored JSON texts undecoded (each carries its resourceVersion)."""

    async def commit(self, ops: Sequence[Op]) -> list[Obj]:
        """Apply ``ops`` atomically: all of them or none (the first failing op's error is raised).
        Returns, per op, the written value (for Delete: the removed value). Concurrent commits
        are grouped into shared transactions for throughput, but each keeps its own atomicity."""

    async def current_revision(self) -> int:
        """The revision of the newest committed write."""

    def count(self, prefix: str) -> int:
        """How many current objects have a key under ``prefix``: cheap and synchronous, for metrics
        read at scrape time."""

    def watch(self, prefix: str, after_revision: int) -> AsyncIterator[Event]:
        """Events for keys under ``prefix`` with revision > ``after_revision``, in revision order,
        forever (until the consumer stops iterating or the store closes). Raises Compacted
        (on first iteration) when ``after_revision`` predates the retained history."""

    async def compact(self, revision: int) -> None:
        """Forget history at and below ``revision``."""

    async def check(self) -> None:
        """Raise :class:`Unavailable` unless the database answers now (for ``/readyz``)."""

    async def key_usage(self) -> Counter[str]:
        """How many stored Secret values each encryption key sealed (``identity``: plain)."""

    async def reencrypt(self) -> int:
        """Seal every stored Secret value with the current write key; returns the rows changed."""


async def create(store: Store, key: str, value: Obj) -> Obj:
    """Create one object."""
    return (await store.commit([Create(key, value)]))[0]


async def update(store: Store, key: str, value: Obj, expected: int | None = None) -> Obj:
    """Replace one object, conditionally on ``expected``."""
    return (await store.commit([Update(key, value, expected)]))[0]


async def delete(store: Store, key: str, expected: int | None = None) -> Obj:
    """Remove one object, conditionally on ``expected``."""
    return (await store.commit([Delete(key, expected)]))[0]


def revision_of(obj: Obj) -> int:
    """The store revision an object carries (0 if it carries none)."""
    rv = obj.get("metadata", {}).get("resourceVersion")
    return int(rv) if rv else 0
