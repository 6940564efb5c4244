"""The DaemonSet controller: one pod per eligible node, following nodes as they come, go and change.

Decisions come from :mod:`minikube_py.model.daemonsets`. Pods are created pinned to their node by
required node affinity and bound by the scheduler, as in Kubernetes. Every node change re-syncs
every DaemonSet (a new node, a label or taint change, a node turning Ready), since any of them may
alter where daemon pods belong.
"""

from __future__ import annotations

from datetime import UTC, datetime

from minikube_py.client.informer import object_key
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.daemonsets import (
    GENERATION_LABEL,
    REVISION_LABEL,
    daemon_template,
    pin_to_node,
    plan_daemonset,
    revision_hash,
    revisions_in_use,
)
from minikube_py.model.podtemplate import pod_from_template
from minikube_py.reconcilers.base import Controller, OwnWrites, StatusWrites
from minikube_py.reconcilers.history import HistoryKeeper
from minikube_py.reconcilers.podcontrol import PodControl


class DaemonSetController(Controller):
    name = "daemonset-controller"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.daemonsets = self.informer("/apis/apps/v1/daemonsets", self.enqueue)
        self.nodes = self.informer("/api/v1/nodes", self._on_node)
        self.pods, self._pods_of = self.controlled("/api/v1/pods", "DaemonSet")
        self.history = HistoryKeeper(self, "DaemonSet")
        #: the pods each DaemonSet's last pass created and deleted (by uid), and its status writes (by key)
        self.pod_writes = OwnWrites(self.pods, owners=self.daemonsets)
        self.status_writes = StatusWrites(self.daemonsets, client)
        self.pod_control = PodControl(client, self.events, self.pod_writes)

    # ------------------------------------------------------------------------------ handlers

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and _placement_fields(old) == _placement_fields(new):
            return  # a heartbeat: nothing that decides placement changed
        for ds in self.daemonsets.items():
            self.queue.add(object_key(ds))

    # ------------------------------------------------------------------------------ reconciling

    async def reconcile(self, key: object) -> None:
        ds = self.daemonsets.get(str(key))
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        uid = ds["metadata"]["uid"]
        if self.status_writes.pending(str(key)):
            return  # the cache has not seen our last status write yet; its watch event brings the key back
        pods = self._pods_of.controlled(ds, self.pods)
        md = ds["metadata"]
        await self.history.update(
            ds,
            in_use=revisions_in_use(ds, pods),
            labels={REVISION_LABEL: revision_hash(ds)},
            status_path=resource_path("apps/v1", "daemonsets", md["namespace"], md["name"], "status"),
        )
        step = plan_daemonset(
            ds, self.nodes.items(), pods, datetime.now(UTC), expectations_met=not self.pod_writes.pending(uid)
        )
        failures = await self.pod_control.delete(ds, step.delete) + await self._create(ds, step.create)
        await self.status_writes.replace(ds, step.status)
        if step.requeue_after is not None:
            self.queue.add_after(str(key), step.requeue_after + 0.05)
        if failures:
            raise RuntimeError(f"{failures} pod operation(s) for daemonset {key} failed")

    async def _create(self, ds: Obj, nodes: list[str]) -> int:
        template = daemon_template(ds)
        labels = {REVISION_LABEL: revision_hash(ds), GENERATION_LABEL: str(ds["metadata"].get("generation", 1))}
        for done, node in enumerate(nodes):
            pod = pod_from_template(ds, template, extra_labels=labels)
            pin_to_node(pod["spec"], node)
            if not await self.pod_control.create(ds, pod):
                return len(nodes) - done
        return 0


def _placement_fields(node: Obj) -> tuple[object, ...]:
    """What of a node decides where daemon pods go: labels, taints, cordon and readiness."""
    ready = [c.get("status") for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
    spec = node.get("spec") or {}
    return (node["metadata"].get("labels"), spec.get("taints"), spec.get("unschedulable"), ready)
