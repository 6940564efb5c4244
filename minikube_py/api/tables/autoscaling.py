"""The printer of HorizontalPodAutoscalers: kube-apiserver's columns, with TARGETS as
``cpu: 12%/50%`` (current/target of each metric, ``<unknown>`` before the first measurement)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name
from minikube_py.api.tables.formatting import NONE
from minikube_py.model import autoscalingv1

Obj = dict[str, Any]
UNKNOWN = "<unknown>"
#: metrics shown before the rest are summed up as `` + N more...``
SHOWN_METRICS = 2


def _current(statuses: list[Obj], index: int, source: str) -> Obj:
    """The current value of the metric status at ``index`` (statuses follow the specs' order)."""
    if index < len(statuses) and isinstance(statuses[index], dict):
        return (statuses[index].get(source) or {}).get("current") or {}
    return {}


def _target_text(spec: Obj, statuses: list[Obj], index: int) -> str:
    kind = spec.get("type")
    source = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods"}.get(
        kind or "", "object" if kind == "Object" else "external"
    )
    body = spec.get(source) or {}
    target, current = body.get("target") or {}, _current(statuses, index, source)
    if kind in ("Resource", "ContainerResource"):
        if target.get("averageValue") is not None:
            text = f"{current.get('averageValue', UNKNOWN)}/{target['averageValue']}"
        else:
            now = current.get("averageUtilization")
            goal = target.get("averageUtilization")
            text = f"{UNKNOWN if now is None else f'{now}%'}/{'<auto>' if goal is None else f'{goal}%'}"
        return f"{body.get('name', '')}: {text}"
    if kind == "Pods":
        return f"{current.get('averageValue', UNKNOWN)}/{target.get('averageValue', '')}"
    if target.get("value") is not None:
        return f"{current.get('value', UNKNOWN)}/{target['value']}"
    return f"{current.get('averageValue', UNKNOWN)}/{target.get('averageValue', '')} (avg)"


def targets(obj: Obj) -> str:
    """The TARGETS cell: each metric's current/target, the first two, then how many more."""
    specs = (obj.get("spec") or {}).get("metrics") or []
    statuses = (obj.get("status") or {}).get("currentMetrics") or []
    texts = [_target_text(spec, statuses, i) for i, spec in enumerate(specs) if isinstance(spec, dict)]
    if not texts:
        return NONE
    shown = ", ".join(texts[:SHOWN_METRICS])
    return shown if len(texts) <= SHOWN_METRICS else f"{shown} + {len(texts) - SHOWN_METRICS} more..."


def _hpa(obj: Obj, now: datetime) -> list[Any]:
    if obj.get("apiVersion") == autoscalingv1.V1:
        obj = autoscalingv1.to_v2(obj)  # a list at v1 prints what the stored object says
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    low = spec.get("minReplicas")
    return [
        obj_name(obj),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        targets(obj),
        "<unset>" if low is None else str(low),
        spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0),
        age(obj, now),
    ]


HORIZONTAL_POD_AUTOSCALER = Printer(
    (
        NAME,
        Column(
            "Reference",
            "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics "
            "should be collected, as well as to actually change the replica count.",
        ),
        Column(
            "Targets",
            "metrics contains the specifications for which to use to calculate the desired replica count (the "
            "maximum replica count across all metrics will be used).  The desired replica count is calculated "
            "multiplying the ratio between the target value and the current value by the current number of "
            "pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the "
            "individual metric source types for more information about how each type of metric must respond. "
            "If not set, the default metric will be set to 80% average CPU utilization.",
        ),
        Column(
            "MinPods",
            "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  "
            "It defaults to 1 pod.",
        ),
        Column(
            "MaxPods",
            "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. "
            "It cannot be less that minReplicas.",
            "integer",
        ),
        Column(
            "Replicas",
            "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by "
            "the autoscaler.",
        ),
        AGE,
    ),
    _hpa,
)
