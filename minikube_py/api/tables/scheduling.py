"""The printer for PriorityClasses: kube-apiserver's ``printPriorityClass``, which ``kubectl get pc`` shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name


def _priority_class(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [
        obj_name(obj),
        obj.get("value", 0),
        bool(obj.get("globalDefault")),
        age(obj, now),
        obj.get("preemptionPolicy") or "",
    ]


PRIORITY_CLASS = Printer(
    (
        NAME,
        Column(
            "Value",
            "value represents the integer value of this priority class. This is the actual priority that pods "
            "receive when they have the name of this class in their pod spec.",
            "integer",
        ),
        Column(
            "Global-Default",
            "globalDefault specifies whether this PriorityClass should be considered as the default priority "
            "for pods that do not have any priority class. Only one PriorityClass can be marked as "
            "`globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` "
            "field set to true, the smallest value of such global default PriorityClasses will be used as "
            "the default priority.",
            "boolean",
        ),
        AGE,
        Column(
            "PreemptionPolicy",
            "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, "
            "PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
        ),
    ),
    _priority_class,
)
