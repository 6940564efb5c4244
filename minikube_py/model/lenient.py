"""Reading objects before anything has checked their shape.

Validation, defaulting and the planners read what a client sent: a field documented as an object may
arrive as a string, a list as a number. These read such a field as its expected JSON type or as empty,
so a check can go on to report the wrong type as a field error instead of failing on it.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def as_dict(value: Any) -> Obj:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def dict_items(value: Any) -> list[Obj]:
    """The objects in ``value`` if it is a JSON array (its other items left out), else none."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
