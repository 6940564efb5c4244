"""PriorityClasses: the Priority admission plugin's side for classes (one global default at most),
and the built-in ``system-`` classes, which are never deleted."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.api.tables import scheduling as printers
from minikube_py.model import errors, priority
from minikube_py.model.errors import FieldError
from minikube_py.model.kinds import by_plural
from minikube_py.store.base import Obj, Op, Store

PRIORITY_CLASSES = by_plural("scheduling.k8s.io", "v1", "priorityclasses")
assert PRIORITY_CLASSES is not None


async def priority_classes(store: Store) -> list[Obj]:
    """Every PriorityClass, for the admission of pods and of classes."""
    assert PRIORITY_CLASSES is not None
    return (await store.list(PRIORITY_CLASSES.prefix())).items


class PriorityClassStrategy(Strategy):
    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """A class may become the global default only while no other class is (403 otherwise)."""
        assert PRIORITY_CLASSES is not None
        if obj.get("globalDefault") is True:
            why = priority.second_default(obj, await priority_classes(allocators.store))
            if why is not None:
                raise errors.forbidden_object(PRIORITY_CLASSES, obj["metadata"]["name"], why)
        return [], []

    def check_delete(self, name: str) -> None:
        assert PRIORITY_CLASSES is not None
        if priority.is_system_class(name):
            raise errors.forbidden_object(
                PRIORITY_CLASSES, name, "this is a system priority class and cannot be deleted"
            )


PRIORITY_CLASS = PriorityClassStrategy(
    "PriorityClass", printer=printers.PRIORITY_CLASS, merge_rules=mergekeys.METADATA_ONLY, shape=shape.PRIORITY_CLASS
)
