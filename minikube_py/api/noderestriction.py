"""Kubernetes' NodeRestriction admission: what a node may write into the objects the Node authorizer
lets it write, which the request's path alone does not tell.

- A node may create only its own Node, Lease and CSINode (the name is in the body of a create).
- It may not set or change labels under ``node-restriction.kubernetes.io/`` on its Node (they are
  for administrators to steer workloads to trusted nodes), nor change its Node's taints once it
  exists (administrators and controllers set them).
- It may not add ephemeral containers to a pod (``pods/<name>/ephemeralcontainers``): debugging
  containers are a user's to start, not a node's, even one that runs the pod.

The authenticated node of the request in hand is :data:`ACTING_NODE`, set by the authentication
middleware; writes made by the server's own parts (no request) are not restricted.
"""

from __future__ import annotations

from contextvars import ContextVar

from minikube_py.model import errors
from minikube_py.model.kinds import ResourceType
from minikube_py.store.base import Obj

#: the node a request authenticates as ("" for any other user, and outside requests)
ACTING_NODE: ContextVar[str] = ContextVar("acting_node", default="")
RESTRICTED_LABEL_PREFIX = "node-restriction.kubernetes.io/"


def admit(rt: ResourceType, new: Obj, old: Obj | None, subresource: str | None = None) -> None:
    """403 Forbidden when the requesting node may not make this write (``subresource``: the one it
    goes through, if any)."""
    node = ACTING_NODE.get()
    if not node:
        return
    if rt.group == "" and rt.plural == "pods" and subresource == "ephemeralcontainers":
        name = (new.get("metadata") or {}).get("name", "")
        raise errors.forbidden_object(rt, name, f"node {node!r} is not allowed to modify ephemeral containers")
    if rt.group == "" and rt.plural == "nodes":
        _admit_node(rt, node, new, old)
    elif rt.group == "coordination.k8s.io" and rt.plural == "leases" and old is None:
        name = (new.get("metadata") or {}).get("name", "")
        if name != node:
            raise errors.forbidden_object(rt, name, f"node {node!r} may only create its own Lease, not {name!r}")
    elif rt.group == "storage.k8s.io" and rt.plural == "csinodes":
        name = (new.get("metadata") or {}).get("name", "")
        if name != node:
            raise errors.forbidden_object(rt, name, "can only access CSINode with the same name as the requesting node")


def _admit_node(rt: ResourceType, node: str, new: Obj, old: Obj | None) -> None:
    name = (new.get("metadata") or {}).get("name", "")
    if name != node:
        raise errors.forbidden_object(rt, name, f"node {node!r} is not allowed to modify node {name!r}")
    labels = (new.get("metadata") or {}).get("labels") or {}
    before = ((old or {}).get("metadata") or {}).get("labels") or {}
    changed = sorted(
        k for k in {*labels, *before} if k.startswith(RESTRICTED_LABEL_PREFIX) and labels.get(k) != before.get(k)
    )
    if changed:
        raise errors.forbidden_object(rt, name, f"node {node!r} is not allowed to modify labels: {', '.join(changed)}")
    if old is not None and (new.get("spec") or {}).get("taints") != (old.get("spec") or {}).get("taints"):
        raise errors.forbidden_object(rt, name, f"node {node!r} is not allowed to modify taints")
