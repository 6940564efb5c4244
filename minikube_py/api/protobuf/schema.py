"""The vocabulary the field tables are written in.

A message is a plain mapping from field number to :class:`Field`; a field knows its JSON name, what
its bytes mean and whether the JSON encoder would show its zero value. The tables describe only the
fields pykube cares about; the decoder skips the rest, just as an old apiserver skips fields added
by a newer client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias


class Scalar(Enum):
    """Leaf types. The last four are tiny messages on the wire but single values in JSON."""

    STRING = "string"
    BYTES = "bytes"  # base64 in JSON
    INT = "int"
    BOOL = "bool"
    TIME = "time"  # metav1.Time {1: seconds}; RFC 3339 in JSON, omitted when zero
    INT_OR_STRING = "intorstring"  # intstr.IntOrString {1: type, 2: intVal, 3: strVal}
    QUANTITY = "quantity"  # resource.Quantity {1: string}


class Shape(Enum):
    ONE = "one"
    LIST = "list"
    MAP = "map"  # repeated {1: key, 2: value} entries; ``type`` is the value's


Message: TypeAlias = Mapping[int, "Field"]


@dataclass(frozen=True, slots=True)
class Field:
    #: JSON name; empty for an embedded Go struct whose fields JSON inlines into the parent
    name: str
    type: Scalar | Message
    shape: Shape = Shape.ONE
    #: show 0 / false / an int-or-string 0: the Go field is a pointer (on the wire only when set)
    #: or has no ``omitempty``. Other zero scalars, empty strings and empty lists/maps are dropped.
    keep: bool = False


def string(name: str) -> Field:
    return Field(name, Scalar.STRING)


def integer(name: str, keep: bool = False) -> Field:
    return Field(name, Scalar.INT, keep=keep)


def boolean(name: str, keep: bool = False) -> Field:
    return Field(name, Scalar.BOOL, keep=keep)


def time(name: str) -> Field:
    return Field(name, Scalar.TIME)


def int_or_string(name: str, keep: bool = False) -> Field:
    return Field(name, Scalar.INT_OR_STRING, keep=keep)


def quantity(name: str) -> Field:
    return Field(name, Scalar.QUANTITY)


def message(name: str, of: Message) -> Field:
    return Field(name, of)


def inline(of: Message) -> Field:
    return Field("", of)


def strings(name: str) -> Field:
    return Field(name, Scalar.STRING, Shape.LIST)


def integers(name: str) -> Field:
    return Field(name, Scalar.INT, Shape.LIST)


def messages(name: str, of: Message) -> Field:
    return Field(name, of, Shape.LIST)


def string_map(name: str) -> Field:
    return Field(name, Scalar.STRING, Shape.MAP)


def bytes_map(name: str) -> Field:
    return Field(name, Scalar.BYTES, Shape.MAP)


def quantity_map(name: str) -> Field:
    """``ResourceList``: resource name to Quantity, e.g. ``limits`` and ``requests``."""
    return Field(name, Scalar.QUANTITY, Shape.MAP)
