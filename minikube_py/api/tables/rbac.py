"""Printers for Roles, ClusterRoles and their bindings, with kube-apiserver's columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name, wide

_CREATED_AT = Column("Created At", "Timestamp when the role was created", format="date")


def _role(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), (obj.get("metadata") or {}).get("creationTimestamp", "")]


ROLE = Printer((NAME, _CREATED_AT), _role)


def _subjects(obj: dict[str, Any], kind: str) -> str:
    names = []
    for subject in obj.get("subjects") or ():
        if subject.get("kind") != kind:
            continue
        namespace = subject.get("namespace")
        names.append(
            f"{namespace}/{subject.get('name', '')}"
            if kind == "ServiceAccount" and namespace
            else subject.get("name", "")
        )
    return ", ".join(names)


def _binding(obj: dict[str, Any], now: datetime) -> list[Any]:
    ref = obj.get("roleRef") or {}
    return [
        obj_name(obj),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(obj, now),
        _subjects(obj, "User"),
        _subjects(obj, "Group"),
        _subjects(obj, "ServiceAccount"),
    ]


BINDING = Printer(
    (
        NAME,
        Column("Role", "RoleRef is the reference to the role to which the subjects are bound."),
        AGE,
        wide("Users", "Users in the binding"),
        wide("Groups", "Groups in the binding"),
        wide("ServiceAccounts", "ServiceAccounts in the binding"),
    ),
    _binding,
)
