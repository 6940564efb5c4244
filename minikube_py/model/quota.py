"""ResourceQuota: what an object costs, what a namespace has used, and whether one more fits, as
pure functions.

A quota's ``spec.hard`` limits resources by name: object counts (``pods``, ``services``,
``count/deployments.apps``...), compute (``requests.cpu``, ``limits.memory``, and ``cpu``/``memory``
meaning requests), ``services.nodeports`` and ``requests.storage``. The quota controller keeps
``status.used`` for every hard resource; admission charges a new object's usage to ``status.used``
in the same commit as the object, so the check and the charge cannot be overtaken by a concurrent
create. Quantities stay Kubernetes' strings; a sum keeps the notation of its first operand, as
``resource.Quantity.Add`` does, so ``kubectl describe quota`` shows what Kubernetes would.

Scopes (``spec.scopes`` and ``spec.scopeSelector``: BestEffort, NotBestEffort, Terminating,
NotTerminating, PriorityClass by ``priorityClassName``, CrossNamespacePodAffinity) restrict a quota
to the pods they describe.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from minikube_py.model import quantity as _quantity
from minikube_py.model import resources as resource_names
from minikube_py.model.kinds import ResourceType
from minikube_py.model.times import parse_time

Obj = dict[str, Any]
Resources = dict[str, str]

#: compute resource names a pod's usage may carry, and those each container must state once a
#: quota constrains them (Kubernetes' backward-compatibility rule for cpu and memory)
_CONTAINER_REQUIRED = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_POD_RESOURCES = frozenset(
    {
        "pods",
        "count/pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    }
)
#: resource names beyond ``count/<resource>`` that count objects of a kind (legacy object counts)
_LEGACY_COUNTS = {
    "Pod": "pods",
    "Service": "services",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ReplicationController": "replicationcontrollers",
    "ResourceQuota": "resourcequotas",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}
_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def count_name(rt: ResourceType) -> str:
    """``count/pods``, ``count/deployments.apps``: the object count resource of a kind."""
    return f"count/{rt.qualified}"


def governs(rt: ResourceType, resource: str) -> bool:
    """Whether objects of ``rt`` can use ``resource`` (so a quota on it concerns them)."""
    if resource == count_name(rt) or resource == _LEGACY_COUNTS.get(rt.kind):
        return True
    if rt.kind == "Pod":
        return resource in _POD_RESOURCES or _quota_d_by_request(resource)
    if rt.kind == "Service":
        return resource in ("services.nodeports", "services.loadbalancers")
    if rt.kind == "PersistentVolumeClaim":
        return (
            resource == "requests.storage"
            or resource.endswith(".storageclass.storage.k8s.io/requests.storage")
            or resource.endswith(".storageclass.storage.k8s.io/persistentvolumeclaims")
        )
    return False


# ------------------------------------------------------------------------------ quantities
# Parsing a quantity into an exact Fraction and spelling one back cost tens of microseconds, and a
# namespace's quantities are a handful of spellings seen over and over: the three operations are
# memoized (their arguments and results are immutable).


@functools.lru_cache(maxsize=4096, typed=True)
def _parsed(quantity: str | int | float) -> tuple[Fraction, _quantity.Format]:
    return _quantity.parse_quantity_format(quantity)


def amount(quantity: str | int | float) -> Fraction:
    """The exact value of a quantity (ValueError when malformed)."""
    return _parsed(quantity)[0]


@functools.lru_cache(maxsize=4096, typed=True)
def canonical(quantity: str | int | float) -> str:
    """Kubernetes' canonical spelling of a quantity (``1000m`` is ``1``)."""
    return _quantity.format_quantity(quantity)


@functools.lru_cache(maxsize=4096)
def add(a: str, b: str) -> str:
    """``a + b`` in ``a``'s notation (``b``'s when ``a`` is zero)."""
    amount_a, fmt_a = _parsed(a)
    amount_b, fmt_b = _parsed(b)
    return _quantity.format_quantity(amount_a + amount_b, fmt_a if amount_a else fmt_b)


def add_all(total: Resources, more: Mapping[str, str]) -> Resources:
    out = dict(total)
    for name, quantity in more.items():
        out[name] = add(out[name], quantity) if name in out else canonical(quantity)
    return out


def _positive_delta(new: Resources, old: Resources) -> Resources:
    """What ``new`` uses beyond ``old``, for each resource where that is more than nothing."""
    out: Resources = {}
    for name, quantity in new.items():
        previous = old.get(name)
        if previous == quantity:
            continue  # an unchanged quantity adds nothing (and costs no Fraction arithmetic)
        value, fmt = _parsed(quantity)
        delta = value - (amount(previous) if previous is not None else 0)
        if delta > 0:
            out[name] = _quantity.format_quantity(delta, fmt)
    return out


# ------------------------------------------------------------------------------ usage


def pod_counts_for_compute(pod: Obj, now: datetime) -> bool:
    """Kubernetes' QuotaV1Pod: finished pods and pods past their deletion grace use no compute."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    md = pod["metadata"]
    deletion = parse_time(md.get("deletionTimestamp"))
    grace = md.get("deletionGracePeriodSeconds")
    return not (deletion is not None and grace is not None and now > deletion + timedelta(seconds=grace))


def _container_usage(requests: Mapping[str, str], limits: Mapping[str, str]) -> Resources:
    """The compute names a container's (or pod's) requests and limits amount to; extended resources
    and hugepages are quota'd by request only (``requests.nvidia.com/gpu``), as they cannot be
    overcommitted."""
    out: Resources = {"pods": "1"}
    for resource in ("cpu", "memory", "ephemeral-storage"):
        if resource in requests:
            out[resource] = out[f"requests.{resource}"] = canonical(requests[resource])
        if resource in limits:
            out[f"limits.{resource}"] = canonical(limits[resource])
    for resource, quantity in requests.items():
        if resource_names.is_extended(resource) or resource_names.is_hugepages(resource):
            out[_REQUESTS + resource] = canonical(quantity)
    return out


_REQUESTS = "requests."


def _quota_d_by_request(name: str) -> bool:
    """Whether a quota's ``name`` is ``requests.<name>`` of an extended resource or of hugepages."""
    resource = name.removeprefix(_REQUESTS)
    return name.startswith(_REQUESTS) and (
        resource_names.is_extended(resource) or resource_names.is_hugepages(resource)
    )


def pod_totals(pod: Obj, which: str) -> Resources:
    """A pod's effective requests or limits: its containers' sum, raised to any regular init
    container's (init containers run one at a time, before the others), plus overhead."""
    spec = pod.get("spec") or {}
    total: Resources = {}
    for container in spec.get("containers") or []:
        total = add_all(total, ((container.get("resources") or {}).get(which) or {}))
    for container in spec.get("initContainers") or []:
        own = (container.get("resources") or {}).get(which) or {}
        if container.get("restartPolicy") == "Always":  # a sidecar runs alongside the others
            total = add_all(total, own)
            continue
        for name, quantity in own.items():
            if name not in total or amount(quantity) > amount(total[name]):
                total[name] = canonical(quantity)
    return add_all(total, spec.get("overhead") or {})


def _scope_matches(scope: Obj, pod: Obj) -> bool:
    """One ``scopeSelector`` requirement (``spec.scopes`` entries are ``Exists`` ones) against a pod."""
    spec = pod.get("spec") or {}
    name, operator, values = scope.get("scopeName"), scope.get("operator", "Exists"), scope.get("values") or []
    deadline = spec.get("activeDeadlineSeconds")
    if name in ("Terminating", "NotTerminating"):
        return (deadline is not None and deadline >= 0) == (name == "Terminating")
    if name in ("BestEffort", "NotBestEffort"):
        return _best_effort(pod) == (name == "BestEffort")
    if name == "PriorityClass":
        priority_class = spec.get("priorityClassName") or ""
        return {
            "Exists": priority_class != "",
            "DoesNotExist": False,
            "In": priority_class in values,
            "NotIn": priority_class not in values,
        }.get(operator, False)
    if name == "CrossNamespacePodAffinity":
        return _cross_namespace_affinity(spec)
    return False


def _cross_namespace_affinity(spec: Obj) -> bool:
    """Whether any pod (anti-)affinity term names other namespaces or selects them by label."""
    affinity = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = [
            *(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or []),
            *(
                (t.get("podAffinityTerm") or {})
                for t in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []
            ),
        ]
        if any(term.get("namespaces") or term.get("namespaceSelector") is not None for term in terms):
            return True
    return False


def _scopes(quota: Obj) -> list[Obj]:
    spec = quota.get("spec") or {}
    return [
        *({"scopeName": name, "operator": "Exists"} for name in spec.get("scopes") or []),
        *((spec.get("scopeSelector") or {}).get("matchExpressions") or []),
    ]


def _best_effort(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        resources = container.get("resources") or {}
        if any(r in (resources.get(which) or {}) for which in ("requests", "limits") for r in ("cpu", "memory")):
            return False
    return True


def counted_by_metadata(rt: ResourceType) -> bool:
    """Whether :func:`usage` of ``rt``'s objects (and whether a quota's scopes match them) reads
    nothing but their metadata: every kind but those whose spec or status uses resources."""
    return rt.kind not in _USAGE_IN_SPEC


#: the kinds whose objects use more than their count (see :func:`usage`)
_USAGE_IN_SPEC = frozenset({"Pod", "Service", "PersistentVolumeClaim"})


def usage(rt: ResourceType, obj: Obj, now: datetime) -> Resources:
    """Every quota resource ``obj`` uses."""
    out: Resources = {count_name(rt): "1"}
    legacy = _LEGACY_COUNTS.get(rt.kind)
    if legacy and rt.kind != "Pod":
        out[legacy] = "1"
    spec = obj.get("spec") or {}
    if rt.kind == "Pod" and pod_counts_for_compute(obj, now):
        out.update(_container_usage(pod_totals(obj, "requests"), pod_totals(obj, "limits")))
    elif rt.kind == "Service":
        if spec.get("type") in _NODE_PORT_TYPES:
            out["services.nodeports"] = str(len(spec.get("ports") or []))
        if spec.get("type") == "LoadBalancer":
            out["services.loadbalancers"] = "1"
    elif rt.kind == "PersistentVolumeClaim":
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        cls = spec.get("storageClassName")
        if storage:
            out["requests.storage"] = canonical(storage)
            if cls:
                out[f"{cls}.storageclass.storage.k8s.io/requests.storage"] = canonical(storage)
        if cls:
            out[f"{cls}.storageclass.storage.k8s.io/persistentvolumeclaims"] = "1"
    return out


def quota_matches(quota: Obj, rt: ResourceType, obj: Obj) -> bool:
    """Whether ``quota`` concerns ``obj`` at all: a quota with scopes (``spec.scopes`` and
    ``spec.scopeSelector``, all of which must match) only the pods they describe."""
    scopes = _scopes(quota)
    if not scopes:
        return True
    return rt.kind == "Pod" and all(_scope_matches(scope, obj) for scope in scopes)


def used(quota: Obj, objects: Iterable[tuple[ResourceType, Iterable[Obj]]], now: datetime) -> Resources:
    """``status.used`` of ``quota``: every hard resource summed over ``objects`` (all objects of the
    quota's namespace, by kind, of each kind a hard resource concerns), zero where nothing uses it."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    totals: Resources = {name: "0" for name in hard}
    for rt, items in objects:
        wanted = [name for name in hard if governs(rt, name)]
        if not wanted:
            continue
        for obj in items:
            if quota_matches(quota, rt, obj):
                cost = usage(rt, obj, now)
                totals = add_all(totals, {name: cost[name] for name in wanted if name in cost})
    return totals


def kinds_counted(quota: Obj, resources: Iterable[ResourceType]) -> list[ResourceType]:
    """The kinds whose objects the controller must read to compute ``quota``'s usage."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    return [rt for rt in resources if any(governs(rt, name) for name in hard)]


# ------------------------------------------------------------------------------ admission


class QuotaRefused(Exception):
    """The object does not fit a quota; the message follows ``is forbidden: `` in the 403."""


def _pretty(resources: Mapping[str, str]) -> str:
    return ",".join(f"{name}={canonical(resources[name])}" for name in sorted(resources))


def _missing_requests(quota: Obj, pod: Obj, constrained: Iterable[str]) -> str | None:
    """Kubernetes refuses a pod in a namespace whose quota constrains cpu or memory unless every
    container states that request or limit: ``must specify limits.cpu for: a,b; ...``."""
    required = set(constrained) & set(_CONTAINER_REQUIRED)
    if not required:
        return None
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        resources = container.get("resources") or {}
        has = set(_container_usage(resources.get("requests") or {}, resources.get("limits") or {}))
        for resource in required - has:
            missing.setdefault(resource, set()).add(container.get("name", ""))
    if not missing:
        return None
    return "; ".join(f"must specify {r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing))


def added_usage(rt: ResourceType, obj: Obj, old: Obj | None, now: datetime) -> Resources:
    """What a write adds to its namespace's usage: all of a new object's, an update's growth. What
    an object uses follows from its spec, except that a pod finishing or going uses less: an update
    that keeps the spec adds nothing (the pod status updates of every node, answered at once)."""
    if old is not None and obj.get("spec") == old.get("spec"):
        return {}
    delta = usage(rt, obj, now)
    if old is not None:
        delta = _positive_delta(delta, usage(rt, old, now))
    return {name: q for name, q in delta.items() if amount(q) != 0}


@dataclass(frozen=True)
class Charge:
    """A quota as admission leaves it: ``status.used`` raised by what the object adds."""

    quota: Obj


def charge(quotas: list[Obj], rt: ResourceType, obj: Obj, old: Obj | None, now: datetime) -> list[Charge]:
    """The quotas ``obj`` (a create when ``old`` is None, else an update of ``old``) is charged to,
    with their new ``status.used``; QuotaRefused when it would exceed one, in Kubernetes' words."""
    pertinent: list[tuple[Obj, list[str]]] = []
    for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
        status = quota.get("status") or {}
        hard = status.get("hard") or {}
        constrained = [name for name in hard if governs(rt, name)]
        if not constrained or not quota_matches(quota, rt, obj):
            continue
        name = quota["metadata"]["name"]
        if rt.kind == "Pod" and (why := _missing_requests(quota, obj, constrained)):
            raise QuotaRefused(f"failed quota: {name}: {why}")
        if any(resource not in (status.get("used") or {}) for resource in constrained):
            raise QuotaRefused(f"status unknown for quota: {name}, resources: {','.join(sorted(constrained))}")
        pertinent.append((quota, constrained))
    delta = added_usage(rt, obj, old, now)
    if not pertinent or not delta:
        return []
    charged = []
    for quota, constrained in pertinent:
        status = quota["status"]
        requested = {name: delta[name] for name in constrained if name in delta}
        if not requested:
            continue
        new_used = add_all(status["used"], requested)
        exceeded = sorted(n for n in requested if amount(new_used[n]) > amount(status["hard"][n]))
        if exceeded:
            raise QuotaRefused(
                f"exceeded quota: {quota['metadata']['name']}, requested: {_pretty({n: requested[n] for n in exceeded})}, "
                f"used: {_pretty({n: status['used'][n] for n in exceeded})}, "
                f"limited: {_pretty({n: status['hard'][n] for n in exceeded})}"
            )
        charged.append(Charge({**quota, "status": {**status, "used": new_used}}))
    return charged


def quota_status(quota: Obj, used_now: Resources) -> Obj:
    """The status the quota controller writes: hard as the spec says, used as counted."""
    hard = {name: canonical(q) for name, q in ((quota.get("spec") or {}).get("hard") or {}).items()}
    return {"hard": hard, "used": {name: used_now.get(name, "0") for name in hard}}
