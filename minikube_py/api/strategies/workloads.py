"""The pod-template workloads (ReplicationControllers, ReplicaSets, Deployments, DaemonSets,
StatefulSets, Jobs, CronJobs), the ControllerRevisions holding DaemonSet and StatefulSet history, and
the Scale objects of the ``scale`` subresource."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import workloads as printers
from minikube_py.api.tables.base import Printer
from minikube_py.model.selectors import labels_to_string
from minikube_py.store.base import Obj


class ReplicationControllerStrategy(Strategy):
    def scale_selector(self, selector: Obj) -> str:
        """A ReplicationController's selector is a plain label map, not a LabelSelector."""
        return labels_to_string(selector)


def _workload(kind: str, printer: Printer) -> Strategy:
    return Strategy(kind, printer=printer, merge_rules=mergekeys.WORKLOAD, atomic_maps=mergekeys.WORKLOAD_ATOMIC)


REPLICATION_CONTROLLER = ReplicationControllerStrategy(
    "ReplicationController", printer=printers.REPLICATION_CONTROLLER, merge_rules=mergekeys.WORKLOAD,
    atomic_maps=mergekeys.WORKLOAD_ATOMIC)
DEPLOYMENT = _workload("Deployment", printers.DEPLOYMENT)
REPLICA_SET = _workload("ReplicaSet", printers.REPLICA_SET)
DAEMON_SET = _workload("DaemonSet", printers.DAEMON_SET)
STATEFUL_SET = _workload("StatefulSet", printers.STATEFUL_SET)
#: a revision's ``data`` is raw JSON (a patch of its owner): it merges as a whole
CONTROLLER_REVISION = Strategy("ControllerRevision", printer=printers.CONTROLLER_REVISION,
                               merge_rules=mergekeys.METADATA_ONLY, shape=shape.CONTROLLER_REVISION)
JOB = _workload("Job", printers.JOB)
CRON_JOB = Strategy("CronJob", printer=printers.CRON_JOB, merge_rules=mergekeys.CRON_JOB,
                    atomic_maps=mergekeys.CRON_JOB_ATOMIC)
#: the autoscaling/v1 Scale a ``scale`` subresource answers with: served through its parent's
#: strategy, patched by ObjectMeta's merge rules alone
SCALE = Strategy("Scale", merge_rules=mergekeys.METADATA_ONLY)
