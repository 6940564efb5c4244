"""Pods stamped out of a workload's pod template, owned by that workload.

Shared by every controller that creates pods (ReplicationController, ReplicaSet, Job, DaemonSet) so
they agree on labels, ownership and naming, as Kubernetes' pod control does.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def controller_ref(owner: Obj) -> Obj:
    """The ownerReference a controller puts on what it creates: ``controller`` marks the one owner
    that manages it, ``blockOwnerDeletion`` makes foreground deletion wait for it."""
    md = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Obj | None, kind: str | None = None) -> Obj | None:
    """The owner reference marked as ``obj``'s controller, if it has one (and it is of ``kind``,
    when named): a controller acts only on what it controls."""
    for ref in (obj or {}).get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref if kind is None or ref.get("kind") == kind else None
    return None


def controller_key(obj: Obj | None, kind: str) -> str | None:
    """The cache key (``namespace/name``) of the ``kind`` controlling ``obj``, if one does."""
    ref = controller_of(obj, kind)
    return None if obj is None or ref is None else f"{obj['metadata']['namespace']}/{ref['name']}"


def owned_object(owner: Obj, api_version: str, kind: str, metadata: Obj, **fields: Any) -> Obj:
    """A new ``kind`` that ``owner`` controls, in the owner's namespace: ``metadata`` without its
    empty entries (Kubernetes leaves them out) plus the controller reference, then ``fields``."""
    md = {key: value for key, value in metadata.items() if value}
    md.update(namespace=owner["metadata"].get("namespace"), ownerReferences=[controller_ref(owner)])
    return {"apiVersion": api_version, "kind": kind, "metadata": md, **fields}


def pod_from_template(
    owner: Obj, template: Obj, *, name_prefix: str | None = None, extra_labels: dict[str, str] | None = None
) -> Obj:
    """A new pod for ``owner``: the template's labels, annotations and spec, a generated name
    (``<owner>-xxxxx`` by default) and a controller reference to ``owner``."""
    tmpl_md = template.get("metadata") or {}
    metadata = {
        "generateName": name_prefix if name_prefix is not None else f"{owner['metadata']['name']}-",
        "labels": {**(tmpl_md.get("labels") or {}), **(extra_labels or {})},
        "annotations": dict(tmpl_md.get("annotations") or {}),
        "finalizers": list(tmpl_md.get("finalizers") or []),
    }
    return owned_object(owner, "v1", "Pod", metadata, spec=copy.deepcopy(template.get("spec") or {}))
