"""The protobuf wire format, read without any schema.

Kubernetes objects are proto2 messages, so a reader only needs the four wire types that proto2 still
writes: varints, length-delimited bytes and the two fixed widths. Everything above that (which field
is a string, a nested message or a map entry) is the schema's business, which keeps this module a
pure tokenizer that can be trusted with hostile input: every length is checked against the buffer
before it is used, so a truncated or lying body raises :class:`WireError` instead of misreading.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


class WireType(IntEnum):
    VARINT = 0
    FIXED64 = 1
    LEN = 2
    FIXED32 = 5


#: a varint longer than this cannot hold a 64-bit value
_MAX_VARINT_BYTES = 10


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    if pos < len(buf) and buf[pos] < 0x80:  # field keys and short lengths: most varints are one byte
        return buf[pos], pos + 1
    value = 0
    for shift in range(0, 7 * _MAX_VARINT_BYTES, 7):
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos
    raise WireError("varint longer than 10 bytes")


def to_signed(value: int) -> int:
    """Go's int32 and int64 travel as two's complement uint64 (negative int32s are sign-extended)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def iter_fields(buf: bytes | memoryview) -> Iterator[tuple[int, WireType, int | memoryview]]:
    """Yield ``(field number, wire type, value)`` for each field of one message, in wire order.

    Varints and fixed-width values come as ints, length-delimited values as zero-copy views whose
    meaning (string, bytes, nested message, packed list) the caller decides from its schema.
    """
    view = memoryview(buf)
    pos = 0
    end = len(view)
    while pos < end:
        key, pos = read_varint(view, pos)
        number, raw_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if raw_type == WireType.VARINT:
            value, pos = read_varint(view, pos)
            yield number, WireType.VARINT, value
        elif raw_type == WireType.LEN:
            length, pos = read_varint(view, pos)
            if length > end - pos:
                raise WireError(f"field {number} claims {length} bytes but {end - pos} remain")
            yield number, WireType.LEN, view[pos : pos + length]
            pos += length
        elif raw_type in (WireType.FIXED64, WireType.FIXED32):
            width = 8 if raw_type == WireType.FIXED64 else 4
            if width > end - pos:
                raise WireError(f"truncated fixed-width field {number}")
            yield number, WireType(raw_type), int.from_bytes(view[pos : pos + width], "little")
            pos += width
        else:
            raise WireError(f"unsupported wire type {raw_type} for field {number}")
