"""The ``status.conditions`` entries the workload controllers write, one shape for every kind."""

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
