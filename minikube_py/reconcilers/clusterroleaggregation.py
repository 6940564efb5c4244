"""ClusterRole aggregation: a ClusterRole with an ``aggregationRule`` gets the rules of every
ClusterRole its selectors match (:func:`minikube_py.model.rbac.aggregated_rules`), kept current as
those change, as kube-controller-manager's clusterrole-aggregation controller does. That is how a
labelled ClusterRole (``rbac.authorization.k8s.io/aggregate-to-view: "true"``) extends ``view``,
``edit`` and ``admin``."""

from __future__ import annotations

from minikube_py.client.errors import NotFoundError
from minikube_py.client.rest import ApiClient, Obj
from minikube_py.model.rbac import aggregated_rules
from minikube_py.reconcilers.base import Controller

_PATH = "/apis/rbac.authorization.k8s.io/v1/clusterroles"


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.roles = self.informer(_PATH, self._on_change)

    def _on_change(self, _old: Obj | None, _new: Obj | None) -> None:
        """Any ClusterRole's change may change what an aggregated one collects: all of those are
        looked at again (they are few)."""
        for role in self.roles.items():
            if (role.get("aggregationRule") or {}).get("clusterRoleSelectors"):
                self.queue.add(role["metadata"]["name"])

    async def reconcile(self, key: object) -> None:
        role = self.roles.get(str(key))
        if role is None:
            return
        rules = aggregated_rules(role, self.roles.items())
        if rules is None or rules == (role.get("rules") or []):
            return
        try:  # a conflict (changed meanwhile) fails the key, retried once the informer has the change
            await self.client.replace(f"{_PATH}/{key}", {**role, "rules": rules})
        except NotFoundError:
            return
