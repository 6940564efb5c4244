"""LimitRange: the defaults it gives a new pod's containers and the bounds it holds pods to, as pure
functions (Kubernetes' LimitRanger admission plugin, for the ``Container`` and ``Pod`` types).

A ``Container`` item fills each container's missing limits from ``default`` and missing requests from
``defaultRequest`` (the LimitRange's own defaulting derives those from ``max`` and ``min``), and then
every container must stay within ``min``/``max`` and ``maxLimitRequestRatio``; a ``Pod`` item holds
the pod's summed requests and limits to the same bounds. ``PersistentVolumeClaim`` items are
accepted and stored but not enforced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from minikube_py.model.quota import amount, canonical, pod_totals

Obj = dict[str, Any]

ANNOTATION = "kubernetes.io/limit-ranger"
CONTAINER, POD = "Container", "Pod"


def default_limit_range(limit_range: Obj) -> None:
    """SetDefaults_LimitRangeItem: a Container item's default limit falls back to its max, its
    default request to its default limit, then to its min."""
    for item in (limit_range.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != CONTAINER:
            continue
        default = item.setdefault("default", {})
        request = item.setdefault("defaultRequest", {})
        for name, quantity in (item.get("max") or {}).items():
            default.setdefault(name, quantity)
        for name, quantity in default.items():
            request.setdefault(name, quantity)
        for name, quantity in (item.get("min") or {}).items():
            request.setdefault(name, quantity)


def _items(limit_ranges: Iterable[Obj], kind: str) -> list[Obj]:
    return [
        item
        for lr in sorted(limit_ranges, key=lambda lr: lr["metadata"]["name"])
        for item in (lr.get("spec") or {}).get("limits") or []
        if item.get("type") == kind
    ]


def _containers(pod: Obj) -> list[tuple[str, Obj]]:
    spec = pod.get("spec") or {}
    return [
        *(("container", c) for c in spec.get("containers") or []),
        *(("init container", c) for c in spec.get("initContainers") or []),
    ]


def apply_defaults(limit_ranges: Iterable[Obj], pod: Obj) -> bool:
    """Fill the containers' missing requests and limits from the Container items' defaults (the
    first LimitRange by name wins) and say so in the ``kubernetes.io/limit-ranger`` annotation, as
    Kubernetes does. True when anything was set."""
    items = _items(limit_ranges, CONTAINER)
    notes: list[str] = []
    for label, container in _containers(pod):
        set_requests: set[str] = set()
        set_limits: set[str] = set()
        for item in items:
            resources = container.setdefault("resources", {})
            for which, source, record in (
                ("limits", "default", set_limits),
                ("requests", "defaultRequest", set_requests),
            ):
                for name, quantity in (item.get(source) or {}).items():
                    current = resources.setdefault(which, {})
                    if name not in current:
                        current[name] = quantity
                        record.add(name)
        if set_requests:
            notes.append(f"{', '.join(sorted(set_requests))} request for {label} {container.get('name', '')}")
        if set_limits:
            notes.append(f"{', '.join(sorted(set_limits))} limit for {label} {container.get('name', '')}")
    if notes:
        pod["metadata"].setdefault("annotations", {})[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
    return bool(notes)


def _min(kind: str, name: str, enforced: str, requests: Mapping[str, str], limits: Mapping[str, str]) -> str | None:
    bound = amount(enforced)
    if name not in requests:
        return f"minimum {name} usage per {kind} is {canonical(enforced)}.  No request is specified"
    if amount(requests[name]) < bound:
        return f"minimum {name} usage per {kind} is {canonical(enforced)}, but request is {canonical(requests[name])}"
    if name in limits and amount(limits[name]) < bound:
        return f"minimum {name} usage per {kind} is {canonical(enforced)}, but limit is {canonical(limits[name])}"
    return None


def _max(kind: str, name: str, enforced: str, requests: Mapping[str, str], limits: Mapping[str, str]) -> str | None:
    bound = amount(enforced)
    if name not in limits:
        return f"maximum {name} usage per {kind} is {canonical(enforced)}.  No limit is specified"
    if amount(limits[name]) > bound:
        return f"maximum {name} usage per {kind} is {canonical(enforced)}, but limit is {canonical(limits[name])}"
    if name in requests and amount(requests[name]) > bound:
        return f"maximum {name} usage per {kind} is {canonical(enforced)}, but request is {canonical(requests[name])}"
    return None


def _ratio(kind: str, name: str, enforced: str, requests: Mapping[str, str], limits: Mapping[str, str]) -> str | None:
    request = amount(requests[name]) if name in requests else Fraction(0)
    limit = amount(limits[name]) if name in limits else Fraction(0)
    shown = canonical(enforced)
    if not request:
        return f"{name} max limit to request ratio per {kind} is {shown}, but no request is specified or request is 0"
    if not limit:
        return f"{name} max limit to request ratio per {kind} is {shown}, but no limit is specified or limit is 0"
    observed = limit / request
    if observed > amount(enforced):
        return f"{name} max limit to request ratio per {kind} is {shown}, but provided ratio is {float(observed):f}"
    return None


_CHECKS = (("min", _min), ("max", _max), ("maxLimitRequestRatio", _ratio))


def _check(item: Obj, kind: str, requests: Mapping[str, str], limits: Mapping[str, str]) -> list[str]:
    problems = []
    for field, check in _CHECKS:
        for name, enforced in sorted((item.get(field) or {}).items()):
            if (problem := check(kind, name, enforced, requests, limits)) is not None:
                problems.append(problem)
    return problems


def violations(limit_ranges: Iterable[Obj], pod: Obj) -> list[str]:
    """Every bound ``pod`` breaks, in Kubernetes' words (empty: it fits)."""
    limit_ranges = list(limit_ranges)
    problems: list[str] = []
    for item in _items(limit_ranges, CONTAINER):
        for _label, container in _containers(pod):
            resources = container.get("resources") or {}
            problems += _check(item, CONTAINER, resources.get("requests") or {}, resources.get("limits") or {})
    for item in _items(limit_ranges, POD):
        problems += _check(item, POD, pod_totals(pod, "requests"), pod_totals(pod, "limits"))
    return problems


def refusal(problems: list[str]) -> str:
    """Several problems read as Go's aggregate error: ``[a, b]``."""
    return problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
