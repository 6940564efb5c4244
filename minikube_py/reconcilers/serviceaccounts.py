"""What every namespace holds for its pods, as kube-controller-manager's serviceaccount and
root-ca-cert-publisher controllers keep it: the ``default`` ServiceAccount, which pods run as
unless they name another, and the ``kube-root-ca.crt`` ConfigMap with the cluster CA, which the
projected service account volume mounts as ``ca.crt``. Both are recreated when deleted and the
ConfigMap restored when edited; namespaces being deleted are left alone."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from minikube_py.client.errors import AlreadyExistsError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.reconcilers.base import Controller

DEFAULT_SERVICE_ACCOUNT = "default"
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"


class ServiceAccountsController(Controller):
    name = "serviceaccount"

    def __init__(self, client: ApiClient, ca_pem: bytes) -> None:
        super().__init__(client)
        self.ca = ca_pem.decode()
        self.namespaces = self.informer("/api/v1/namespaces", self._on_namespace)
        self.accounts = self.informer("/api/v1/serviceaccounts", self._on_owned(DEFAULT_SERVICE_ACCOUNT))
        self.config_maps = self.informer("/api/v1/configmaps", self._on_owned(ROOT_CA_CONFIG_MAP))

    def _on_namespace(self, _old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            self.queue.add(new["metadata"]["name"])

    def _on_owned(self, name: str) -> Callable[[Obj | None, Obj | None], None]:
        """A handler that wakes an object's namespace when the object named ``name`` there changes."""

        def handler(old: Obj | None, new: Obj | None) -> None:
            md = (new or old or {}).get("metadata") or {}
            if md.get("name") == name and md.get("namespace"):
                self.queue.add(md["namespace"])

        return handler

    async def reconcile(self, key: object) -> None:
        namespace = str(key)
        ns = self.namespaces.get(namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        if self.accounts.get(f"{namespace}/{DEFAULT_SERVICE_ACCOUNT}") is None:
            await self._create(
                resource_path("v1", "serviceaccounts", namespace=namespace),
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_SERVICE_ACCOUNT}},
            )
        if self.ca:
            await self._publish_ca(namespace)

    async def _publish_ca(self, namespace: str) -> None:
        data = {"ca.crt": self.ca}
        live = self.config_maps.get(f"{namespace}/{ROOT_CA_CONFIG_MAP}")
        if live is None:
            await self._create(
                resource_path("v1", "configmaps", namespace=namespace),
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "data": data,
                    "metadata": {
                        "name": ROOT_CA_CONFIG_MAP,
                        "annotations": {"kubernetes.io/description": _CA_DESCRIPTION},
                    },
                },
            )
        elif live.get("data") != data:
            with contextlib.suppress(NotFoundError):
                await self.client.patch(
                    resource_path("v1", "configmaps", namespace=namespace, name=ROOT_CA_CONFIG_MAP),
                    {"data": data},
                    "merge",
                )

    async def _create(self, path: str, body: Obj) -> None:
        """Create unless it exists (the informer was behind) or the namespace went meanwhile."""
        with contextlib.suppress(AlreadyExistsError, NotFoundError):
            await self.client.create(path, body)


_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)
