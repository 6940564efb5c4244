"""The policy kinds that hold a namespace to its team's limits: PodDisruptionBudgets (guarding
evictions), ResourceQuotas and LimitRanges (both enforced by admission on the objects they govern,
see :mod:`minikube_py.api.admission`)."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import policy as printers

POD_DISRUPTION_BUDGET = Strategy(
    "PodDisruptionBudget",
    printer=printers.POD_DISRUPTION_BUDGET,
    merge_rules=mergekeys.POD_DISRUPTION_BUDGET,
    atomic_maps=mergekeys.POD_DISRUPTION_BUDGET_ATOMIC,
)
RESOURCE_QUOTA = Strategy(
    "ResourceQuota", printer=printers.RESOURCE_QUOTA, merge_rules=mergekeys.METADATA_ONLY, shape=shape.RESOURCE_QUOTA
)
LIMIT_RANGE = Strategy(
    "LimitRange", printer=printers.LIMIT_RANGE, merge_rules=mergekeys.METADATA_ONLY, shape=shape.LIMIT_RANGE
)
