"""Deep copies of JSON values (objects, patches), in one place.

Every write to the API copies its object at least once (the client's body, the stored object a patch
applies to, a defaulted copy to compare against), and ``copy.deepcopy`` walks the value in Python,
recording every node in its memo: 16 µs for a small pod, several times that once its managedFields
grow. An orjson round trip does the same in C in a tenth of the time. It is exact for JSON values,
which is what the API handles: bodies are decoded as JSON (or checked to be JSON-compatible when they
came as YAML or protobuf) and the store keeps objects as orjson writes them.

A leaf module: it imports nothing of pykube, so every layer can use it.
"""

from __future__ import annotations

from typing import TypeVar

import orjson

T = TypeVar("T")


def json_copy(value: T) -> T:
    """A deep copy of the JSON value ``value`` (maps with string keys, lists, strings, numbers,
    booleans, None)."""
    copied: T = orjson.loads(orjson.dumps(value))
    return copied
