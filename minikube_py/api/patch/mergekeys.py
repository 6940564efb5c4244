"""Which lists of which kinds merge, and by what key: the facts a strategic merge patch needs.

Kubernetes reads them from the ``patchStrategy``/``patchMergeKey`` struct tags of its Go types
(k8s.io/api core/v1, apps/v1, batch/v1 and apimachinery's ObjectMeta). pykube stores plain JSON, so the
tags that matter for the kinds it serves are written down here, as a table from a dotted path
(``spec.template.spec.containers[].env``; ``[]`` steps into a list's elements) to a :class:`ListRule`.
A list that has no rule is atomic: a patch replaces it wholesale, as Kubernetes does for taints,
tolerations, command/args, envFrom and endpoint subsets. Each kind's table is a constant here
(``POD``, ``WORKLOAD``, ...), which the kind's strategy (:mod:`minikube_py.api.strategies`) names.

``$retainKeys`` is not recorded: like kube-apiserver, the patch engine honours the directive wherever a
patch carries it (kubectl only emits it for ``volumes`` items and ``Deployment.spec.strategy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ListRule:
    """How a list merges. ``key`` names the field identifying a map element; ``None`` means a list of
    scalars merged as an ordered set (``finalizers``).

    ``also`` lists secondary identity fields (``protocol`` of ports) compared only when both elements
    spell them out: kubectl's patches carry the merge key alone, so they still match as they do on
    Kubernetes, while an explicit ``protocol: UDP`` can address the UDP twin of a TCP port."""

    key: str | None = None
    also: tuple[str, ...] = ()


SET = ListRule()


def by(key: str, *also: str) -> ListRule:
    return ListRule(key, also)


Rules = Mapping[str, ListRule]

_OBJECT_META: dict[str, ListRule] = {"finalizers": SET, "ownerReferences": by("uid")}

_CONTAINER: dict[str, ListRule] = {
    "ports": by("containerPort", "protocol"),
    "env": by("name"),
    "volumeMounts": by("mountPath"),
    "volumeDevices": by("devicePath"),
}

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

_POD_SPEC: dict[str, ListRule] = {
    **dict.fromkeys(_CONTAINER_LISTS, by("name")),
    **{f"{containers}[].{field}": rule for containers in _CONTAINER_LISTS for field, rule in _CONTAINER.items()},
    "volumes": by("name"),
    "imagePullSecrets": by("name"),
    "hostAliases": by("ip"),
    "topologySpreadConstraints": by("topologyKey", "whenUnsatisfiable"),
    "schedulingGates": by("name"),
    "resourceClaims": by("name"),
}

_POD_STATUS: dict[str, ListRule] = {
    "conditions": by("type"),
    "podIPs": by("ip"),
    "hostIPs": by("ip"),
    "resourceClaimStatuses": by("name"),
}

_CONDITIONS: dict[str, ListRule] = {"conditions": by("type")}


def _under(prefix: str, rules: Mapping[str, ListRule]) -> dict[str, ListRule]:
    return {f"{prefix}.{path}" if prefix else path: rule for path, rule in rules.items()}


def _kind(parts: Mapping[str, Mapping[str, ListRule]] | None = None) -> Rules:
    """A kind's table: ObjectMeta's rules plus ``parts``, each keyed by the path it lives under
    (``""`` for top-level fields)."""
    table = _under("metadata", _OBJECT_META)
    for prefix, rules in (parts or {}).items():
        table.update(_under(prefix, rules))
    return MappingProxyType(table)


def _workload(status: Mapping[str, ListRule]) -> Rules:
    """Kinds that embed a pod template: its metadata and spec merge as a Pod's do."""
    return _kind({"spec.template.metadata": _OBJECT_META, "spec.template.spec": _POD_SPEC, "status": status})


#: the rules of each kind (a kind's strategy names its own; a kind without lists of its own still
#: merges ObjectMeta's)
METADATA_ONLY = _kind()
POD = _kind({"spec": _POD_SPEC, "status": _POD_STATUS})
SERVICE = _kind({"spec": {"ports": by("port", "protocol")}, "status": _CONDITIONS})
NODE = _kind({"spec": {"podCIDRs": SET}, "status": {**_CONDITIONS, "addresses": by("type")}})
NAMESPACE = _kind({"status": _CONDITIONS})
#: a driver's token requests are atomic, its lifecycle modes a set; a node's drivers merge by name
CSI_DRIVER = _kind({"spec": {"volumeLifecycleModes": SET}})
CSI_NODE = _kind({"spec": {"drivers": by("name")}})
SERVICE_ACCOUNT = _kind({"": {"secrets": by("name")}})
#: ReplicationControllers, Deployments, ReplicaSets, DaemonSets and Jobs
WORKLOAD = _workload(_CONDITIONS)
#: a PodTemplate holds its pod template at the top
POD_TEMPLATE = _kind({"template.metadata": _OBJECT_META, "template.spec": _POD_SPEC})
#: a CronJob's job template holds a Job's metadata and spec (whose pod template merges as a Pod's);
#: ``status.active`` is atomic
#: a budget's conditions merge by type (``metav1.Condition``); its selector is atomic
POD_DISRUPTION_BUDGET = _kind({"status": _CONDITIONS})
#: FlowSchemas and PriorityLevelConfigurations: their rules and subjects are atomic lists
FLOW_CONTROL = _kind({"status": _CONDITIONS})
#: its metric lists are atomic (replaced whole), its conditions keyed by type
HORIZONTAL_POD_AUTOSCALER = _kind({"status": _CONDITIONS})
CRON_JOB = _kind(
    {
        "spec.jobTemplate.metadata": _OBJECT_META,
        "spec.jobTemplate.spec.template.metadata": _OBJECT_META,
        "spec.jobTemplate.spec.template.spec": _POD_SPEC,
    }
)

#: a claim's status conditions merge by type; access modes and a volume's lists are atomic
PERSISTENT_VOLUME_CLAIM = _kind({"status": _CONDITIONS})
#: a CRD's versions and names are atomic in its Go type; its status conditions merge by type
CUSTOM_RESOURCE_DEFINITION = _kind({"status": _CONDITIONS})
CERTIFICATE_SIGNING_REQUEST = _kind({"status": _CONDITIONS})
API_SERVICE = _kind({"status": _CONDITIONS})


def rules_for(kind: str) -> Rules | None:
    """The merge rules of the kind named ``kind`` (its strategy's), or None for an unknown kind (which
    Kubernetes cannot strategic-merge either, having no Go type to read tags from)."""
    # imported here: the strategies are made of this module's rules
    from minikube_py.api.strategies import strategy_named

    return strategy_named(kind).merge_rules


#: maps Kubernetes' schemas mark atomic (``+structType=atomic``/``+mapType=atomic``): one value for field
#: ownership, so a manager owns a whole label selector, never half of it
_POD_ATOMIC = ("nodeSelector",)
POD_ATOMIC = frozenset(f"spec.{p}" for p in _POD_ATOMIC)
SERVICE_ATOMIC = frozenset({"spec.selector"})
RUNTIME_CLASS_ATOMIC = frozenset({"scheduling.nodeSelector"})
POD_TEMPLATE_ATOMIC = frozenset(f"template.spec.{p}" for p in _POD_ATOMIC)
#: a workload's selector (a label map for ReplicationControllers, a LabelSelector for the others) and
#: its template's node selector
WORKLOAD_ATOMIC = frozenset({"spec.selector", *(f"spec.template.spec.{p}" for p in _POD_ATOMIC)})
POD_DISRUPTION_BUDGET_ATOMIC = frozenset({"spec.selector"})
CRON_JOB_ATOMIC = frozenset(
    {"spec.jobTemplate.spec.selector", *(f"spec.jobTemplate.spec.template.spec.{p}" for p in _POD_ATOMIC)}
)

#: a claim reference and a node selector are ``+structType=atomic``, as is a claim's label selector
PERSISTENT_VOLUME_ATOMIC = frozenset({"spec.claimRef", "spec.nodeAffinity.required"})
PERSISTENT_VOLUME_CLAIM_ATOMIC = frozenset({"spec.selector"})
#: where a driver's capacity is: a label selector, atomic as every one
STORAGE_CAPACITY_ATOMIC = frozenset({"nodeTopology"})


def atomic_maps_for(kind: str) -> frozenset[str]:
    """Dotted paths of the maps of the kind named ``kind`` that are set and owned as a whole."""
    from minikube_py.api.strategies import strategy_named

    return strategy_named(kind).atomic_maps
