"""The controller manager: which reconcilers a server runs, built from one options object.

Each reconciler is constructed here and nowhere else, so adding one is a single line and core.py
runs whatever this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from minikube_py import pki
from minikube_py.client.rest import ApiClient
from minikube_py.model.certificates import DEFAULT_SIGNING_DURATION
from minikube_py.model.nodeipam import DEFAULT_NODE_CIDR_MASK_SIZE
from minikube_py.reconcilers.autoscaler import (
    DEFAULT_DOWNSCALE_STABILIZATION,
    DEFAULT_SYNC_PERIOD,
    HorizontalPodAutoscalerController,
)
from minikube_py.reconcilers.base import Controller
from minikube_py.reconcilers.certificates import CertificateSigningController
from minikube_py.reconcilers.clusterroleaggregation import ClusterRoleAggregationController
from minikube_py.reconcilers.cronjob import CronJobController
from minikube_py.reconcilers.daemonset import DaemonSetController
from minikube_py.reconcilers.deployment import DeploymentController
from minikube_py.reconcilers.disruption import DisruptionController
from minikube_py.reconcilers.endpoints import EndpointsController
from minikube_py.reconcilers.endpointslices import EndpointSliceController
from minikube_py.reconcilers.flowcontrol import FlowControlController
from minikube_py.reconcilers.gc import GarbageCollector
from minikube_py.reconcilers.job import JobController
from minikube_py.reconcilers.namespace import NamespaceController
from minikube_py.reconcilers.networkpolicy import NetworkPolicyController
from minikube_py.reconcilers.nodeipam import NodeIpamController
from minikube_py.reconcilers.nodelifecycle import NodeLifecycleController
from minikube_py.reconcilers.persistentvolume import PersistentVolumeController
from minikube_py.reconcilers.replication import REPLICA_SETS, REPLICATION_CONTROLLERS, ReplicaController
from minikube_py.reconcilers.resourcequota import ResourceQuotaController
from minikube_py.reconcilers.scheduler import Scheduler
from minikube_py.reconcilers.serviceaccounts import ServiceAccountsController
from minikube_py.reconcilers.servicelb import ServiceLbController
from minikube_py.reconcilers.statefulset import StatefulSetController
from minikube_py.reconcilers.storageprotection import StorageProtectionController


@dataclass(frozen=True)
class ControllerOptions:
    """Tuning knobs the reconcilers take from the server configuration."""

    # Seconds without a lease renewal before a node is unreachable (kube-controller-manager's default).
    node_monitor_grace_period: float = 40.0
    # Seconds pods stay on an unreachable node when they only have the API's default toleration.
    pod_eviction_timeout: float = 300.0
    # Pod addresses, one subnet of them per node.
    cluster_cidr: str = "10.244.0.0/16"
    # Prefix length of each node's subnet (kube-controller-manager's --node-cidr-mask-size).
    node_cidr_mask_size: int = DEFAULT_NODE_CIDR_MASK_SIZE
    # The cluster CA (PEM) published to every namespace as ``kube-root-ca.crt`` for the pods.
    root_ca_pem: bytes = b""
    # Seconds between two syncs of each HorizontalPodAutoscaler.
    horizontal_pod_autoscaler_sync_period: float = DEFAULT_SYNC_PERIOD
    # Seconds an autoscaler looks back for a higher recommendation before it scales down (no behavior).
    horizontal_pod_autoscaler_downscale_stabilization: float = DEFAULT_DOWNSCALE_STABILIZATION
    # The cluster CA, which signs approved CertificateSigningRequests (None: nobody signs them).
    signing_ca: pki.Pki | None = None
    # Seconds the certificates it signs stay valid at most (kube-controller-manager's --cluster-signing-duration).
    cluster_signing_duration: float = DEFAULT_SIGNING_DURATION.total_seconds()


def build_controllers(client: ApiClient, options: ControllerOptions) -> list[Controller]:
    signing: list[Controller] = []
    if options.signing_ca is not None:
        lifetime = timedelta(seconds=options.cluster_signing_duration)
        signing.append(CertificateSigningController(client, options.signing_ca, lifetime))
    return [
        *signing,
        NamespaceController(client),
        GarbageCollector(client),
        JobController(client),
        CronJobController(client),
        DaemonSetController(client),
        StatefulSetController(client),
        Scheduler(client),
        ReplicaController(client, REPLICATION_CONTROLLERS),
        ReplicaController(client, REPLICA_SETS),
        DeploymentController(client),
        EndpointsController(client),
        EndpointSliceController(client),
        NetworkPolicyController(client),
        ServiceLbController(client),
        DisruptionController(client),
        ResourceQuotaController(client),
        PersistentVolumeController(client),
        StorageProtectionController(client),
        NodeIpamController(client, options.cluster_cidr, options.node_cidr_mask_size),
        NodeLifecycleController(
            client, grace_period=options.node_monitor_grace_period, eviction_timeout=options.pod_eviction_timeout
        ),
        ServiceAccountsController(client, options.root_ca_pem),
        ClusterRoleAggregationController(client),
        FlowControlController(client),
        HorizontalPodAutoscalerController(
            client,
            sync_period=options.horizontal_pod_autoscaler_sync_period,
            downscale_stabilization=options.horizontal_pod_autoscaler_downscale_stabilization,
        ),
    ]
