"""Pure planning of a group of commits: no I/O, so the rules of conditional writes are tested alone.

The writer loads the current rows of every key a group of commits touches, then :func:`plan_batch`
decides, commit by commit, which succeed, which revisions they get and which rows and events to write.
A failing commit leaves no trace in the plan, so one bad commit never fails the others sharing the
database transaction, without the cost of a SAVEPOINT per commit.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from minikube_py.store.base import (
    Create,
    Delete,
    Event,
    EventType,
    KeyExists,
    KeyNotFound,
    Obj,
    Op,
    RevisionMismatch,
    StoreError,
)


@dataclass(frozen=True, slots=True)
class Row:
    """A stored object: its revision and its JSON text (which already carries that resourceVersion)."""

    revision: int
    text: str


@dataclass(frozen=True, slots=True)
class EventRow:
    """One row of the events table. For DELETED, ``text`` is the last state (with its old
    resourceVersion: readers stamp the event's revision on decode)."""

    revision: int
    key: str
    type: EventType
    text: str
    prev_text: str | None


@dataclass(slots=True)
class BatchPlan:
    #: per commit, in input order: the values returned to the caller, or the error it raises
    results: list[list[Obj] | StoreError] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    #: final row per touched key (None: deleted); only keys whose state changed
    writes: dict[str, Row | None] = field(default_factory=dict)
    last_revision: int = 0


def stamp(value: Obj, revision: int) -> Obj:
    """A copy of ``value`` whose metadata.resourceVersion is ``revision``; the caller's dict stays as
    it was, since the API layer may still hold and reuse it."""
    metadata = dict(value.get("metadata") or {})
    metadata["resourceVersion"] = str(revision)
    return {**value, "metadata": metadata}


def encode(value: Obj) -> str:
    """The stored text, with ``apiVersion`` and ``kind`` first when the object has them: a LIST then
    sends stored texts as they are after checking their head (see ``typed_head``), without decoding."""
    if "kind" in value and "apiVersion" in value and next(iter(value)) != "apiVersion":
        value = {"apiVersion": value["apiVersion"], "kind": value["kind"], **value}
    return orjson.dumps(value).decode()


@functools.lru_cache(maxsize=256)
def typed_head(api_version: str, kind: str) -> str:
    """How the stored text of an object of ``api_version``/``kind`` begins (see ``encode``)."""
    return orjson.dumps({"apiVersion": api_version, "kind": kind}).decode()[:-1] + ","


def decode(text: str, revision: int | None = None) -> Obj:
    """Parse stored JSON; with ``revision``, overwrite its resourceVersion (used for DELETED values)."""
    value: Obj = orjson.loads(text)
    if revision is not None:
        value.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return value


#: decode_all decodes this many texts between yields to the event loop (~5 ms of work)
DECODE_SLICE = 1000


async def decode_all(texts: Sequence[str]) -> list[Obj]:
    """``texts`` decoded, yielding to the event loop between slices: a long listing must not stall
    every other request."""
    items: list[Obj] = []
    for first in range(0, len(texts), DECODE_SLICE):
        if first:
            await asyncio.sleep(0)
        items.extend(orjson.loads(text) for text in texts[first : first + DECODE_SLICE])
    return items


def decode_event(row: EventRow) -> Event:
    """The event of a stored row; its objects are decoded when first read."""
    return Event(row.type, row.key, row.revision, None, None, text=row.text, prev_text=row.prev_text)


def touched_keys(commits: Sequence[Sequence[Op]]) -> set[str]:
    return {op.key for ops in commits for op in ops}


def plan_batch(current: Mapping[str, Row | None], commits: Sequence[Sequence[Op]], revision: int) -> BatchPlan:
    """Apply ``commits`` in order on top of ``current`` (the stored rows of every touched key; absent
    keys may be missing or None), numbering writes from ``revision + 1``."""
    plan = BatchPlan(last_revision=revision)
    state: dict[str, Row | None] = dict(current)
    for ops in commits:
        try:
            values, events, changes = _apply(state, ops, plan.last_revision)
        except StoreError as err:
            plan.results.append(err)
            continue
        plan.results.append(values)
        plan.events.extend(events)
        state.update(changes)
        plan.writes.update(changes)
        plan.last_revision += len(ops)
    return plan


def _apply(
    state: Mapping[str, Row | None], ops: Sequence[Op], revision: int
) -> tuple[list[Obj], list[EventRow], dict[str, Row | None]]:
    """One commit, all or nothing: raises the first failing op's error before anything is kept."""
    changes: dict[str, Row | None] = {}
    values: list[Obj] = []
    events: list[EventRow] = []
    for op in ops:
        revision += 1
        old = changes[op.key] if op.key in changes else state.get(op.key)
        if isinstance(op, Create):
            if old is not None:
                raise KeyExists(op.key, f"{op.key} already exists")
        else:
            if old is None:
                raise KeyNotFound(op.key, f"{op.key} not found")
            if op.expected is not None and op.expected != old.revision:
                raise RevisionMismatch(op.key, op.expected, old.revision)
        prev_text = None if old is None else old.text
        if isinstance(op, Delete):
            assert old is not None
            values.append(decode(old.text, revision))
            events.append(EventRow(revision, op.key, "DELETED", old.text, prev_text))
            changes[op.key] = None
            continue
        value = stamp(op.value, revision)
        text = encode(value)
        values.append(value)
        events.append(EventRow(revision, op.key, "ADDED" if isinstance(op, Create) else "MODIFIED", text, prev_text))
        changes[op.key] = Row(revision, text)
    return values, events, changes
