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


@dataclass(frozen=True, slots=True)
class Event:
    """One committed change. ``value`` is the object after the write (for DELETED: the last state,
    with the deleting revision as resourceVersion); ``prev`` is the object before it, so a watcher
    with a selector can tell an object that stopped matching (it sees DELETED)."""

    type: EventType
    key: str
    revision: int
    value: Obj
    prev: Obj | None


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[Obj]
    revision: int
    #: the last key returned when the page was cut by ``limit``; None when the listing is complete
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

    async def list(self, prefix: str, *, start_after: str | None = None, limit: int | None = None,
                   must_contain: Sequence[str] = ()) -> ListResult:
        """Objects whose key starts with ``prefix``, in key order, after ``start_after``, at most
        ``limit`` read (``next_key`` says where reading stopped); ``revision`` is the store revision
        the listing reflects. Objects whose stored JSON text lacks one of ``must_contain`` are skipped
        without being decoded (a field selector's cheap first test)."""

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
