"""FlowSchemas and PriorityLevelConfigurations (see :mod:`minikube_py.model.flowcontrol`): generic
strategies, their status the flow controller's to write through the status subresource."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import flowcontrol as printers

FLOW_SCHEMA = Strategy(
    "FlowSchema", printer=printers.FLOW_SCHEMA, merge_rules=mergekeys.FLOW_CONTROL, shape=shape.FLOW_SCHEMA
)
PRIORITY_LEVEL = Strategy(
    "PriorityLevelConfiguration",
    printer=printers.PRIORITY_LEVEL,
    merge_rules=mergekeys.FLOW_CONTROL,
    shape=shape.PRIORITY_LEVEL,
)
