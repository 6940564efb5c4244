"""The printer for RuntimeClasses: kube-apiserver's ``printRuntimeClass`` (``kubectl get runtimeclasses``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name


def _runtime_class(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), obj.get("handler") or "", age(obj, now)]


RUNTIME_CLASS = Printer(
    (
        NAME,
        Column(
            "Handler",
            "handler specifies the underlying runtime and configuration that the CRI implementation will use to "
            "handle pods of this class. The possible values are specific to the node & CRI configuration.  It is "
            "assumed that all handlers are available on every node, and handlers of the same name are equivalent "
            'on every node. For example, a handler called "runc" might specify that the runc OCI runtime (using '
            "native Linux containers) will be used to run the containers in a pod. The Handler must be lowercase, "
            "conform to the DNS Label (RFC 1123) requirements, and is immutable.",
        ),
        AGE,
    ),
    _runtime_class,
)
