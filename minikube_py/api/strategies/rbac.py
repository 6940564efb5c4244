"""Roles, ClusterRoles and their bindings (rbac.authorization.k8s.io/v1).

Their ``rules`` and ``subjects`` lists are atomic in Kubernetes' types, so patches replace them
whole; validation and the immutable ``roleRef`` are the kinds' pure rules (:mod:`minikube_py.model.rbac`).
Who may write them, and what they may grant, is the authorizer's escalation check
(:mod:`minikube_py.api.rbac`), because it depends on the requesting user.
"""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import rbac as printers

ROLE = Strategy("Role", printer=printers.ROLE, merge_rules=mergekeys.METADATA_ONLY, shape=shape.ROLE)
CLUSTER_ROLE = Strategy("ClusterRole", printer=printers.ROLE, merge_rules=mergekeys.METADATA_ONLY, shape=shape.ROLE)
ROLE_BINDING = Strategy(
    "RoleBinding", printer=printers.BINDING, merge_rules=mergekeys.METADATA_ONLY, shape=shape.BINDING
)
CLUSTER_ROLE_BINDING = Strategy(
    "ClusterRoleBinding", printer=printers.BINDING, merge_rules=mergekeys.METADATA_ONLY, shape=shape.BINDING
)
