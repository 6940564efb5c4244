"""The pod-template workloads (ReplicationControllers, ReplicaSets, Deployments, DaemonSets,
StatefulSets, Jobs, CronJobs), the ControllerRevisions holding DaemonSet and StatefulSet history, and
the Scale objects of the ``scale`` subresource."""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import workloads as printers
from minikube_py.api.tables.base import Printer
from minikube_py.model.selectors import labels_to_string
from minikube_py.store.base import Obj


@dataclass(frozen=True, eq=False)
class CountingStrategy(Strategy):
    """A workload whose Go status type has counts without ``omitempty``: Kubernetes renders them as 0
    on a new object, and typed clients (the official Python client) refuse a status without them."""

    counts: tuple[str, ...] = ()

    def reset_status(self, obj: Obj) -> None:
        obj["status"] = dict.fromkeys(self.counts, 0)


@dataclass(frozen=True, eq=False)
class ReplicationControllerStrategy(CountingStrategy):
    def scale_selector(self, selector: Obj) -> str:
        """A ReplicationController's selector is a plain label map, not a LabelSelector."""
        return labels_to_string(selector)


def _workload(
    kind: str,
    printer: Printer,
    fields: shape.Fields,
    counts: tuple[str, ...] = (),
    strategy: type[CountingStrategy] = CountingStrategy,
) -> Strategy:
    return strategy(
        kind,
        printer=printer,
        merge_rules=mergekeys.WORKLOAD,
        atomic_maps=mergekeys.WORKLOAD_ATOMIC,
        shape=fields,
        counts=counts,
    )


REPLICATION_CONTROLLER = _workload(
    "ReplicationController",
    printers.REPLICATION_CONTROLLER,
    shape.REPLICATION_CONTROLLER,
    ("replicas",),
    ReplicationControllerStrategy,
)
DEPLOYMENT = _workload("Deployment", printers.DEPLOYMENT, shape.DEPLOYMENT)
REPLICA_SET = _workload("ReplicaSet", printers.REPLICA_SET, shape.REPLICA_SET, ("replicas",))
DAEMON_SET = _workload(
    "DaemonSet",
    printers.DAEMON_SET,
    shape.DAEMON_SET,
    ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"),
)
STATEFUL_SET = _workload("StatefulSet", printers.STATEFUL_SET, shape.STATEFUL_SET, ("replicas", "availableReplicas"))
POD_TEMPLATE = Strategy(
    "PodTemplate",
    printer=printers.POD_TEMPLATE,
    merge_rules=mergekeys.POD_TEMPLATE,
    atomic_maps=mergekeys.POD_TEMPLATE_ATOMIC,
    shape=shape.POD_TEMPLATE,
)
#: a revision's ``data`` is raw JSON (a patch of its owner): it merges as a whole
CONTROLLER_REVISION = Strategy(
    "ControllerRevision",
    printer=printers.CONTROLLER_REVISION,
    merge_rules=mergekeys.METADATA_ONLY,
    shape=shape.CONTROLLER_REVISION,
)
JOB = _workload("Job", printers.JOB, shape.JOB)
CRON_JOB = Strategy(
    "CronJob",
    printer=printers.CRON_JOB,
    merge_rules=mergekeys.CRON_JOB,
    atomic_maps=mergekeys.CRON_JOB_ATOMIC,
    shape=shape.CRON_JOB,
)
#: the autoscaling/v1 Scale a ``scale`` subresource answers with: served through its parent's
#: strategy, patched by ObjectMeta's merge rules alone
SCALE = Strategy("Scale", merge_rules=mergekeys.METADATA_ONLY)
