"""``autoscaling/v1`` HorizontalPodAutoscalers, to and from the stored ``autoscaling/v2`` objects.

v1 has words for one metric only, a CPU utilization target (``targetCPUUtilizationPercentage``) and
its current value (``currentCPUUtilizationPercentage``); everything else v2 says (other metrics, their
statuses, the behavior, the conditions) is kept in annotations of the v1 object, as Kubernetes keeps
them, so that a v1 client's read-modify-write loses none of it:

- ``autoscaling.alpha.kubernetes.io/metrics``: the metric specs other than the CPU utilization target;
- ``autoscaling.alpha.kubernetes.io/current-metrics``: the metric statuses;
- ``autoscaling.alpha.kubernetes.io/behavior``: ``spec.behavior``;
- ``autoscaling.alpha.kubernetes.io/conditions``: ``status.conditions``.

Their values are JSON in v2's spelling (Kubernetes writes its older v2beta1-like spelling; pykube
writes the stored shape, which needs no second conversion). A round trip loses nothing but the
position of the CPU utilization target in the metric list, where a v1 object puts it last; the
order of metrics means nothing to the autoscaler, which takes the largest proposal.
"""

from __future__ import annotations

import json
from typing import Any

from minikube_py.model.jsoncopy import json_copy

Obj = dict[str, Any]

V1, V2 = "autoscaling/v1", "autoscaling/v2"
METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
_ANNOTATIONS = (METRICS, CURRENT_METRICS, BEHAVIOR, CONDITIONS)
#: the spec and status fields both versions spell alike
_SPEC_FIELDS = ("scaleTargetRef", "minReplicas", "maxReplicas")
_STATUS_FIELDS = ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")


def _is_cpu(metric: Obj, part: str) -> bool:
    resource = metric.get("resource") if isinstance(metric, dict) else None
    return (
        metric.get("type") == "Resource"
        and isinstance(resource, dict)
        and resource.get("name") == "cpu"
        and part in resource
    )


def _cpu_utilization_target(metric: Obj) -> int | None:
    """The percentage of a metric spec that is exactly what v1's CPU target says, else None."""
    if (
        not _is_cpu(metric, "target")
        or set(metric) != {"type", "resource"}
        or set(metric["resource"]) != {"name", "target"}
    ):
        return None
    target = metric["resource"]["target"]
    if not isinstance(target, dict) or set(target) != {"type", "averageUtilization"} or target["type"] != "Utilization":
        return None
    value = target["averageUtilization"]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cpu_utilization_metric(utilization: int) -> Obj:
    """The v2 metric spec of a CPU utilization target (v1's one metric, and v2's default)."""
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}},
    }


def from_v2(obj: Obj) -> Obj:
    """The v1 object a stored v2 HorizontalPodAutoscaler is."""
    out = {k: json_copy(v) for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = V1
    spec, status = obj.get("spec") or {}, obj.get("status")
    annotations: Obj = {}
    spec1 = {k: json_copy(spec[k]) for k in _SPEC_FIELDS if k in spec}
    others = []
    for metric in spec.get("metrics") or []:
        utilization = _cpu_utilization_target(metric) if "targetCPUUtilizationPercentage" not in spec1 else None
        if utilization is None:
            others.append(metric)
        else:
            spec1["targetCPUUtilizationPercentage"] = utilization
    if others:
        annotations[METRICS] = _dumps(others)
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR] = _dumps(spec["behavior"])
    out["spec"] = spec1
    if status is not None:
        status1 = {k: json_copy(status[k]) for k in _STATUS_FIELDS if k in status}
        current = status.get("currentMetrics") or []
        cpu = next((m for m in current if _is_cpu(m, "current")), None)
        if cpu is not None and "averageUtilization" in (cpu["resource"]["current"] or {}):
            status1["currentCPUUtilizationPercentage"] = cpu["resource"]["current"]["averageUtilization"]
        if current and current != _v1_current(status1.get("currentCPUUtilizationPercentage")):
            annotations[CURRENT_METRICS] = _dumps(current)
        if status.get("conditions"):
            annotations[CONDITIONS] = _dumps(status["conditions"])
        status1.setdefault("currentReplicas", 0)  # neither is omitempty in v1's Go type
        status1.setdefault("desiredReplicas", 0)
        out["status"] = status1
    if annotations:
        md = out.setdefault("metadata", {})
        md["annotations"] = {**(md.get("annotations") or {}), **annotations}
    return out


def _v1_current(utilization: int | None) -> list[Obj]:
    """The metric statuses a v1 object says with its CPU field alone."""
    if utilization is None:
        return []
    return [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": utilization}}}]


def to_v2(obj: Obj) -> Obj:
    """The v2 object a v1 HorizontalPodAutoscaler means: its annotations give back what v1 cannot say
    (and are removed), its CPU fields become the CPU utilization metric."""
    out = {k: json_copy(v) for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = V2
    md = out.get("metadata")
    annotations = dict((md.get("annotations") if isinstance(md, dict) else None) or {})
    kept = {k: annotations.pop(k) for k in _ANNOTATIONS if k in annotations}
    if isinstance(md, dict) and kept:
        if annotations:
            md["annotations"] = annotations
        else:
            md.pop("annotations", None)
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    spec2 = {k: json_copy(spec[k]) for k in _SPEC_FIELDS if k in spec}
    metrics = _loads(kept.get(METRICS), list) or []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append(cpu_utilization_metric(spec["targetCPUUtilizationPercentage"]))
    if metrics:
        spec2["metrics"] = metrics
    behavior = _loads(kept.get(BEHAVIOR), dict)
    if behavior is not None:
        spec2["behavior"] = behavior
    out["spec"] = spec2
    status = obj.get("status")
    if isinstance(status, dict):
        status2 = {k: json_copy(status[k]) for k in _STATUS_FIELDS if k in status}
        if status2.get("currentReplicas") == 0:
            del status2["currentReplicas"]  # omitempty in v2's Go type
        utilization = status.get("currentCPUUtilizationPercentage")
        current = _loads(kept.get(CURRENT_METRICS), list)
        if current is None:
            current = _v1_current(utilization)
        elif utilization is not None:
            cpu = next((m for m in current if isinstance(m, dict) and _is_cpu(m, "current")), None)
            if cpu is None:
                current += _v1_current(utilization)
            else:  # the v1 field wins: it is what a v1 writer changes
                cpu["resource"]["current"]["averageUtilization"] = utilization
        if current:
            status2["currentMetrics"] = current
        conditions = _loads(kept.get(CONDITIONS), list)
        if conditions:
            status2["conditions"] = conditions
        out["status"] = status2
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _loads(text: Any, kind: type) -> Any:
    """An annotation's JSON value, or None when it is absent or not JSON of ``kind`` (a v1 writer's
    damaged annotation is ignored as Kubernetes ignores one it cannot decode)."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, kind) else None
