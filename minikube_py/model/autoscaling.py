"""HorizontalPodAutoscaler (``autoscaling/v2``, the stored version): defaults and validation, as
the autoscaling/v2 API documents them.

Defaults: ``minReplicas`` 1; no metrics means a CPU utilization target of 80 %; a ``behavior`` that is
given has its missing parts filled with the documented defaults (scale up: no stabilization, the
larger of 4 pods or 100 % per 15 s; scale down: a 300 s window, 100 % per 15 s). An autoscaler
without ``behavior`` keeps none: the controller then applies those same defaults, with its own
scale-down window setting (kube-controller-manager's ``--horizontal-pod-autoscaler-downscale-
stabilization``).
"""

from __future__ import annotations

from typing import Any

from minikube_py.model import errors
from minikube_py.model.autoscalingv1 import cpu_utilization_metric
from minikube_py.model.errors import FieldError
from minikube_py.model.jsoncopy import json_copy
from minikube_py.model.lenient import as_dict
from minikube_py.model.quantity import parse_quantity
from minikube_py.model.selectors import dns1123_subdomain_errors

Obj = dict[str, Any]
Errors = list[FieldError]

DEFAULT_CPU_UTILIZATION = 80
#: the documented default rules of each direction, for a ``behavior`` that leaves one out
SCALE_UP_DEFAULT: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
SCALE_DOWN_DEFAULT: Obj = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}
MAX_WINDOW, MAX_PERIOD = 3600, 1800
METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
#: each metric type's source field, and the target types it takes
_SOURCES = {
    "Resource": ("resource", ("AverageValue", "Utilization")),
    "ContainerResource": ("containerResource", ("AverageValue", "Utilization")),
    "Pods": ("pods", ("AverageValue",)),
    "Object": ("object", ("AverageValue", "Value")),
    "External": ("external", ("AverageValue", "Value")),
}
SELECT_POLICIES = ("Disabled", "Max", "Min")
POLICY_TYPES = ("Percent", "Pods")


def rules_with_defaults(rules: Obj | None, default: Obj) -> Obj:
    """One direction's scaling rules with what they leave out taken from ``default``."""
    out = json_copy(rules) if rules else {}
    for key, value in default.items():
        if out.get(key) is None:
            out[key] = json_copy(value)
    return out


def default_hpa(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [cpu_utilization_metric(DEFAULT_CPU_UTILIZATION)]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = rules_with_defaults(behavior.get("scaleUp"), SCALE_UP_DEFAULT)
        behavior["scaleDown"] = rules_with_defaults(behavior.get("scaleDown"), SCALE_DOWN_DEFAULT)


def validate_hpa(obj: Obj) -> Errors:
    spec = as_dict(obj.get("spec"))
    errs = _validate_target_ref(as_dict(spec.get("scaleTargetRef")), "spec.scaleTargetRef")
    low, high = spec.get("minReplicas"), spec.get("maxReplicas")
    if low is not None and (not _is_int(low) or low < 1):
        errs.append(errors.invalid_value("spec.minReplicas", low, "must be greater than or equal to 1"))
    if high is None:
        errs.append(errors.required("spec.maxReplicas"))
    elif not _is_int(high) or high < 1:
        errs.append(errors.invalid_value("spec.maxReplicas", high, "must be greater than 0"))
    elif _is_int(low) and high < low:
        errs.append(errors.invalid_value("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"))
    for i, metric in enumerate(spec.get("metrics") or []):
        errs += _validate_metric(as_dict(metric), f"spec.metrics[{i}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for direction in ("scaleUp", "scaleDown"):
            if behavior.get(direction) is not None:
                errs += _validate_rules(as_dict(behavior[direction]), f"spec.behavior.{direction}")
    return errs


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_target_ref(ref: Obj, path: str) -> Errors:
    errs: Errors = []
    kind, name = ref.get("kind"), ref.get("name")
    if not kind:
        errs.append(errors.required(f"{path}.kind"))
    elif "/" in kind or "%" in kind:
        errs.append(errors.invalid_value(f"{path}.kind", kind, 'may not contain "/" or "%"'))
    if not name:
        errs.append(errors.required(f"{path}.name"))
    else:
        errs += [errors.invalid_value(f"{path}.name", name, m) for m in dns1123_subdomain_errors(name)]
    return errs


def _validate_metric(metric: Obj, path: str) -> Errors:
    kind = metric.get("type")
    if not kind:
        return [errors.required(f"{path}.type")]
    if kind not in _SOURCES:
        return [errors.not_supported(f"{path}.type", kind, list(METRIC_TYPES))]
    field, target_types = _SOURCES[kind]
    errs = [
        errors.forbidden(f"{path}.{other}", "must populate the given metric source only")
        for other, _ in _SOURCES.values()
        if other != field and metric.get(other) is not None
    ]
    source = metric.get(field)
    if not isinstance(source, dict):
        return [*errs, errors.required(f"{path}.{field}")]
    where = f"{path}.{field}"
    if kind in ("Resource", "ContainerResource"):
        if not source.get("name"):
            errs.append(errors.required(f"{where}.name"))
        if kind == "ContainerResource" and not source.get("container"):
            errs.append(errors.required(f"{where}.container"))
    else:
        if not as_dict(source.get("metric")).get("name"):
            errs.append(errors.required(f"{where}.metric.name"))
        if kind == "Object":
            described = as_dict(source.get("describedObject"))
            for part in ("kind", "name"):
                if not described.get(part):
                    errs.append(errors.required(f"{where}.describedObject.{part}"))
    return errs + _validate_target(as_dict(source.get("target")), f"{where}.target", target_types)


def _validate_target(target: Obj, path: str, allowed: tuple[str, ...]) -> Errors:
    kind = target.get("type")
    if not kind:
        return [errors.required(f"{path}.type")]
    if kind not in allowed:
        return [errors.not_supported(f"{path}.type", kind, list(allowed))]
    field = {"Utilization": "averageUtilization", "AverageValue": "averageValue", "Value": "value"}[kind]
    value = target.get(field)
    if value is None:
        return [errors.required(f"{path}.{field}")]
    if field == "averageUtilization":
        ok = _is_int(value) and value > 0
    else:
        try:
            ok = parse_quantity(value) > 0
        except (ValueError, TypeError):
            return [errors.invalid_value(f"{path}.{field}", value, "must be a quantity")]
    return [] if ok else [errors.invalid_value(f"{path}.{field}", value, "must be positive")]


def _validate_rules(rules: Obj, path: str) -> Errors:
    errs: Errors = []
    window = rules.get("stabilizationWindowSeconds")
    if window is not None and (not _is_int(window) or not 0 <= window <= MAX_WINDOW):
        errs.append(
            errors.invalid_value(f"{path}.stabilizationWindowSeconds", window, f"must be between 0 and {MAX_WINDOW}")
        )
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        errs.append(errors.not_supported(f"{path}.selectPolicy", select, list(SELECT_POLICIES)))
    policies = rules.get("policies")
    if not policies:
        errs.append(errors.required(f"{path}.policies"))
        return errs
    for i, policy in enumerate(policies):
        where = f"{path}.policies[{i}]"
        policy = as_dict(policy)
        if policy.get("type") not in POLICY_TYPES:
            errs.append(errors.not_supported(f"{where}.type", policy.get("type"), list(POLICY_TYPES)))
        value, period = policy.get("value"), policy.get("periodSeconds")
        if not _is_int(value) or value <= 0:
            errs.append(errors.invalid_value(f"{where}.value", value, "must be greater than zero"))
        if not _is_int(period) or not 0 < period <= MAX_PERIOD:
            errs.append(errors.invalid_value(f"{where}.periodSeconds", period, f"must be between 1 and {MAX_PERIOD}"))
    return errs
