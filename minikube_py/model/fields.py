"""The fields each kind offers to field selectors, as kube-apiserver's ``ToSelectableFields``.

Kubernetes does not let a field selector reach into arbitrary paths: each kind publishes a flat
map of a few string-valued fields, and a selector naming anything else is a 400. kubectl and the
controllers lean on exactly these (``spec.nodeName=`` for unscheduled pods, ``involvedObject.*``
for ``describe``'s events), so the names and the string forms (``"true"``, ``"3"``) are kept.

Every kind offers ``metadata.name`` (and ``metadata.namespace`` when namespaced); the fields a kind
offers beyond those are a function here (``pod_fields``, ...), named by its
:class:`~minikube_py.model.kindrules.KindRules`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from minikube_py.model.selectors import FieldSelector

#: the fields one kind offers beyond ``metadata.name`` and ``metadata.namespace``
Extra = Callable[[dict[str, Any]], dict[str, str]]


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


def field_paths(*paths: str) -> Extra:
    """Fields whose selector name is their own path in the object (a CRD's ``selectableFields`` too)."""
    return lambda obj: {p: _text(_get(obj, p)) for p in paths}


def _flags(*paths: str) -> Extra:
    """Boolean fields; an unset Go bool is false."""
    return lambda obj: {p: _text(bool(_get(obj, p))) for p in paths}


def _count(path: str) -> Extra:
    """An integer status counter, which Go renders as "0" when unset."""
    return lambda obj: {path: str(_get(obj, path) or 0)}


def no_fields(obj: dict[str, Any]) -> dict[str, str]:
    """A kind that offers nothing beyond its name (and namespace)."""
    return {}


def pod_fields(obj: dict[str, Any]) -> dict[str, str]:
    return {
        **field_paths(
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        )(obj),
        **_flags("spec.hostNetwork")(obj),
    }


def event_fields(obj: dict[str, Any]) -> dict[str, str]:
    ref = obj.get("involvedObject") or {}
    found = {
        f"involvedObject.{k}": _text(ref.get(k))
        for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
    # ``source`` falls back to the reporting controller for events written through events/v1
    source = _text(_get(obj, "source.component")) or _text(obj.get("reportingComponent"))
    found.update(
        reason=_text(obj.get("reason")),
        reportingComponent=_text(obj.get("reportingComponent")),
        source=source,
        type=_text(obj.get("type")),
    )
    return found


def job_fields(obj: dict[str, Any]) -> dict[str, str]:
    # the selector name is status.successful, the field status.succeeded
    return {"status.successful": str(_get(obj, "status.succeeded") or 0)}


secret_fields = field_paths("type")
node_fields = _flags("spec.unschedulable")
namespace_fields = field_paths("status.phase")
#: ReplicationControllers and ReplicaSets
replicas_fields = _count("status.replicas")


def object_fields(obj: dict[str, Any], *, namespaced: bool, extra: Extra) -> dict[str, str]:
    """Every selectable field of ``obj`` with its string value; absent values are ""."""
    md = obj.get("metadata") or {}
    found = {"metadata.name": _text(md.get("name"))}
    if namespaced:
        found["metadata.namespace"] = _text(md.get("namespace"))
    found.update(extra(obj))
    return found


def field_set(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    """:func:`object_fields` by the rules of the kind named ``kind``; the API server asks the kind's
    strategy instead."""
    # imported here: the table of kind rules is made of this module's field functions
    from minikube_py.model.kindrules import rules_of

    return rules_of(kind).field_set(obj)


def selectable_fields(kind: str) -> set[str]:
    return set(field_set(kind, {}))


def unsupported_fields(kind: str, selector: FieldSelector) -> list[str]:
    """Fields named in ``selector`` that ``kind`` does not offer, in the selector's order; the API
    answers 400 ``field label not supported: <field>`` for the first one."""
    return not_offered(selectable_fields(kind), selector)


def not_offered(offered: Collection[str], selector: FieldSelector) -> list[str]:
    """Fields named in ``selector`` that are not among ``offered``, in the selector's order."""
    return [f for f in selector.fields if f not in offered]


def unsupported_message(field: str) -> str:
    return f"field label not supported: {field}"
