"""Printers for the policy kinds a team's namespace is held to: PodDisruptionBudgets,
ResourceQuotas and LimitRanges; and for admission's: webhook configurations, ValidatingAdmissionPolicies
and their bindings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name
from minikube_py.model.selectors import stored_selector


def _int_or_percent(value: Any) -> str:
    return "N/A" if value is None else str(value)


def _pod_disruption_budget(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj_name(obj),
        _int_or_percent(spec.get("minAvailable")),
        _int_or_percent(spec.get("maxUnavailable")),
        status.get("disruptionsAllowed", 0),
        age(obj, now),
    ]


POD_DISRUPTION_BUDGET = Printer(
    (
        NAME,
        Column("Min Available", "The minimum number of pods that must be available."),
        Column("Max Unavailable", "The maximum number of pods that may be unavailable."),
        Column("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time.", "integer"),
        AGE,
    ),
    _pod_disruption_budget,
)


def _resource_quota(obj: dict[str, Any], now: datetime) -> list[Any]:
    """Used/hard of every resource in ``status.hard``, sorted; ``limits.*`` go to the LIMIT column."""
    status = obj.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    requests, limits = [], []
    for name in sorted(hard):
        column = limits if name.split(".")[0] == "limits" and "." in name else requests
        column.append(f"{name}: {used.get(name, '0')}/{hard[name]}")
    return [obj_name(obj), age(obj, now), ", ".join(requests), ", ".join(limits)]


RESOURCE_QUOTA = Printer(
    (
        NAME,
        AGE,
        Column("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
        Column(
            "Limit",
            "Limits control the maximum amount of cpu/memory that a container may use independent of "
            "contention on the node.",
        ),
    ),
    _resource_quota,
)


def _limit_range(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), (obj.get("metadata") or {}).get("creationTimestamp")]


LIMIT_RANGE = Printer((NAME, Column("Created At", AGE.description, "date")), _limit_range)


def _webhook_configuration(obj: dict[str, Any], now: datetime) -> list[Any]:
    webhooks = obj.get("webhooks")
    return [obj_name(obj), len(webhooks) if isinstance(webhooks, list) else 0, age(obj, now)]


WEBHOOK_CONFIGURATION = Printer(
    (NAME, Column("Webhooks", "The number of webhooks the configuration holds.", "integer"), AGE),
    _webhook_configuration,
)


def _validating_admission_policy(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    validations = spec.get("validations")
    kind = spec.get("paramKind")
    param_kind = f"{kind.get('apiVersion', '')}/{kind.get('kind', '')}" if isinstance(kind, dict) else "<unset>"
    return [obj_name(obj), len(validations) if isinstance(validations, list) else 0, param_kind, age(obj, now)]


VALIDATING_ADMISSION_POLICY = Printer(
    (
        NAME,
        Column("Validations", "The number of validation rules defined in this configuration.", "integer"),
        Column("ParamKind", "The kind of resources used to parameterize this policy."),
        AGE,
    ),
    _validating_admission_policy,
)


def _validating_admission_policy_binding(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    ref = spec.get("paramRef")
    param = "<unset>"
    if isinstance(ref, dict) and ref.get("name"):
        # as kubectl's printer: a reference without a namespace may be to a cluster-scoped object
        param = f"{ref.get('namespace') or '*'}/{ref['name']}"
    elif isinstance(ref, dict) and isinstance(ref.get("selector"), dict):
        param = str(stored_selector(ref["selector"]))
    return [obj_name(obj), spec.get("policyName", ""), param, age(obj, now)]


VALIDATING_ADMISSION_POLICY_BINDING = Printer(
    (
        NAME,
        Column("PolicyName", "The policy definition the binding binds to."),
        Column("ParamRef", "The param resource which sets the configuration param."),
        AGE,
    ),
    _validating_admission_policy_binding,
)
