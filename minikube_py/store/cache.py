"""The in-memory mirror of every current object, from which the store serves get() and list().

Like kube-apiserver's watch cache, the mirror is loaded once from the objects table (together with the
revision it reflects) and then kept current by applying committed events in revision order, the same
ordered path that feeds the watch hub; the store applies a batch here *before* it releases watchers and
committers, so a read after a commit returns sees that commit.

Values are kept as the JSON text the store already wrote (with its resourceVersion inside), not as
dicts: decoding 2 KB with orjson (~5 µs) is three times faster than deep-copying a parsed dict in
Python, every reader gets a fresh object it may mutate, and text is far more compact in memory.

Keys are kept in a plain sorted list maintained with ``bisect``: measured, an insert or delete costs
~1 µs at 10,000 keys, ~7 µs at 100,000 and ~20 µs at 300,000 (a memmove of the pointer array), which
stays far below the cost of the SQL write that precedes it, so no balanced tree is needed.

Pure data structure: no I/O, no asyncio.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from minikube_py.store.base import KeyNotFound, Obj
from minikube_py.store.plan import EventRow, Row, decode
from minikube_py.store.schema import prefix_end


class ObjectCache:
    """Current rows by key plus their keys in sorted (code point = UTF-8 byte) order, at ``revision``."""

    __slots__ = ("_keys", "_rows", "revision")

    def __init__(self, revision: int = 0, rows: Iterable[tuple[str, Row]] = ()) -> None:
        self.revision = revision
        self._rows: dict[str, Row] = dict(rows)
        self._keys: list[str] = sorted(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, key: str) -> Row | None:
        return self._rows.get(key)

    def get(self, key: str) -> Obj:
        """A fresh copy of the current value of ``key``; raises KeyNotFound."""
        return decode(self.get_text(key))

    def get_text(self, key: str) -> str:
        """The stored text of the current value of ``key``; raises KeyNotFound."""
        row = self._rows.get(key)
        if row is None:
            raise KeyNotFound(key, f"{key} not found")
        return row.text

    def apply(self, rows: Sequence[EventRow]) -> None:
        """Apply committed events, which must continue ``revision`` without a gap (a gap means this
        mirror missed writes and must be reloaded, which the caller does)."""
        for event in rows:
            if event.revision != self.revision + 1:
                raise ValueError(f"event {event.revision} applied after {self.revision}")
            self.revision = event.revision
            if event.type == "DELETED":
                if self._rows.pop(event.key, None) is not None:
                    del self._keys[bisect.bisect_left(self._keys, event.key)]
                continue
            if event.key not in self._rows:
                bisect.insort(self._keys, event.key)
            self._rows[event.key] = Row(event.revision, event.text)

    def count(self, prefix: str) -> int:
        """How many keys start with ``prefix``: two bisections, whatever the size."""
        keys = self._keys
        low = bisect.bisect_left(keys, prefix)
        end = prefix_end(prefix)
        return (len(keys) if end is None else bisect.bisect_left(keys, end, low)) - low

    def select(
        self, prefix: str, start_after: str | None = None, limit: int | None = None
    ) -> tuple[list[Row], str | None]:
        """Rows under ``prefix`` in key order, after ``start_after``, at most ``limit``, and the last key
        returned when ``limit`` cut the listing short. Rows are immutable, so the caller may decode them
        later (yielding to the event loop meanwhile) and still see this one consistent state."""
        keys = self._keys
        if start_after is not None and start_after >= prefix:
            low = bisect.bisect_right(keys, start_after)
        else:
            low = bisect.bisect_left(keys, prefix)
        end = prefix_end(prefix)
        high = len(keys) if end is None else bisect.bisect_left(keys, end, low)
        next_key = None
        if limit is not None and high - low > limit:
            high = low + limit
            next_key = keys[high - 1] if limit > 0 else None
        rows = self._rows
        return [rows[key] for key in keys[low:high]], next_key
