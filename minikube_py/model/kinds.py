"""The one table of kinds pykube serves.

Routes, discovery, store keys, OpenAPI and the Table printers are all generated from this table, so
they cannot drift apart. A kind's behaviour is found by its ``kind`` name, unique in this table: its
pure rules (defaults, validation, selectable fields) in :mod:`minikube_py.model.kindrules`, and
everything the API server does with it in its strategy (:mod:`minikube_py.api.strategies`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    #: subresource name -> kind it answers with ("status" answers with the kind itself)
    subresources: dict[str, str] = field(default_factory=dict)
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def qualified(self) -> str:
        """``pods`` or ``deployments.apps``: how Kubernetes names the resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def prefix(self, namespace: str | None = None) -> str:
        """Store key prefix for a listing (all namespaces when ``namespace`` is None)."""
        base = f"/{self.group or 'core'}/{self.plural}/"
        if self.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"/{self.group or 'core'}/{self.plural}/{namespace}/{name}"
        return f"/{self.group or 'core'}/{self.plural}/{name}"


_STATUS = {"status": ""}
_SCALED = {"status": "", "scale": "Scale"}

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",),
                 subresources={"status": "", "finalize": ""}),
    ResourceType("", "v1", "Pod", "pods", "pod", True, ("po",), ("all",),
                 subresources={"status": "", "binding": "Binding", "eviction": "Eviction", "log": "Pod",
                               "exec": "PodExecOptions", "portforward": "PodPortForwardOptions",
                               "proxy": "PodProxyOptions"}),
    ResourceType("", "v1", "Service", "services", "service", True, ("svc",), ("all",),
                 {"status": "", "proxy": "ServiceProxyOptions"}),
    ResourceType("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",)),
    ResourceType("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", True,
                 ("rc",), ("all",), _SCALED),
    ResourceType("", "v1", "Node", "nodes", "node", False, ("no",),
                 subresources={"status": "", "proxy": "NodeProxyOptions"}),
    ResourceType("", "v1", "Secret", "secrets", "secret", True),
    ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    ResourceType("", "v1", "Event", "events", "event", True, ("ev",)),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, ("sa",),
                 subresources={"token": "TokenRequest"}),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", True, ("quota",), subresources=_STATUS),
    ResourceType("", "v1", "LimitRange", "limitranges", "limitrange", True, ("limits",)),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", False, ("pv",),
                 subresources=_STATUS),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", True,
                 ("pvc",), subresources=_STATUS),
    ResourceType("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",), ("all",), _SCALED),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",), ("all",), _SCALED),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", "daemonset", True, ("ds",), ("all",), _STATUS),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", "statefulset", True, ("sts",), ("all",), _SCALED),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", True),
    ResourceType("batch", "v1", "Job", "jobs", "job", True, (), ("all",), _STATUS),
    ResourceType("batch", "v1", "CronJob", "cronjobs", "cronjob", True, ("cj",), ("all",), _STATUS),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", True),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", True, ("ing",), subresources=_STATUS),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", False),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", True, ("pdb",),
                 subresources=_STATUS),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
                 "clusterrolebinding", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", True),
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", False, ("sc",)),
)

#: (group, version) pairs in the order discovery lists them; the core group first
GROUP_VERSIONS: tuple[tuple[str, str], ...] = tuple(dict.fromkeys((r.group, r.version) for r in RESOURCES))

_BY_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group, r.kind): r for r in RESOURCES}


def by_plural(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_PLURAL.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource for an object's ``apiVersion``/``kind`` (None if pykube does not serve it)."""
    group, _, version = api_version.rpartition("/")
    rt = _BY_KIND.get((group, kind))
    return rt if rt is not None and rt.version == version else None


def in_group_version(group: str, version: str) -> list[ResourceType]:
    return [r for r in RESOURCES if r.group == group and r.version == version]
