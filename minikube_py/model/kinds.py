"""The one table of kinds pykube serves.

Routes, discovery, store keys, OpenAPI and the Table printers are all generated from this table, so
they cannot drift apart. A kind's behaviour is found by its ``kind`` name, unique in this table: its
pure rules (defaults, validation, selectable fields) in :mod:`minikube_py.model.kindrules`, and
everything the API server does with it in its strategy (:mod:`minikube_py.api.strategies`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from minikube_py.model import autoscalingv1, eventsv1

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, eq=False)
class CustomResource:
    """What a served version of a CustomResourceDefinition adds to its resource type: the CRD it
    comes from (``metadata.name``), the version's structural schema, printer columns and scale paths."""

    crd: str
    schema: dict[str, Any]
    columns: tuple[dict[str, Any], ...] = ()
    #: ``subresources.scale``: specReplicasPath, statusReplicasPath, labelSelectorPath
    scale: dict[str, str] | None = None
    list_kind: str = ""
    #: the CRD is being deleted: its objects are still served, but no new one is created
    terminating: bool = False
    #: ``selectableFields``: the JSON paths (``.spec.color``) a field selector may name
    selectable: tuple[str, ...] = ()
    #: the warning every request to a deprecated version answers with ("" when not deprecated)
    deprecation: str = ""


@dataclass(frozen=True)
class Conversion:
    """How a built-in kind served at a version other than its stored one converts (kube-apiserver's
    conversion functions): pure functions of whole objects, each answering a new object and leaving
    its argument alone. Every request at that version is converted on the way in and the way out,
    so the registry, validation and the controllers only ever see the stored version."""

    #: the stored object (of the stored version) as this version answers it
    from_stored: Callable[[dict[str, Any]], dict[str, Any]]
    #: an object of this version as the stored version means it
    to_stored: Callable[[dict[str, Any]], dict[str, Any]]


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
    #: set for the resources CustomResourceDefinitions define (None for the built-in kinds)
    custom: CustomResource | None = None
    #: set for a built-in kind's version that is served but not stored (see :data:`OTHER_VERSIONS`)
    conversion: Conversion | None = None
    #: the group its objects are stored under, where it differs from the one it is served in (the
    #: events.k8s.io Events are the core group's)
    stored_group: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        if self.custom is not None and self.custom.list_kind:
            return self.custom.list_kind
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def qualified(self) -> str:
        """``pods`` or ``deployments.apps``: how Kubernetes names the resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def _store_group(self) -> str:
        group = self.group if self.stored_group is None else self.stored_group
        return group or "core"

    def prefix(self, namespace: str | None = None) -> str:
        """Store key prefix for a listing (all namespaces when ``namespace`` is None)."""
        base = f"/{self._store_group}/{self.plural}/"
        if self.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def key(self, namespace: str | None, name: str) -> str:
        """The object's store key, interned: the object cache, its sorted keys, the watch ring and the
        node authorizer each keep the key of every object, one string instead of one per write."""
        if self.namespaced:
            return sys.intern(f"/{self._store_group}/{self.plural}/{namespace}/{name}")
        return sys.intern(f"/{self._store_group}/{self.plural}/{name}")


_STATUS = {"status": ""}
_SCALED = {"status": "", "scale": "Scale"}

#: stored at autoscaling/v2, also served at autoscaling/v1 (see :data:`OTHER_VERSIONS`)
_HPA = ResourceType(
    "autoscaling",
    "v2",
    "HorizontalPodAutoscaler",
    "horizontalpodautoscalers",
    "horizontalpodautoscaler",
    True,
    ("hpa",),
    ("all",),
    _STATUS,
)

#: stored in the core group, also served as events.k8s.io/v1 (see :data:`OTHER_VERSIONS`)
_EVENT = ResourceType("", "v1", "Event", "events", "event", True, ("ev",))

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        False,
        ("crd", "crds"),
        ("api-extensions",),
        _STATUS,
    ),
    ResourceType(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        "apiservice",
        False,
        (),
        ("api-extensions",),
        _STATUS,
    ),
    ResourceType(
        "", "v1", "Namespace", "namespaces", "namespace", False, ("ns",), subresources={"status": "", "finalize": ""}
    ),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        True,
        ("po",),
        ("all",),
        subresources={
            "status": "",
            "binding": "Binding",
            "eviction": "Eviction",
            "ephemeralcontainers": "",
            "log": "Pod",
            "exec": "PodExecOptions",
            "attach": "PodAttachOptions",
            "portforward": "PodPortForwardOptions",
            "proxy": "PodProxyOptions",
        },
    ),
    ResourceType(
        "",
        "v1",
        "Service",
        "services",
        "service",
        True,
        ("svc",),
        ("all",),
        {"status": "", "proxy": "ServiceProxyOptions"},
    ),
    ResourceType("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",)),
    ResourceType("", "v1", "PodTemplate", "podtemplates", "podtemplate", True),
    ResourceType(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        True,
        ("rc",),
        ("all",),
        _SCALED,
    ),
    ResourceType(
        "", "v1", "Node", "nodes", "node", False, ("no",), subresources={"status": "", "proxy": "NodeProxyOptions"}
    ),
    ResourceType("", "v1", "Secret", "secrets", "secret", True),
    ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    _EVENT,
    ResourceType(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        True,
        ("sa",),
        subresources={"token": "TokenRequest"},
    ),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", True, ("quota",), subresources=_STATUS),
    ResourceType("", "v1", "LimitRange", "limitranges", "limitrange", True, ("limits",)),
    ResourceType(
        "", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", False, ("pv",), subresources=_STATUS
    ),
    ResourceType(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        True,
        ("pvc",),
        subresources=_STATUS,
    ),
    ResourceType("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",), ("all",), _SCALED),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",), ("all",), _SCALED),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", "daemonset", True, ("ds",), ("all",), _STATUS),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", "statefulset", True, ("sts",), ("all",), _SCALED),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", True),
    _HPA,
    ResourceType("batch", "v1", "Job", "jobs", "job", True, (), ("all",), _STATUS),
    ResourceType("batch", "v1", "CronJob", "cronjobs", "cronjob", True, ("cj",), ("all",), _STATUS),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", True),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", True, ("ing",), subresources=_STATUS),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", False),
    ResourceType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", True, ("netpol",)),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        "mutatingwebhookconfiguration",
        False,
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "validatingwebhookconfiguration",
        False,
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        "validatingadmissionpolicy",
        False,
        categories=("api-extensions",),
        subresources=_STATUS,
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        "validatingadmissionpolicybinding",
        False,
        categories=("api-extensions",),
    ),
    ResourceType(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        True,
        ("pdb",),
        subresources=_STATUS,
    ),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", False),
    ResourceType(
        "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", False
    ),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", True),
    ResourceType(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        "certificatesigningrequest",
        False,
        ("csr",),
        subresources={"status": "", "approval": ""},
    ),
    ResourceType("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", "runtimeclass", False),
    ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", False, ("pc",)),
    ResourceType(
        "flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", "flowschemas", "flowschema", False, subresources=_STATUS
    ),
    ResourceType(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        "prioritylevelconfiguration",
        False,
        subresources=_STATUS,
    ),
    ResourceType("storage.k8s.io", "v1", "CSIDriver", "csidrivers", "csidriver", False),
    ResourceType("storage.k8s.io", "v1", "CSINode", "csinodes", "csinode", False),
    ResourceType("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", "csistoragecapacity", True),
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", False, ("sc",)),
    ResourceType(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        "volumeattachment",
        False,
        subresources={"status": ""},
    ),
)

#: the built-in kinds' versions that are served beside the stored one (in :data:`RESOURCES`, one row
#: per kind) and converted to and from it, as kube-apiserver serves ``autoscaling/v1`` next to the
#: stored ``autoscaling/v2``, and the core Events in the ``events.k8s.io`` group too; they share the
#: stored row's store keys, strategy and rules
OTHER_VERSIONS: tuple[ResourceType, ...] = (
    replace(_HPA, version="v1", conversion=Conversion(autoscalingv1.from_v2, autoscalingv1.to_v2)),
    replace(
        _EVENT, group="events.k8s.io", conversion=Conversion(eventsv1.from_core, eventsv1.to_core), stored_group=""
    ),
)


def _created(group: str, kind: str, namespaced: bool) -> ResourceType:
    return ResourceType(group, "v1", kind, f"{kind.lower()}s", "", namespaced, verbs=("create",))


#: resources served but never stored, outside the kind table: the questions
#: :mod:`~minikube_py.api.reviews` answers and the Bindings that assign pods to nodes (created only;
#: kube-apiserver gives them no singular name), and ComponentStatus (:mod:`~minikube_py.model.componentstatus`),
#: computed when asked. Discovery lists them and the OpenAPI documents describe them, as kube-apiserver's.
UNSTORED: tuple[ResourceType, ...] = (
    _created("", "Binding", True),
    ResourceType(
        "", "v1", "ComponentStatus", "componentstatuses", "componentstatus", False, ("cs",), verbs=("get", "list")
    ),
    _created("authentication.k8s.io", "SelfSubjectReview", False),
    _created("authentication.k8s.io", "TokenReview", False),
    _created("authorization.k8s.io", "LocalSubjectAccessReview", True),
    _created("authorization.k8s.io", "SelfSubjectAccessReview", False),
    _created("authorization.k8s.io", "SelfSubjectRulesReview", False),
    _created("authorization.k8s.io", "SubjectAccessReview", False),
)
UNSTORED_GROUP_VERSIONS: tuple[tuple[str, str], ...] = tuple(dict.fromkeys((r.group, r.version) for r in UNSTORED))

#: (group, version) pairs of the built-in kinds in the order discovery lists them; the core group first
GROUP_VERSIONS: tuple[tuple[str, str], ...] = tuple(
    dict.fromkeys((r.group, r.version) for r in (*RESOURCES, *OTHER_VERSIONS))
)

_BY_PLURAL = {(r.group, r.version, r.plural): r for r in (*RESOURCES, *OTHER_VERSIONS)}
_BY_KIND = {(r.group, r.version, r.kind): r for r in (*RESOURCES, *OTHER_VERSIONS)}
_STORED = {(r.group, r.kind): r for r in RESOURCES}

# The resources CustomResourceDefinitions define, changed at run time by :func:`serve` and
# :func:`withdraw`. Lookups try the built-in tables first, so the built-in kinds pay one dict miss
# at most; the indexes are rebuilt whole on each change and swapped in, so readers never see half.
_CUSTOM: dict[str, tuple[ResourceType, ...]] = {}
_CUSTOM_BY_PLURAL: dict[tuple[str, str, str], ResourceType] = {}
_CUSTOM_BY_KIND: dict[tuple[str, str, str], ResourceType] = {}


def serve(crd: str, types: tuple[ResourceType, ...]) -> None:
    """Serve the resource types of the CustomResourceDefinition named ``crd`` (one per served
    version), replacing what it served before."""
    global _CUSTOM_BY_PLURAL, _CUSTOM_BY_KIND
    if types:
        _CUSTOM[crd] = types
    else:
        _CUSTOM.pop(crd, None)
    custom = [rt for served in _CUSTOM.values() for rt in served]
    _CUSTOM_BY_PLURAL = {(r.group, r.version, r.plural): r for r in custom}
    _CUSTOM_BY_KIND = {(r.group, r.version, r.kind): r for r in custom}


def withdraw(crd: str) -> None:
    """Stop serving the resources of the CustomResourceDefinition named ``crd``."""
    serve(crd, ())


def served_definitions() -> set[str]:
    """The names of the CustomResourceDefinitions whose resources are served now."""
    return set(_CUSTOM)


def custom_types() -> Iterator[ResourceType]:
    """Every resource type CustomResourceDefinitions serve now."""
    for served in list(_CUSTOM.values()):
        yield from served


def group_versions() -> list[tuple[str, str]]:
    """(group, version) pairs served now: the built-in ones, then the custom resources' ones."""
    return list(dict.fromkeys((*GROUP_VERSIONS, *((r.group, r.version) for r in custom_types()))))


def all_types() -> list[ResourceType]:
    """Every resource type served now, built-in first (each built-in kind's stored version first)."""
    return [*RESOURCES, *OTHER_VERSIONS, *custom_types()]


def stored_version(rt: ResourceType) -> ResourceType:
    """The row of ``rt``'s kind at its stored version (``rt`` itself unless it converts)."""
    if rt.conversion is None:
        return rt
    return _STORED[(rt.group if rt.stored_group is None else rt.stored_group, rt.kind)]


def stored_types() -> list[ResourceType]:
    """Every stored resource served now, once: one version of a custom resource served in several
    (they all read and write the same objects)."""
    stored: dict[str, ResourceType] = {}
    for rt in all_types():
        stored.setdefault(rt.prefix(), rt)
    return list(stored.values())


def by_plural(group: str, version: str, plural: str) -> ResourceType | None:
    key = (group, version, plural)
    return _BY_PLURAL.get(key) or _CUSTOM_BY_PLURAL.get(key)


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource for an object's ``apiVersion``/``kind`` (None if pykube does not serve it)."""
    group, _, version = api_version.rpartition("/")
    key = (group, version, kind)
    return _BY_KIND.get(key) or _CUSTOM_BY_KIND.get(key)


def in_group_version(group: str, version: str) -> list[ResourceType]:
    return [r for r in all_types() if r.group == group and r.version == version]
