"""The fields each kind offers to field selectors, as kube-apiserver's ``ToSelectableFields``.

Kubernetes does not let a field selector reach into arbitrary paths: each kind publishes a flat
map of a few string-valued fields, and a selector naming anything else is a 400. kubectl and the
controllers lean on exactly these (``spec.nodeName=`` for unscheduled pods, ``involvedObject.*``
for ``describe``'s events), so the names and the string forms (``"true"``, ``"3"``) are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minikube_py.model.kinds import RESOURCES
from minikube_py.model.selectors import FieldSelector

_NAMESPACED = {r.kind: r.namespaced for r in RESOURCES}


def _get(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _text(value: Any) -> str:
    """Go's rendering of the scalar: missing is "", booleans are lower case, numbers plain."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _paths(*paths: str) -> Callable[[dict[str, Any]], dict[str, str]]:
    """Fields whose selector name is their own path in the object."""
    return lambda obj: {p: _text(_get(obj, p)) for p in paths}


def _flags(*paths: str) -> Callable[[dict[str, Any]], dict[str, str]]:
    """Boolean fields; an unset Go bool is false."""
    return lambda obj: {p: _text(bool(_get(obj, p))) for p in paths}


def _event_fields(obj: dict[str, Any]) -> dict[str, str]:
    ref = obj.get("involvedObject") or {}
    found = {f"involvedObject.{k}": _text(ref.get(k)) for k in
             ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
    # ``source`` falls back to the reporting controller for events written through events/v1
    source = _text(_get(obj, "source.component")) or _text(obj.get("reportingComponent"))
    found.update(reason=_text(obj.get("reason")), reportingComponent=_text(obj.get("reportingComponent")),
                 source=source, type=_text(obj.get("type")))
    return found


def _count(path: str) -> Callable[[dict[str, Any]], dict[str, str]]:
    """An integer status counter, which Go renders as "0" when unset."""
    return lambda obj: {path: str(_get(obj, path) or 0)}


def _job_fields(obj: dict[str, Any]) -> dict[str, str]:
    # the selector name is status.successful, the field status.succeeded
    return {"status.successful": str(_get(obj, "status.succeeded") or 0)}


_EXTRA: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "Pod": lambda obj: {
        **_paths("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                 "status.phase", "status.podIP", "status.nominatedNodeName")(obj),
        **_flags("spec.hostNetwork")(obj),
    },
    "Event": _event_fields,
    "Secret": _paths("type"),
    "Node": _flags("spec.unschedulable"),
    "Namespace": _paths("status.phase"),
    "ReplicationController": _count("status.replicas"),
    "ReplicaSet": _count("status.replicas"),
    "Job": _job_fields,
}


def field_set(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    """Every selectable field of ``obj`` with its string value; absent values are ""."""
    md = obj.get("metadata") or {}
    found = {"metadata.name": _text(md.get("name"))}
    if _NAMESPACED.get(kind, True):
        found["metadata.namespace"] = _text(md.get("namespace"))
    extra = _EXTRA.get(kind)
    if extra is not None:
        found.update(extra(obj))
    return found


def selectable_fields(kind: str) -> set[str]:
    return set(field_set(kind, {}))


def unsupported_fields(kind: str, selector: FieldSelector) -> list[str]:
    """Fields named in ``selector`` that ``kind`` does not offer, in the selector's order; the API
    answers 400 ``field label not supported: <field>`` for the first one."""
    offered = selectable_fields(kind)
    return [f for f in selector.fields if f not in offered]


def unsupported_message(field: str) -> str:
    return f"field label not supported: {field}"
