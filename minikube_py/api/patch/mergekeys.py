"""Which lists of which kinds merge, and by what key: the facts a strategic merge patch needs.

Kubernetes reads them from the ``patchStrategy``/``patchMergeKey`` struct tags of its Go types
(k8s.io/api core/v1, apps/v1, batch/v1 and apimachinery's ObjectMeta). pykube stores plain JSON, so the
tags that matter for the kinds it serves are written down here, as a table from a dotted path
(``spec.template.spec.containers[].env``; ``[]`` steps into a list's elements) to a :class:`ListRule`.
A list that has no rule is atomic: a patch replaces it wholesale, as Kubernetes does for taints,
tolerations, command/args, envFrom and endpoint subsets.

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


_METADATA_ONLY = _kind()

_RULES: dict[str, Rules] = {
    "Pod": _kind({"spec": _POD_SPEC, "status": _POD_STATUS}),
    "Service": _kind({"spec": {"ports": by("port", "protocol")}, "status": _CONDITIONS}),
    "Node": _kind({"spec": {"podCIDRs": SET}, "status": {**_CONDITIONS, "addresses": by("type")}}),
    "Namespace": _kind({"status": _CONDITIONS}),
    "ServiceAccount": _kind({"": {"secrets": by("name")}}),
    **dict.fromkeys(("ReplicationController", "Deployment", "ReplicaSet", "DaemonSet", "Job"), _workload(_CONDITIONS)),
    **dict.fromkeys(("Endpoints", "Secret", "ConfigMap", "Event", "Lease", "EndpointSlice", "Scale"), _METADATA_ONLY),
}


def rules_for(kind: str) -> Rules | None:
    """The merge rules of a kind pykube knows, or None for an unknown kind (which Kubernetes cannot
    strategic-merge either, having no Go type to read tags from)."""
    return _RULES.get(kind)


#: maps Kubernetes' schemas mark atomic (``+structType=atomic``/``+mapType=atomic``): one value for field
#: ownership, so a manager owns a whole label selector, never half of it
_LABEL_SELECTOR_OWNERS = ("Deployment", "ReplicaSet", "DaemonSet", "Job")
_POD_ATOMIC = ("nodeSelector",)
_ATOMIC_MAPS: dict[str, frozenset[str]] = {
    "Pod": frozenset(f"spec.{p}" for p in _POD_ATOMIC),
    "Service": frozenset({"spec.selector"}),
    "ReplicationController": frozenset({"spec.selector", *(f"spec.template.spec.{p}" for p in _POD_ATOMIC)}),
    **dict.fromkeys(_LABEL_SELECTOR_OWNERS,
                    frozenset({"spec.selector", *(f"spec.template.spec.{p}" for p in _POD_ATOMIC)})),
}


def atomic_maps_for(kind: str) -> frozenset[str]:
    """Dotted paths of the maps of ``kind`` that are set and owned as a whole."""
    return _ATOMIC_MAPS.get(kind, frozenset())
