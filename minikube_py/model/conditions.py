"""The ``status.conditions`` entries the workload controllers write, one shape for every kind, and
the rule every status field they write follows: an empty one is left out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from minikube_py.model.times import rfc3339

Obj = dict[str, Any]


def new_condition(kind: str, status: str, reason: str, message: str, now: datetime, *, stamped: str) -> Obj:
    """A condition that changes ``now``: its transition time and the kind's other time field,
    ``stamped`` (a Job's ``lastProbeTime``, a Deployment's ``lastUpdateTime``), both say so."""
    stamp = rfc3339(now)
    return {
        "type": kind,
        "status": status,
        stamped: stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def get_condition(status: Mapping[str, Any], kind: str) -> Obj | None:
    """The condition of type ``kind`` in an object's ``status``, if it has one."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def set_or_omit(status: Obj, key: str, value: Any) -> None:
    """Set ``status[key]``, or drop it when ``value`` is empty (no items, a zero count): Kubernetes
    serialises status fields with ``omitempty``, so an empty one is absent rather than ``[]`` or 0."""
    if value:
        status[key] = value
    else:
        status.pop(key, None)


def remove_condition(status: Obj, kind: str) -> None:
    """Drop the condition of type ``kind``, and ``conditions`` with it when none is left."""
    set_or_omit(status, "conditions", [c for c in status.get("conditions") or [] if c.get("type") != kind])
