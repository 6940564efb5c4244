"""Printers for the core kinds that are not about networking or workloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name, wide
from minikube_py.api.tables.formatting import NONE
from minikube_py.model.componentstatus import status_cells
from minikube_py.model.podcolumns import summarize_pod
from minikube_py.model.times import since

_UNKNOWN = "<unknown>"


def _namespace(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), (obj.get("status") or {}).get("phase", ""), age(obj, now)]


NAMESPACE = Printer((NAME, Column("Status", "The status of the namespace"), AGE), _namespace)
COMPONENT_STATUS = Printer(
    (
        NAME,
        Column("Status", "Status of the component conditions"),
        Column("Message", "Message of the component conditions"),
        Column("Error", "Error of the component conditions"),
    ),
    lambda obj, _now: status_cells(obj),
)


def _readiness_gates(pod: dict[str, Any]) -> str:
    gates = (pod.get("spec") or {}).get("readinessGates") or ()
    if not gates:
        return NONE
    conditions = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or ()}
    passed = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return f"{passed}/{len(gates)}"


def _pod(pod: dict[str, Any], now: datetime) -> list[Any]:
    summary = summarize_pod(pod)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    pod_ips = status.get("podIPs") or ()
    ip = pod_ips[0].get("ip") if pod_ips else status.get("podIP")
    return [
        obj_name(pod),
        f"{summary.ready}/{summary.total}",
        summary.reason,
        summary.restarts_text(now),
        age(pod, now),
        ip or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        _readiness_gates(pod),
    ]


def _pod_conditions(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Finished pods carry a ``Completed`` row condition, as the real server marks them."""
    message = {"Succeeded": "The pod has completed successfully.", "Failed": "The pod failed."}
    phase = (pod.get("status") or {}).get("phase")
    if phase not in message:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message[phase]}]


POD = Printer(
    (
        NAME,
        Column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", "The aggregate status of the containers in this pod."),
        Column(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when "
            "the last container in this pod has restarted.",
        ),
        AGE,
        wide(
            "IP",
            "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        ),
        wide("Node", "NodeName indicates in which node this pod is scheduled."),
        wide(
            "Nominated Node",
            "nominatedNodeName is set only when this pod preempts other pods on the "
            "node, but it cannot be scheduled right away as preemption victims receive "
            "their graceful termination periods.",
        ),
        wide("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness."),
    ),
    _pod,
    _pod_conditions,
)


def _node_status(node: dict[str, Any]) -> str:
    """Only the Ready condition is reported; cordoned nodes add ``SchedulingDisabled``."""
    ready = [c for c in (node.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"]
    states = ["Ready" if ready[-1].get("status") == "True" else "NotReady"] if ready else ["Unknown"]
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_roles(node: dict[str, Any]) -> str:
    roles = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role":
            roles.add(value)
    roles.discard("")
    return ",".join(sorted(roles)) or NONE


def _node_address(node: dict[str, Any], kind: str) -> str:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == kind:
            return address.get("address", "")
    return NONE


def _node(node: dict[str, Any], now: datetime) -> list[Any]:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    return [
        obj_name(node),
        _node_status(node),
        _node_roles(node),
        age(node, now),
        info.get("kubeletVersion", ""),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or _UNKNOWN,
        info.get("kernelVersion") or _UNKNOWN,
        info.get("containerRuntimeVersion") or _UNKNOWN,
    ]


NODE = Printer(
    (
        NAME,
        Column("Status", "The status of the node"),
        Column("Roles", "The roles of the node"),
        AGE,
        Column("Version", "Kubelet Version reported by the node."),
        wide("Internal-IP", "List of addresses reachable to the node."),
        wide("External-IP", "List of addresses reachable to the node."),
        wide("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
        wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
        wide(
            "Container-Runtime",
            "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        ),
    ),
    _node,
)


def _secret(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), obj.get("type", "Opaque"), len(obj.get("data") or {}), age(obj, now)]


SECRET = Printer(
    (
        NAME,
        Column("Type", "Used to facilitate programmatic handling of secret data."),
        Column(
            "Data", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'."
        ),
        AGE,
    ),
    _secret,
)


def _config_map(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), age(obj, now)]


CONFIG_MAP = Printer(
    (
        NAME,
        Column(
            "Data",
            "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
        ),
        AGE,
    ),
    _config_map,
)


def _service_account(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), len(obj.get("secrets") or ()), age(obj, now)]


SERVICE_ACCOUNT = Printer(
    (
        NAME,
        Column(
            "Secrets",
            "Secrets is a list of the secrets in the same namespace that pods running "
            "using this ServiceAccount are allowed to use.",
        ),
        AGE,
    ),
    _service_account,
)


def _event_source(event: dict[str, Any]) -> str:
    """``component, host``; the events.k8s.io reporting fields stand in for a missing source."""
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


def _event(event: dict[str, Any], now: datetime) -> list[Any]:
    first_seen = since(event.get("firstTimestamp") or event.get("eventTime"), now)
    last_seen = since(event["lastTimestamp"], now) if event.get("lastTimestamp") else first_seen
    count = event.get("count") or 1  # singleton events of the new API carry no count
    series = event.get("series")
    if series:
        last_seen = since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    involved = event.get("involvedObject") or {}
    target = (involved.get("kind") or "").lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    return [
        last_seen,
        event.get("type", ""),
        event.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        _event_source(event),
        (event.get("message") or "").strip(),
        first_seen,
        count,
        obj_name(event),
    ]


EVENT = Printer(
    (
        Column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
        Column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
        Column(
            "Reason",
            "This should be a short, machine understandable string that gives the reason for "
            "the transition into the object's current status.",
        ),
        Column("Object", "The object that this event is about."),
        wide(
            "Subobject",
            "If referring to a piece of an object instead of an entire object, this string "
            "should contain a valid JSON/Go field access statement.",
        ),
        wide("Source", "The component reporting this event. Should be a short machine understandable string."),
        Column("Message", "A human-readable description of the status of this operation."),
        wide("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
        wide("Count", "The number of times this event has occurred."),
        Column(NAME.name, NAME.description, format="name", priority=1),
    ),
    _event,
)


def _lease(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), (obj.get("spec") or {}).get("holderIdentity") or "", age(obj, now)]


LEASE = Printer(
    (NAME, Column("Holder", "holderIdentity contains the identity of the holder of a current lease."), AGE), _lease
)
