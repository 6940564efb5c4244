"""HorizontalPodAutoscalers: stored at ``autoscaling/v2`` and served at ``autoscaling/v1`` too, by
the kind table's conversion, so this one strategy sees v2 objects only. Its rules are in
:mod:`minikube_py.model.autoscaling`; the controller in :mod:`minikube_py.reconcilers.autoscaler`."""

from __future__ import annotations

from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.workloads import CountingStrategy
from minikube_py.api.tables import autoscaling as printers

#: ``status.desiredReplicas`` has no ``omitempty``: a new autoscaler shows 0
HORIZONTAL_POD_AUTOSCALER = CountingStrategy(
    "HorizontalPodAutoscaler",
    printer=printers.HORIZONTAL_POD_AUTOSCALER,
    merge_rules=mergekeys.HORIZONTAL_POD_AUTOSCALER,
    counts=("desiredReplicas",),
)
