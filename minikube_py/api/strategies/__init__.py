"""One strategy per kind (``pkg/registry/*/strategy.go`` in Kubernetes), and the one lookup of them.

The registry, handlers, table printer and patch engine find everything kind-specific through
:func:`strategy_for`, by the kind's name: the kind table (:mod:`minikube_py.model.kinds`) keeps kind
names unique, and a kind it does not serve gets the generic :class:`Strategy`. Adding a kind means a
row in the kind table, its pure rules in :mod:`minikube_py.model.kindrules` when it has any, and its
strategy here; ``tests/unit/test_strategies.py`` fails for a served kind without a complete one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from minikube_py.api.strategies import (
    admission,
    apiregistration,
    autoscaling,
    certificates,
    cluster,
    config,
    custom,
    flowcontrol,
    namespaces,
    networking,
    node,
    pods,
    policy,
    rbac,
    scheduling,
    services,
    storage,
    workloads,
)
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.model.kinds import ResourceType

__all__ = ["SCALE", "STRATEGIES", "Allocators", "Strategy", "strategy_for", "strategy_named"]

#: the strategy of each kind by name: every kind the kind table serves, and the Scale its
#: ``scale`` subresources answer with
STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {
        strategy.kind: strategy
        for strategy in (
            namespaces.NAMESPACE,
            pods.POD,
            services.SERVICE,
            services.ENDPOINTS,
            services.ENDPOINT_SLICE,
            networking.INGRESS,
            networking.INGRESS_CLASS,
            networking.NETWORK_POLICY,
            cluster.NODE,
            cluster.LEASE,
            cluster.EVENT,
            config.SECRET,
            config.CONFIG_MAP,
            config.SERVICE_ACCOUNT,
            policy.RESOURCE_QUOTA,
            policy.LIMIT_RANGE,
            policy.POD_DISRUPTION_BUDGET,
            storage.PERSISTENT_VOLUME,
            storage.PERSISTENT_VOLUME_CLAIM,
            storage.STORAGE_CLASS,
            storage.CSI_DRIVER,
            storage.CSI_NODE,
            storage.VOLUME_ATTACHMENT,
            storage.STORAGE_CAPACITY,
            scheduling.PRIORITY_CLASS,
            flowcontrol.FLOW_SCHEMA,
            flowcontrol.PRIORITY_LEVEL,
            node.RUNTIME_CLASS,
            workloads.REPLICATION_CONTROLLER,
            workloads.DEPLOYMENT,
            workloads.REPLICA_SET,
            workloads.DAEMON_SET,
            workloads.STATEFUL_SET,
            workloads.CONTROLLER_REVISION,
            workloads.POD_TEMPLATE,
            workloads.JOB,
            workloads.CRON_JOB,
            workloads.SCALE,
            autoscaling.HORIZONTAL_POD_AUTOSCALER,
            rbac.ROLE,
            rbac.CLUSTER_ROLE,
            rbac.ROLE_BINDING,
            rbac.CLUSTER_ROLE_BINDING,
            custom.DEFINITION,
            admission.MUTATING_WEBHOOK_CONFIGURATION,
            admission.VALIDATING_WEBHOOK_CONFIGURATION,
            admission.VALIDATING_ADMISSION_POLICY,
            admission.VALIDATING_ADMISSION_POLICY_BINDING,
            certificates.CERTIFICATE_SIGNING_REQUEST,
            apiregistration.API_SERVICE,
        )
    }
)


SCALE = workloads.SCALE


def strategy_for(rt: ResourceType) -> Strategy:
    """The strategy of a served resource (the generic one for a resource nobody declared); a custom
    resource's is made from its CRD, whatever built-in kind shares its kind's name."""
    if rt.custom is not None:
        return custom.custom_strategy(rt)
    return strategy_named(rt.kind)


def strategy_named(kind: str) -> Strategy:
    """The strategy of the kind named ``kind``, for callers that have a name rather than a resource."""
    return STRATEGIES.get(kind) or Strategy(kind)
