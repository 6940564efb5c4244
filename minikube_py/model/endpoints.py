"""What the Endpoints and EndpointSlice controllers should write for a Service and its pods, apart
from any I/O.

Both views are computed from the same per-pod facts, following Kubernetes' endpoint and
endpointslice controllers:

- which pods take part (:func:`in_endpoints`): a pod needs an IP, must not have finished for good,
  and (for Endpoints, unless ``publishNotReadyAddresses``) must not be terminating;
- the ports each pod offers (:func:`pod_ports`): a named ``targetPort`` is looked up among that
  pod's container ports, so two pods may serve one service port on different numbers; a pod
  without the name simply does not offer that port;
- Endpoints ``subsets`` (:func:`endpoints_subsets`): Kubernetes' ``RepackSubsets``: each port maps to
  the set of addresses offering it, and ports with identical address sets share a subset; the
  result is sorted so that equal inputs give byte-equal objects and unchanged state writes nothing;
- EndpointSlices (:func:`plan_slices`): endpoints grouped by port set into slices of at most
  :data:`MAX_ENDPOINTS_PER_SLICE`, changing as few existing slices as it can, with one empty
  placeholder slice when nothing is ready to be listed;
- the ``last-change-trigger-time`` annotation (:class:`TriggerTimeTracker`).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minikube_py.model.replication import is_ready
from minikube_py.model.times import parse_time, rfc3339_nano

Obj = dict[str, Any]

#: when the change that led to this Endpoints/EndpointSlice content happened (for latency SLIs)
LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
#: on Endpoints and EndpointSlices of a Service without a cluster IP
HEADLESS_LABEL = "service.kubernetes.io/headless"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
#: kube-controller-manager's ``--max-endpoints-per-slice`` default
MAX_ENDPOINTS_PER_SLICE = 100

#: a service port as an EndpointPort: (name, port, protocol, appProtocol)
Port = tuple[str, int, str, str | None]
PortSet = tuple[Port, ...]


# ------------------------------------------------------------------------------ services


def selects_pods(service: Obj) -> bool:
    """Whether the controllers manage this Service's endpoints: a Service without a selector (the
    ``kubernetes`` one, or one whose Endpoints a user writes) and an ExternalName Service are left
    alone. An empty selector selects every pod in the namespace, as in Kubernetes."""
    spec = service.get("spec") or {}
    return spec.get("selector") is not None and spec.get("type") != "ExternalName"


def service_matches(service: Obj, labels: Mapping[str, str] | None) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = labels or {}
    return all(labels.get(key) == value for key, value in selector.items())


def is_headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def _publish_not_ready(service: Obj) -> bool:
    return bool((service.get("spec") or {}).get("publishNotReadyAddresses"))


def managed_labels(service: Obj) -> dict[str, str]:
    """The Service's labels, with the headless marker when it has no cluster IP (Endpoints carry
    these; slices add their own two on top)."""
    labels = {k: v for k, v in (service["metadata"].get("labels") or {}).items() if k != HEADLESS_LABEL}
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    return labels


# ------------------------------------------------------------------------------ pods


def pod_ip(pod: Obj) -> str | None:
    """The pod's IPv4 address (only IPv4 Services exist here)."""
    status = pod.get("status") or {}
    candidates = [status.get("podIP"), *(entry.get("ip") for entry in status.get("podIPs") or ())]
    for ip in candidates:
        with contextlib.suppress(ValueError):
            if ip and isinstance(ipaddress.ip_address(ip), ipaddress.IPv4Address):
                return str(ip)
    return None


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Kubernetes' ``ShouldPodBeInEndpoints``: a pod that has an IP and can still serve; one that
    has finished for good (per its restart policy) never comes back, so it is left out."""
    if pod_ip(pod) is None:
        return False
    if not include_terminating and is_terminating(pod):
        return False
    phase = (pod.get("status") or {}).get("phase")
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's number for a service port: a numeric ``targetPort`` as it is, a named one looked up
    among the pod's container ports of the same protocol (None when the pod has no such port)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    protocol = service_port.get("protocol", "TCP")
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or ()), *sidecars]:
        for port in container.get("ports") or ():
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def pod_ports(service: Obj, pod: Obj) -> PortSet:
    """The service's ports as this pod offers them, in the Service's order."""
    ports: list[Port] = []
    for sp in (service.get("spec") or {}).get("ports") or ():
        number = find_port(pod, sp)
        if number is not None:
            ports.append((sp.get("name") or "", number, sp.get("protocol", "TCP"), sp.get("appProtocol")))
    return tuple(ports)


def _target_ref(pod: Obj) -> Obj:
    md = pod["metadata"]
    return {"kind": "Pod", "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]}


def _hostname(service: Obj, pod: Obj) -> str | None:
    """A pod's own DNS name under the Service (``hostname`` + ``subdomain`` naming the Service)."""
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        return str(spec["hostname"])
    return None


def pod_relevant_state(pod: Obj | None) -> tuple[Any, ...] | None:
    """What of a pod the endpoints depend on; an update that changes none of it (and not the
    labels) is ignored, so status chatter does not wake every selecting Service."""
    if pod is None:
        return None
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return (
        pod["metadata"].get("labels"),
        pod_ip(pod),
        spec.get("nodeName"),
        is_ready(pod),
        is_terminating(pod),
        status.get("phase"),
        spec.get("hostname"),
        spec.get("subdomain"),
    )


# ------------------------------------------------------------------------------ Endpoints


def _port_obj(port: Port) -> Obj:
    name, number, protocol, app_protocol = port
    obj: Obj = {"port": number, "protocol": protocol}
    if name:
        obj["name"] = name
    if app_protocol:
        obj["appProtocol"] = app_protocol
    return obj


def _pod_fields(service: Obj, pod: Obj) -> Obj:
    """What an Endpoints address and an EndpointSlice endpoint both say of their pod: its hostname
    in the Service's DNS (when it has one), its node and a reference to it."""
    fields: Obj = {}
    hostname = _hostname(service, pod)
    if hostname:
        fields["hostname"] = hostname
    if (pod.get("spec") or {}).get("nodeName"):
        fields["nodeName"] = pod["spec"]["nodeName"]
    fields["targetRef"] = _target_ref(pod)
    return fields


def _address(service: Obj, pod: Obj, ip: str) -> Obj:
    return {"ip": ip, **_pod_fields(service, pod)}


def _address_order(address: Obj) -> tuple[tuple[int, ...], str]:
    return tuple(int(part) for part in address["ip"].split(".")), address["targetRef"]["uid"]


def _port_order(port: Port) -> tuple[str, int, str, str]:
    return port[0], port[1], port[2], port[3] or ""


def endpoints_subsets(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The Endpoints ``subsets`` for the pods a Service selects.

    Each port maps to the addresses offering it (not ready winning over ready, as in
    ``RepackSubsets``); ports offered by exactly the same addresses share a subset. A headless
    Service without ports still lists its addresses, in one port-less subset.
    """
    publish_all = _publish_not_ready(service)
    service_ports = (service.get("spec") or {}).get("ports") or ()
    addresses: dict[str, Obj] = {}  # pod uid -> address
    by_port: dict[Port | None, dict[str, bool]] = defaultdict(dict)  # port -> pod uid -> ready
    for pod in pods:
        if not in_endpoints(pod, include_terminating=publish_all):
            continue
        ip = pod_ip(pod)
        assert ip is not None
        uid = pod["metadata"]["uid"]
        ready = publish_all or is_ready(pod)
        offered: Iterable[Port | None] = pod_ports(service, pod)
        if not service_ports:
            if not is_headless(service):
                continue
            offered = (None,)
        addresses[uid] = _address(service, pod, ip)
        for port in offered:
            by_port[port][uid] = by_port[port].get(uid, True) and ready
    grouped: dict[frozenset[tuple[str, bool]], list[Port]] = defaultdict(list)
    address_only: set[frozenset[tuple[str, bool]]] = set()
    for port, members in by_port.items():
        key = frozenset(members.items())
        if port is None:
            address_only.add(key)
        else:
            grouped[key].append(port)
    for key in address_only:
        grouped.setdefault(key, [])
    subsets = []
    for key, ports in grouped.items():
        subset: Obj = {}
        ready = sorted((addresses[uid] for uid, ok in key if ok), key=_address_order)
        not_ready = sorted((addresses[uid] for uid, ok in key if not ok), key=_address_order)
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if ports:
            subset["ports"] = [_port_obj(p) for p in sorted(ports, key=_port_order)]
        subsets.append(subset)
    return sorted(subsets, key=_subset_order)


def _subset_order(subset: Obj) -> tuple[Any, ...]:
    first = (subset.get("addresses") or subset.get("notReadyAddresses"))[0]
    ports = [(p.get("name", ""), p["port"], p["protocol"]) for p in subset.get("ports") or ()]
    return ports, _address_order(first)


def endpoints_to_write(service: Obj, pods: Iterable[Obj], current: Obj | None, trigger_time: str | None) -> Obj | None:
    """The Endpoints object to create or replace, or None when ``current`` already says it all.

    Only subsets and labels count as a difference: a new trigger time alone is no reason to write,
    as in Kubernetes (it dates a change, and there is none).
    """
    subsets = endpoints_subsets(service, pods)
    labels = managed_labels(service)
    if (
        current is not None
        and (current.get("subsets") or []) == subsets
        and (current["metadata"].get("labels") or {}) == labels
    ):
        return None
    md = service["metadata"]
    base = current or {"metadata": {"name": md["name"], "namespace": md["namespace"]}}
    annotations = {
        k: v for k, v in (base["metadata"].get("annotations") or {}).items() if k != LAST_CHANGE_TRIGGER_TIME
    }
    if trigger_time is not None:
        annotations[LAST_CHANGE_TRIGGER_TIME] = trigger_time
    metadata = {**base["metadata"], "labels": labels, "annotations": annotations}
    return {**base, "apiVersion": "v1", "kind": "Endpoints", "metadata": metadata, "subsets": subsets}


# ------------------------------------------------------------------------------ EndpointSlices


def slice_endpoint(service: Obj, pod: Obj) -> Obj:
    """A pod as an EndpointSlice endpoint: ``serving`` is the pod's readiness, ``ready`` also needs it
    not to be terminating (or the Service to publish everything)."""
    serving = is_ready(pod)
    terminating = is_terminating(pod)
    return {
        "addresses": [pod_ip(pod)],
        "conditions": {
            "ready": _publish_not_ready(service) or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
        **_pod_fields(service, pod),
    }


def _slice_port_obj(port: Port) -> Obj:
    name, number, protocol, app_protocol = port
    obj: Obj = {"name": name, "port": number, "protocol": protocol}
    if app_protocol:
        obj["appProtocol"] = app_protocol
    return obj


def _slice_port_set(slice_: Obj) -> PortSet:
    return tuple(
        sorted(
            (
                (p.get("name") or "", int(p.get("port") or 0), p.get("protocol", "TCP"), p.get("appProtocol"))
                for p in slice_.get("ports") or ()
            ),
            key=_port_order,
        )
    )


def _endpoint_key(endpoint: Obj) -> str:
    ref = endpoint.get("targetRef") or {}
    return str(ref.get("uid") or endpoint["addresses"][0])


def _endpoint_order(endpoint: Obj) -> tuple[tuple[int, ...], str]:
    return tuple(int(part) for part in endpoint["addresses"][0].split(".")), _endpoint_key(endpoint)


def slice_labels(service: Obj) -> dict[str, str]:
    labels = {k: v for k, v in managed_labels(service).items() if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
    return {**labels, SERVICE_NAME_LABEL: service["metadata"]["name"], MANAGED_BY_LABEL: SLICE_CONTROLLER}


def owned_by(slice_: Obj, service: Obj) -> bool:
    return any(
        ref.get("uid") == service["metadata"]["uid"] and ref.get("controller")
        for ref in slice_["metadata"].get("ownerReferences") or ()
    )


@dataclass
class SlicePlan:
    """The writes that bring a Service's slices to the desired state; empty when they are there."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)


def _new_slice(service: Obj, ports: PortSet, endpoints: list[Obj]) -> Obj:
    md = service["metadata"]
    owner = {
        "apiVersion": "v1",
        "kind": "Service",
        "name": md["name"],
        "uid": md["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{md['name']}-",
            "namespace": md["namespace"],
            "labels": slice_labels(service),
            "ownerReferences": [owner],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [_slice_port_obj(p) for p in ports],
    }


def _is_placeholder(slice_: Obj) -> bool:
    return not slice_.get("endpoints") and not slice_.get("ports")


def plan_slices(
    service: Obj, pods: Iterable[Obj], existing: Iterable[Obj], max_per_slice: int = MAX_ENDPOINTS_PER_SLICE
) -> SlicePlan:
    """Creates, updates and deletes that make ``existing`` (this Service's managed slices) list every
    pod's endpoint once, grouped by the pod's port set.

    Churn is kept low the way Kubernetes' reconciler does: an endpoint stays in the slice that has
    it; new endpoints fill slices already being rewritten, then other slices with room, and only
    then new slices. Slices owned by another Service incarnation, or of another address type, go.
    """
    desired: dict[PortSet, dict[str, Obj]] = defaultdict(dict)
    for pod in pods:
        if in_endpoints(pod, include_terminating=True):
            ports = tuple(sorted(pod_ports(service, pod), key=_port_order))
            desired[ports][pod["metadata"]["uid"]] = slice_endpoint(service, pod)
    labels = slice_labels(service)
    plan = SlicePlan()
    by_ports: dict[PortSet, list[Obj]] = defaultdict(list)
    for slice_ in sorted(existing, key=lambda s: s["metadata"]["name"]):
        if owned_by(slice_, service) and slice_.get("addressType") == "IPv4":
            by_ports[_slice_port_set(slice_)].append(slice_)
        else:
            plan.delete.append(slice_)
    kept: list[Obj] = []
    for ports in sorted(set(desired) | set(by_ports), key=lambda ps: [_port_order(p) for p in ps]):
        kept += _plan_port_set(service, ports, desired.get(ports, {}), by_ports.get(ports, []), plan, max_per_slice)
    if not plan.create and not plan.update and not kept:
        placeholders = [
            s
            for s in plan.delete
            if owned_by(s, service) and _is_placeholder(s) and s["metadata"].get("labels") == labels
        ]
        if placeholders:
            plan.delete.remove(placeholders[0])
        else:
            plan.create.append(_new_slice(service, (), []))
    return plan


def _plan_port_set(
    service: Obj, ports: PortSet, wanted: dict[str, Obj], slices: list[Obj], plan: SlicePlan, max_per_slice: int
) -> list[Obj]:
    """Plan one port set's slices into ``plan``; returns the slices left exactly as they are."""
    wanted = dict(wanted)
    labels = slice_labels(service)
    port_objs = [_slice_port_obj(p) for p in ports]
    rewritten: list[Obj] = []
    unchanged: list[Obj] = []
    for slice_ in slices:
        endpoints = [wanted.pop(k) for ep in slice_.get("endpoints") or () if (k := _endpoint_key(ep)) in wanted]
        if not endpoints:
            plan.delete.append(slice_)
            continue
        fresh = {
            **slice_,
            "metadata": {**slice_["metadata"], "labels": labels},
            "endpoints": endpoints,
            "ports": port_objs,
        }
        if (
            endpoints == slice_.get("endpoints")
            and port_objs == slice_.get("ports")
            and slice_["metadata"].get("labels") == labels
        ):
            unchanged.append(slice_)
        else:
            rewritten.append(fresh)
    remaining = sorted(wanted.values(), key=_endpoint_order)
    for slice_ in rewritten:
        room = max_per_slice - len(slice_["endpoints"])
        slice_["endpoints"] += remaining[:room]
        del remaining[:room]
    for slice_ in list(unchanged):
        if remaining and len(slice_["endpoints"]) < max_per_slice:
            room = max_per_slice - len(slice_["endpoints"])
            unchanged.remove(slice_)
            rewritten.append({**slice_, "endpoints": [*slice_["endpoints"], *remaining[:room]]})
            del remaining[:room]
    plan.update += rewritten
    while remaining:
        plan.create.append(_new_slice(service, ports, remaining[:max_per_slice]))
        del remaining[:max_per_slice]
    return unchanged


# ------------------------------------------------------------------------------ trigger time


def _pod_trigger_time(pod: Obj) -> datetime | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return parse_time(condition.get("lastTransitionTime"))
    return None


@dataclass
class _TriggerState:
    pods: dict[str, datetime | None] = field(default_factory=dict)
    service: datetime | None = None


class TriggerTimeTracker:
    """Kubernetes' ``TriggerTimeTracker``: the earliest change, among the Service and its selected
    pods, since the Service was last synced. A pod's change time is the last transition of its
    Ready condition, the Service's its creation. None when nothing changed."""

    def __init__(self) -> None:
        self._state: dict[str, _TriggerState] = {}

    def compute(self, key: str, service: Obj, pods: Iterable[Obj]) -> str | None:
        old = self._state.get(key, _TriggerState())
        new = _TriggerState()
        changed: list[datetime] = []
        for pod in pods:
            name = pod["metadata"]["name"]
            moment = new.pods[name] = _pod_trigger_time(pod)
            if moment is not None and (name not in old.pods or old.pods[name] != moment):
                changed.append(moment)
        new.service = parse_time(service["metadata"].get("creationTimestamp"))
        if new.service is not None and (old.service is None or new.service > old.service):
            changed.append(new.service)
        self._state[key] = new
        return rfc3339_nano(min(changed)) if changed else None

    def forget(self, key: str) -> None:
        """Drop what was seen of ``key``: after its Service went, or after a write that failed, so
        that the next computation dates the change again instead of finding nothing new."""
        self._state.pop(key, None)
