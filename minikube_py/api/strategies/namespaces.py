"""Namespaces: a new one is Active; deleting one marks it Terminating and waits for the namespace
controller to empty it and clear ``spec.finalizers``; the system namespaces may not be deleted."""

from __future__ import annotations

from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import core as printers
from minikube_py.model import errors
from minikube_py.store.base import Obj

#: namespaces the cluster cannot do without (kube-apiserver's NamespaceLifecycle admission refuses
#: to delete them: the kubernetes Service lives in default, system components in the others)
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


class NamespaceStrategy(Strategy):
    def reset_status(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}

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
