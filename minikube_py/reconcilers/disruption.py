"""The disruption controller: keeps every PodDisruptionBudget's status (expected, healthy and desired
pods, disruptions allowed, the DisruptionAllowed condition) as its pods come, go and turn Ready.

The arithmetic is :mod:`minikube_py.model.disruption`'s. Where a budget needs a denominator (a
percentage, or ``maxUnavailable``) it is the sum of the selected pods' controllers' scales, found
as Kubernetes' finders do: a ReplicaSet's Deployment when it has one, else the controller itself
when its kind has a ``scale`` subresource; a pod whose controller has none fails the budget safe
(no disruption allowed, condition SyncFailed); pods without a controller are left out. The status
write carries the budget's resourceVersion, so it cannot overwrite an eviction's spending it did
not see: it gets a 409 and computes again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from minikube_py.client.errors import NotFoundError
from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.disruption import budget_status, failed_status, needs_scale, selects
from minikube_py.model.kinds import by_kind
from minikube_py.model.podtemplate import controller_of
from minikube_py.reconcilers.base import Controller


class NoController(Exception):
    """A selected pod's controller has no scale to count its pods by."""


class DisruptionController(Controller):
    name = "disruption-controller"
    event_source = "controllermanager"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.budgets = self.informer("/apis/policy/v1/poddisruptionbudgets", self.enqueue)
        self.pods = self.informer("/api/v1/pods", self._on_pod)
        #: pods by namespace, so a budget's reconcile reads its namespace's pods, not the cluster's
        self._pods_in: dict[str, dict[str, Obj]] = defaultdict(dict)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        current = new or old
        assert current is not None
        in_namespace = self._pods_in[current["metadata"].get("namespace", "")]
        if new is None:
            in_namespace.pop(current["metadata"]["name"], None)
        else:
            in_namespace[new["metadata"]["name"]] = new
        for pod in (old, new):
            if pod is None:
                continue
            for pdb in self.budgets.items():
                if selects(pdb, pod):
                    self.queue.add(object_key(pdb))

    async def reconcile(self, key: object) -> None:
        pdb = self.budgets.get(str(key))
        if pdb is None:
            return
        namespace = pdb["metadata"]["namespace"]
        pods = [p for p in self._pods_in[namespace].values() if selects(pdb, p)]
        now = datetime.now(UTC)
        if not pods:
            await self.events.record(pdb, "Normal", "NoPods", "No matching pods found")
        try:
            scale = await self._scale(pods, namespace) if needs_scale(pdb) else 0
            result = budget_status(pdb, pods, scale, now)
        except (NoController, ValueError) as exc:
            await self.events.record(
                pdb,
                "Warning",
                "CalculateExpectedPodCountFailed",
                f"Failed to calculate the number of expected pods: {exc}",
            )
            await self._write(pdb, failed_status(pdb, str(exc), now))
            raise
        await self._write(pdb, result.status)
        if result.recheck is not None:
            self.queue.add_after(str(key), max((result.recheck - now).total_seconds(), 0) + 0.05)

    async def _write(self, pdb: Obj, status: Obj) -> None:
        if status == (pdb.get("status") or {}):
            return
        md = pdb["metadata"]
        await self.client.replace(
            resource_path("policy/v1", "poddisruptionbudgets", md["namespace"], md["name"], "status"),
            {**pdb, "status": status},
        )

    async def _scale(self, pods: list[Obj], namespace: str) -> int:
        """The sum of the replicas of the controllers of ``pods``, each counted once."""
        scales: dict[str, int] = {}
        for pod in pods:
            ref = controller_of(pod)
            if ref is None or ref.get("uid") in scales:
                continue
            uid, replicas = await self._controller_scale(ref, namespace, pod["metadata"]["name"])
            scales[uid] = replicas
        return sum(scales.values())

    async def _controller_scale(self, ref: Obj, namespace: str, pod_name: str) -> tuple[str, int]:
        owner = await self._owner(ref, namespace)
        if owner is not None and owner.get("kind") == "ReplicaSet":
            deployment_ref = controller_of(owner)
            if deployment_ref is not None and deployment_ref.get("kind") == "Deployment":
                deployment = await self._owner(deployment_ref, namespace)
                if deployment is not None:
                    owner = deployment
        rt = by_kind(owner.get("apiVersion", ""), owner.get("kind", "")) if owner is not None else None
        if owner is None or rt is None or "scale" not in rt.subresources:
            raise NoController(f'found no controllers for pod "{pod_name}"')
        return owner["metadata"]["uid"], int((owner.get("spec") or {}).get("replicas", 1))

    async def _owner(self, ref: Obj, namespace: str) -> Obj | None:
        rt = by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            return None
        try:
            owner = await self.client.get(resource_path(rt.api_version, rt.plural, namespace, ref["name"]))
        except NotFoundError:
            return None
        return owner if owner["metadata"].get("uid") == ref.get("uid") else None
