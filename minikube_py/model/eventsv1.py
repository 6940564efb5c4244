"""``events.k8s.io/v1`` Events, to and from the stored core ``v1`` Events.

Kubernetes keeps one kind of Event and serves it in both groups (client-go's newer event recorder
writes ``events.k8s.io/v1``; kubectl and older recorders read and write ``v1``), so an event written
in one group reads in the other. The newer group renames the fields and marks the ones its own
writers leave to the series as deprecated:

- ``regarding`` is ``involvedObject``, ``note`` is ``message``, ``reportingController`` is
  ``reportingComponent``;
- ``deprecatedSource``, ``deprecatedFirstTimestamp``, ``deprecatedLastTimestamp`` and
  ``deprecatedCount`` are ``source``, ``firstTimestamp``, ``lastTimestamp`` and ``count``;
- ``eventTime``, ``series``, ``action``, ``reason``, ``type``, ``related`` and
  ``reportingInstance`` are the same in both.
"""

from __future__ import annotations

from typing import Any

from minikube_py.model.jsoncopy import json_copy

Obj = dict[str, Any]

#: events.k8s.io/v1 name -> core v1 name, for the fields that are named differently
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_NAMES = {core: new for new, core in _RENAMED.items()}


#: the fields both versions have under one name
_SHARED = ("metadata", "eventTime", "series", "action", "reason", "type", "related", "reportingInstance")


def _renamed(obj: Obj, names: dict[str, str], api_version: str) -> Obj:
    """``obj``'s fields of its version under the other version's names; fields neither version has
    are left out, as Go's conversion copies only the fields it knows."""
    converted: Obj = {"apiVersion": api_version, "kind": "Event"}
    for key, value in json_copy(obj).items():
        if key in names:
            converted[names[key]] = value
        elif key in _SHARED:
            converted[key] = value
    return converted


def from_core(event: Obj) -> Obj:
    """The stored core Event as ``events.k8s.io/v1`` answers it."""
    return _renamed(event, _CORE_NAMES, "events.k8s.io/v1")


def to_core(event: Obj) -> Obj:
    """An ``events.k8s.io/v1`` Event as the core Event that is stored."""
    return _renamed(event, _RENAMED, "v1")
