"""Printers for the pod-template workloads: ReplicationControllers, ReplicaSets, Deployments,
DaemonSets, StatefulSets, Jobs and CronJobs, the ControllerRevisions that keep the history of
DaemonSets and StatefulSets, and PodTemplates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, CONTAINERS, IMAGES, NAME, TEMPLATE, Column, Printer, age, obj_name
from minikube_py.api.tables.formatting import NONE, container_cells, spec_of, status_of, template_cells
from minikube_py.model.selectors import label_selector_from_spec, labels_to_string, selector_to_string
from minikube_py.model.times import human_duration, parse_time, since

#: what ``spec.replicas`` means when absent (the API's default)
DEFAULT_REPLICAS = 1


def _replicas(obj: dict[str, Any]) -> int:
    replicas = spec_of(obj).get("replicas")
    return DEFAULT_REPLICAS if replicas is None else replicas


def _replicas_row(obj: dict[str, Any], now: datetime, selector: str) -> list[Any]:
    """The row of a ReplicationController or ReplicaSet, which differ only in how a selector is written."""
    status = status_of(obj)
    return [
        obj_name(obj),
        _replicas(obj),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(obj, now),
        *template_cells(obj),
        selector,
    ]


def _replication_controller(obj: dict[str, Any], now: datetime) -> list[Any]:
    return _replicas_row(obj, now, labels_to_string(spec_of(obj).get("selector")))


def _replica_set(obj: dict[str, Any], now: datetime) -> list[Any]:
    return _replicas_row(obj, now, selector_to_string(spec_of(obj).get("selector")))


def _replica_columns(desired: str, current: str, ready: str) -> tuple[Column, ...]:
    return (
        NAME,
        Column("Desired", desired, "integer"),
        Column("Current", current, "integer"),
        Column("Ready", ready, "integer"),
        AGE,
        *TEMPLATE,
    )


REPLICATION_CONTROLLER = Printer(
    _replica_columns(
        "Replicas is the number of desired replicas.",
        "Replicas is the most recently observed number of replicas.",
        "The number of ready replicas for this replication controller.",
    ),
    _replication_controller,
)
REPLICA_SET = Printer(
    _replica_columns(
        "Replicas is the number of desired pods.",
        "Replicas is the most recently observed number of non-terminating pods.",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
    ),
    _replica_set,
)


def _deployment(obj: dict[str, Any], now: datetime) -> list[Any]:
    status = status_of(obj)
    try:
        selector = str(label_selector_from_spec(spec_of(obj).get("selector")))
    except ValueError:
        selector = "<invalid>"
    return [
        obj_name(obj),
        f"{status.get('readyReplicas', 0)}/{_replicas(obj)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(obj, now),
        *template_cells(obj),
        selector,
    ]


DEPLOYMENT = Printer(
    (
        NAME,
        Column("Ready", "Number of the pod with ready state"),
        Column(
            "Up-to-date",
            "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
        ),
        Column(
            "Available",
            "Total number of available non-terminating pods (ready for at least "
            "minReadySeconds) targeted by this deployment.",
        ),
        AGE,
        *TEMPLATE,
    ),
    _deployment,
)


def _daemon_set(obj: dict[str, Any], now: datetime) -> list[Any]:
    status = status_of(obj)
    node_selector = ((spec_of(obj).get("template") or {}).get("spec") or {}).get("nodeSelector")
    return [
        obj_name(obj),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        labels_to_string(node_selector),
        age(obj, now),
        *template_cells(obj),
        selector_to_string(spec_of(obj).get("selector")),
    ]


DAEMON_SET = Printer(
    (
        NAME,
        Column("Desired", "The total number of nodes that should be running the daemon pod.", "integer"),
        Column(
            "Current",
            "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
            "integer",
        ),
        Column(
            "Ready",
            "The number of nodes that should be running the daemon pod and have one or more of "
            "the daemon pod running with a Ready Condition.",
            "integer",
        ),
        Column("Up-to-date", "The total number of nodes that are running updated daemon pod", "integer"),
        Column(
            "Available",
            "The number of nodes that should be running the daemon pod and have one or more "
            "of the daemon pod running and available.",
            "integer",
        ),
        Column("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
        AGE,
        *TEMPLATE,
    ),
    _daemon_set,
)


def _stateful_set(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [
        obj_name(obj),
        f"{status_of(obj).get('readyReplicas', 0)}/{_replicas(obj)}",
        age(obj, now),
        *template_cells(obj),
    ]


#: kube-apiserver prints no selector for StatefulSets, only the template's containers and images
STATEFUL_SET = Printer(
    (NAME, Column("Ready", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES), _stateful_set
)


def _pod_template(obj: dict[str, Any], now: datetime) -> list[Any]:
    template = obj.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels")
    return [obj_name(obj), *container_cells(template.get("spec")), labels_to_string(labels)]


#: kube-apiserver's ``printPodTemplate``: the same CONTAINERS and IMAGES as a workload's, but shown
#: without ``-o wide``, and the template's labels; no age
POD_TEMPLATE = Printer(
    (
        NAME,
        Column(CONTAINERS.name, CONTAINERS.description),
        Column(IMAGES.name, IMAGES.description),
        Column("Pod Labels", "The labels for the pod template."),
    ),
    _pod_template,
)


def _controller_revision(obj: dict[str, Any], now: datetime) -> list[Any]:
    """The CONTROLLER cell names the owner as ``kind.group/name`` (``statefulset.apps/web``)."""
    controller = NONE
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = f"{ref.get('kind', '')}.{group}" if group else str(ref.get("kind", ""))
            controller = f"{kind.lower()}/{ref.get('name', '')}"
            break
    return [obj_name(obj), controller, obj.get("revision", 0), age(obj, now)]


CONTROLLER_REVISION = Printer(
    (
        NAME,
        Column("Controller", "Controller of the object"),
        Column("Revision", "Revision indicates the revision of the state represented by Data.", "integer"),
        AGE,
    ),
    _controller_revision,
)


def _has_condition(job: dict[str, Any], kind: str) -> bool:
    """True when the first condition of this type is True, as Kubernetes' ``hasJobCondition``."""
    for condition in status_of(job).get("conditions") or ():
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def _job_status(job: dict[str, Any]) -> str:
    if _has_condition(job, "Complete"):
        return "Complete"
    if _has_condition(job, "Failed"):
        return "Failed"
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    if _has_condition(job, "Suspended"):
        return "Suspended"
    if _has_condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_completions(job: dict[str, Any]) -> str:
    """``succeeded/completions``; work-queue jobs (no completions) show ``n/1 of <parallelism>``."""
    succeeded = status_of(job).get("succeeded", 0)
    completions = spec_of(job).get("completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = spec_of(job).get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(job: dict[str, Any], now: datetime) -> str:
    """Time from start to completion, or to now while running; empty before the job starts."""
    started = parse_time(status_of(job).get("startTime"))
    if started is None:
        return ""
    return human_duration((parse_time(status_of(job).get("completionTime")) or now) - started)


def _job(job: dict[str, Any], now: datetime) -> list[Any]:
    return [
        obj_name(job),
        _job_status(job),
        _job_completions(job),
        _job_duration(job, now),
        age(job, now),
        *template_cells(job),
        selector_to_string(spec_of(job).get("selector")),
    ]


JOB = Printer(
    (
        NAME,
        Column("Status", "Status of the job."),
        Column("Completions", "The number of pods which reached phase Succeeded."),
        Column("Duration", "Time required to complete the job."),
        AGE,
        *TEMPLATE,
    ),
    _job,
)


def _bool_pointer(value: Any) -> str:
    """``printBoolPtr``: True/False, ``<unset>`` when the field is absent."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def _cron_job(cronjob: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = spec_of(cronjob), status_of(cronjob)
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    last = status.get("lastScheduleTime")
    return [
        obj_name(cronjob),
        spec.get("schedule", ""),
        spec.get("timeZone") or NONE,
        _bool_pointer(spec.get("suspend")),
        len(status.get("active") or ()),
        since(last, now) if last else NONE,
        age(cronjob, now),
        *container_cells((job_spec.get("template") or {}).get("spec")),
        selector_to_string(job_spec.get("selector")),
    ]


CRON_JOB = Printer(
    (
        NAME,
        Column("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
        Column(
            "Timezone",
            "The time zone name for the given schedule, see "
            "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
        ),
        Column(
            "Suspend",
            "This flag tells the controller to suspend subsequent executions, it does not apply to "
            "already started executions.  Defaults to false.",
            "boolean",
        ),
        Column("Active", "A list of pointers to currently running jobs.", "integer"),
        Column("Last Schedule", "Information when was the last time the job was successfully scheduled."),
        AGE,
        *TEMPLATE,
    ),
    _cron_job,
)
