"""RuntimeClasses: the RuntimeClass admission plugin's lookup of a pod's class (the rules are
:mod:`minikube_py.model.runtimeclasses`), and the kind's own strategy."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import node as printers
from minikube_py.model.kinds import by_plural
from minikube_py.store.base import KeyNotFound, Obj, Store

RUNTIME_CLASSES = by_plural("node.k8s.io", "v1", "runtimeclasses")
assert RUNTIME_CLASSES is not None


async def runtime_class_of(pod: Obj, store: Store) -> tuple[str, Obj | None]:
    """The name of the class ``pod`` names ("" for none) and the class, None when no such class exists."""
    assert RUNTIME_CLASSES is not None
    name = (pod.get("spec") or {}).get("runtimeClassName")
    if not name or not isinstance(name, str):
        return "", None
    try:
        return name, await store.get(RUNTIME_CLASSES.key(None, name))
    except KeyNotFound:
        return name, None


RUNTIME_CLASS = Strategy(
    "RuntimeClass",
    printer=printers.RUNTIME_CLASS,
    merge_rules=mergekeys.METADATA_ONLY,
    atomic_maps=mergekeys.RUNTIME_CLASS_ATOMIC,
    shape=shape.RUNTIME_CLASS,
)
