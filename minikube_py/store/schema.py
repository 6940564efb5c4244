"""The SQL schema shared by both backends, and the key-range clause both use for prefixes.

Keys must sort bytewise on every backend so that a prefix is one contiguous index range and paging
by key means the same thing on SQLite (BINARY collation) and PostgreSQL (``COLLATE "C"``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ColumnElement, MetaData, String, Table, Text, and_, true

#: the key column: plain TEXT compares bytewise on SQLite; PostgreSQL needs the "C" collation
KeyText = Text().with_variant(Text(collation="C"), "postgresql")

metadata = MetaData()

objects = Table(
    "objects",
    metadata,
    Column("key", KeyText, primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("value", Text, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("revision", BigInteger, primary_key=True, autoincrement=False),
    Column("key", KeyText, nullable=False),
    Column("type", String(8), nullable=False),
    Column("value", Text, nullable=False),
    Column("prev_value", Text, nullable=True),
)

#: named counters: REVISION is the newest committed revision, COMPACTED the newest forgotten one
meta = Table(
    "meta", metadata, Column("name", String(32), primary_key=True), Column("value", BigInteger, nullable=False)
)
REVISION = "revision"
COMPACTED = "compacted"


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: unbounded)."""
    stripped = prefix.rstrip(chr(0x10FFFF))
    if not stripped:
        return None
    return stripped[:-1] + chr(ord(stripped[-1]) + 1)


def key_range(column: ColumnElement[str], prefix: str, start_after: str | None = None) -> ColumnElement[bool]:
    """``column`` within ``prefix`` (and after ``start_after``), as an index range, not a LIKE."""
    clauses: list[ColumnElement[bool]] = []
    if start_after is not None and start_after >= prefix:
        clauses.append(column > start_after)
    elif prefix:
        clauses.append(column >= prefix)
    end = prefix_end(prefix)
    if end is not None:
        clauses.append(column < end)
    return and_(*clauses) if clauses else true()
