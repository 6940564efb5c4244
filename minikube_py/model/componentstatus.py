"""ComponentStatus (core v1): the health of the control plane's parts, as ``kubectl get
componentstatuses`` (``kubectl get cs``) shows it.

Kubernetes deprecated the resource in 1.19 but still serves it, and people still run ``kubectl get
cs`` as their first check of a cluster. kube-apiserver computes it on every request by probing the
scheduler's and the controller manager's ``/healthz`` and its etcd; nothing is stored, so there is no
watch, no resourceVersion and no creation time. pykube answers for the same three names: its
scheduler and controller manager are one part of the server process, and its datastore (SQLite or
PostgreSQL) stands where etcd does, under etcd's name as k3s's datastore does, since scripts and
monitoring look for ``etcd-0``.

This module holds the pure part: the objects, the selection and the table cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minikube_py.model.kinds import UNSTORED
from minikube_py.model.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]

#: the resource (get and list only: no watch, since nothing of it is stored to change)
RESOURCE = next(rt for rt in UNSTORED if rt.kind == "ComponentStatus")
#: the warning every answer carries (kube-apiserver's deprecated-API warning for v1 ComponentStatus)
DEPRECATION = "v1 ComponentStatus is deprecated in v1.19+"
#: the fields a field selector may name: metadata only, as for every kind without field labels
SELECTABLE = ("metadata.name", "metadata.namespace")
_CONDITION_STATUS = {True: "True", False: "False", None: "Unknown"}


@dataclass(frozen=True)
class Probe:
    """One component's check: ``healthy`` is None when the check itself could not be made (what
    kube-apiserver's probes call Unknown). ``message`` is what the component answered, ``error``
    why the check failed."""

    healthy: bool | None
    message: str = ""
    error: str = ""


def component_status(name: str, probe: Probe) -> Obj:
    """The object for ``name``: only its name in metadata, and one ``Healthy`` condition whose
    message and error are left out when empty, as Go's ``omitempty`` writes them."""
    condition: Obj = {"type": "Healthy", "status": _CONDITION_STATUS[probe.healthy]}
    if probe.message:
        condition["message"] = probe.message
    if probe.error:
        condition["error"] = probe.error
    return {
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": None},
        "conditions": [condition],
    }


def component_list(items: list[Obj]) -> Obj:
    """The list: kube-apiserver's carries no resourceVersion, since nothing of it is stored."""
    return {"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": items}


def unknown_field_message(selector: FieldSelector) -> str | None:
    """The 400's message for a field selector naming a field other than the metadata's."""
    for name in selector.fields:
        if name not in SELECTABLE:
            return f'"{name}" is not a known field selector: only "metadata.name", "metadata.namespace"'
    return None


def selected(items: list[Obj], labels: LabelSelector | None, fields: FieldSelector | None) -> list[Obj]:
    """The items the selectors choose. They have no labels, so a selector that needs one chooses none."""
    chosen = []
    for item in items:
        name = item["metadata"]["name"]
        if labels is not None and not labels.matches({}):
            continue
        if fields is not None and not fields.matches({"metadata.name": name, "metadata.namespace": ""}):
            continue
        chosen.append(item)
    return chosen


def status_cells(obj: Obj) -> list[str]:
    """NAME, STATUS, MESSAGE, ERROR: the ``Healthy`` condition's; STATUS is ``Healthy`` when it is
    True and ``Unhealthy`` otherwise (Unknown too), ``Unknown`` only without that condition."""
    status, message, error = "Unknown", "", ""
    for condition in obj.get("conditions") or []:
        if condition.get("type") == "Healthy":
            status = "Healthy" if condition.get("status") == "True" else "Unhealthy"
            message, error = condition.get("message", ""), condition.get("error", "")
            break
    return [obj["metadata"]["name"], status, message, error]
