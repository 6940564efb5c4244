"""Namespaces: a new one is Active; deleting one marks it Terminating and waits for the namespace
controller to empty it and clear ``spec.finalizers``; the system namespaces may not be deleted; their
PodSecurity labels are checked (see :mod:`minikube_py.api.podsecurity`)."""

from __future__ import annotations

from minikube_py.api import podsecurity
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.api.tables import core as printers
from minikube_py.model import errors
from minikube_py.model.errors import FieldError
from minikube_py.model.kinds import by_plural
from minikube_py.store.base import Obj, Op

_NAMESPACES = by_plural("", "v1", "namespaces")

#: namespaces the cluster cannot do without (kube-apiserver's NamespaceLifecycle admission refuses
#: to delete them: the kubernetes Service lives in default, system components in the others)
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


class NamespaceStrategy(Strategy):
    def reset_status(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """PodSecurity's look at the namespace's labels (see :func:`.podsecurity.admit_namespace`)."""
        assert _NAMESPACES is not None
        await podsecurity.admit_namespace(_NAMESPACES, obj, old, allocators.store)
        return [], []

    def check_delete(self, name: str) -> None:
        if name in IMMORTAL_NAMESPACES:
            raise errors.StatusError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                {"name": name, "kind": "namespaces"},
            )

    def begin_deletion(self, obj: Obj) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"

    def finalizing(self, obj: Obj) -> bool:
        """A namespace also waits for its ``spec.finalizers``, which the namespace controller clears
        once the namespace is empty."""
        return bool((obj.get("spec") or {}).get("finalizers"))


NAMESPACE = NamespaceStrategy("Namespace", printer=printers.NAMESPACE, merge_rules=mergekeys.NAMESPACE)
