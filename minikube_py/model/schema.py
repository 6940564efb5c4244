"""Which fields the built-in kinds have, so that unknown ones are dropped as kube-apiserver drops them.

kube-apiserver decodes a body into Go structs: a field the struct lacks is not stored. By default
(``fieldValidation=Warn``) each dropped field is named in a ``Warning`` header (``unknown field
"spec.foo"``); ``Ignore`` drops silently; ``Strict`` refuses the request with 400 (``strict decoding
error``). Storing unknown fields instead let one object carry arbitrary nested data into every list
and watch of its kind.

The tree here names the fields of the parts that clients write and that pykube reads: every kind's
top level, ObjectMeta, and the specs of the served kinds with their pod template, containers and
ownerReferences. Below those (and in ``status``, which pykube's own components write) values are
kept as they come: a field table pykube does not know completely must never drop a real field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from minikube_py.model import errors
from minikube_py.model.storage import VOLUME_SOURCES

#: known fields of a map: each maps to its own tree, ``ANY`` (kept as is) or ``[tree]`` (a list of
#: maps each of that tree)
Tree = dict[str, Union["Tree", list["Tree"], None]]
ANY = None

IGNORE, WARN, STRICT = "Ignore", "Warn", "Strict"
MODES = (IGNORE, WARN, STRICT)


def _known(*names: str, **trees: Any) -> Tree:
    return {**dict.fromkeys(names, ANY), **trees}


OWNER_REFERENCE = _known("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
OBJECT_META = _known(
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "finalizers",
    "managedFields",
    ownerReferences=[OWNER_REFERENCE],
)
_CONTAINER_FIELDS = (
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
)
CONTAINER = _known(*_CONTAINER_FIELDS)
EPHEMERAL_CONTAINER = _known(*_CONTAINER_FIELDS, "targetContainerName")
POD_SPEC = _known(
    "volumes",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "affinity",
    "schedulerName",
    "tolerations",
    "hostAliases",
    "priorityClassName",
    "priority",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "overhead",
    "topologySpreadConstraints",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "resources",
    containers=[CONTAINER],
    initContainers=[CONTAINER],
    ephemeralContainers=[EPHEMERAL_CONTAINER],
)
POD_TEMPLATE = _known(metadata=OBJECT_META, spec=POD_SPEC)
#: a claim's spec, in a PersistentVolumeClaim and in a StatefulSet's ``volumeClaimTemplates``
PERSISTENT_VOLUME_CLAIM_SPEC = _known(
    "accessModes",
    "selector",
    "resources",
    "volumeName",
    "storageClassName",
    "volumeMode",
    "dataSource",
    "dataSourceRef",
    "volumeAttributesClassName",
)

_TYPED = ("apiVersion", "kind")


def _kind(spec: Tree | None = None, *, status: bool = True, **top: Any) -> Tree:
    tree = _known(*_TYPED, metadata=OBJECT_META, **top)
    if spec is not None:
        tree["spec"] = spec
    if status:
        tree["status"] = ANY
    return tree


#: the known fields of each built-in kind; a kind not named here is kept as it comes
KINDS: dict[str, Tree] = {
    "Pod": _kind(POD_SPEC),
    "Service": _kind(
        _known(
            "ports",
            "selector",
            "clusterIP",
            "clusterIPs",
            "type",
            "externalIPs",
            "sessionAffinity",
            "loadBalancerIP",
            "loadBalancerSourceRanges",
            "externalName",
            "externalTrafficPolicy",
            "healthCheckNodePort",
            "publishNotReadyAddresses",
            "sessionAffinityConfig",
            "ipFamilies",
            "ipFamilyPolicy",
            "allocateLoadBalancerNodePorts",
            "loadBalancerClass",
            "internalTrafficPolicy",
            "trafficDistribution",
        )
    ),
    "Namespace": _kind(_known("finalizers")),
    "Node": _kind(_known("podCIDR", "podCIDRs", "providerID", "unschedulable", "taints", "configSource", "externalID")),
    "Deployment": _kind(
        _known(
            "replicas",
            "selector",
            "strategy",
            "minReadySeconds",
            "revisionHistoryLimit",
            "paused",
            "progressDeadlineSeconds",
            template=POD_TEMPLATE,
        )
    ),
    "ReplicaSet": _kind(_known("replicas", "minReadySeconds", "selector", template=POD_TEMPLATE)),
    "ReplicationController": _kind(_known("replicas", "minReadySeconds", "selector", template=POD_TEMPLATE)),
    "DaemonSet": _kind(
        _known("selector", "updateStrategy", "minReadySeconds", "revisionHistoryLimit", template=POD_TEMPLATE)
    ),
    "StatefulSet": _kind(
        _known(
            "replicas",
            "selector",
            "serviceName",
            "volumeClaimTemplates",
            "podManagementPolicy",
            "updateStrategy",
            "revisionHistoryLimit",
            "minReadySeconds",
            "persistentVolumeClaimRetentionPolicy",
            "ordinals",
            template=POD_TEMPLATE,
        )
    ),
    "ControllerRevision": _kind(status=False, data=ANY, revision=ANY),
    "Job": _kind(
        _known(
            "parallelism",
            "completions",
            "activeDeadlineSeconds",
            "podFailurePolicy",
            "successPolicy",
            "backoffLimit",
            "backoffLimitPerIndex",
            "maxFailedIndexes",
            "selector",
            "manualSelector",
            "ttlSecondsAfterFinished",
            "completionMode",
            "suspend",
            "podReplacementPolicy",
            "managedBy",
            template=POD_TEMPLATE,
        )
    ),
    "Lease": _kind(
        _known(
            "holderIdentity",
            "leaseDurationSeconds",
            "acquireTime",
            "renewTime",
            "leaseTransitions",
            "strategy",
            "preferredHolder",
        ),
        status=False,
    ),
    "ConfigMap": _kind(status=False, data=ANY, binaryData=ANY, immutable=ANY),
    "Secret": _kind(status=False, data=ANY, stringData=ANY, type=ANY, immutable=ANY),
    "ServiceAccount": _kind(status=False, secrets=ANY, imagePullSecrets=ANY, automountServiceAccountToken=ANY),
    "Endpoints": _kind(status=False, subsets=ANY),
    "EndpointSlice": _kind(status=False, addressType=ANY, endpoints=ANY, ports=ANY),
    "PersistentVolume": _kind(
        _known(
            "capacity",
            "accessModes",
            "claimRef",
            "persistentVolumeReclaimPolicy",
            "storageClassName",
            "mountOptions",
            "volumeMode",
            "nodeAffinity",
            "volumeAttributesClassName",
            *VOLUME_SOURCES,
        )
    ),
    "PersistentVolumeClaim": _kind(PERSISTENT_VOLUME_CLAIM_SPEC),
    "StorageClass": _kind(
        status=False,
        **dict.fromkeys(
            (
                "provisioner",
                "parameters",
                "reclaimPolicy",
                "mountOptions",
                "allowVolumeExpansion",
                "volumeBindingMode",
                "allowedTopologies",
            ),
            ANY,
        ),
    ),
    "Event": _kind(
        status=False,
        **dict.fromkeys(
            (
                "involvedObject",
                "reason",
                "message",
                "source",
                "firstTimestamp",
                "lastTimestamp",
                "count",
                "type",
                "eventTime",
                "series",
                "action",
                "related",
                "reportingComponent",
                "reportingInstance",
            ),
            ANY,
        ),
    ),
}


def unknown_fields(kind: str, obj: dict[str, Any]) -> list[str]:
    """Remove the fields of ``obj`` (of the kind named ``kind``) that the kind does not have; returns
    their paths as kube-apiserver names them (``spec.foo``, ``spec.containers[0].bar``)."""
    tree = KINDS.get(kind)
    found: list[str] = []
    if tree is not None:
        _prune(obj, tree, "", found)
    return found


def unknown_metadata_fields(obj: dict[str, Any]) -> list[str]:
    """Remove the fields ``metadata`` (ObjectMeta) does not have, for kinds without a tree of their
    own (custom resources); returns their paths (``metadata.foo``)."""
    found: list[str] = []
    md = obj.get("metadata")
    if isinstance(md, dict):
        _prune(md, OBJECT_META, "metadata", found)
    return found


def _prune(obj: dict[str, Any], tree: Tree, prefix: str, found: list[str]) -> None:
    # a path is spelled only for an unknown field or a value to descend into: every request body
    # is pruned, and most of its fields are known scalars
    for name in list(obj):
        if name not in tree:
            del obj[name]
            found.append(_path(prefix, name))
            continue
        sub, value = tree[name], obj[name]
        if isinstance(sub, dict) and isinstance(value, dict):
            _prune(value, sub, _path(prefix, name), found)
        elif isinstance(sub, list) and isinstance(value, list):
            path = _path(prefix, name)
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _prune(item, sub[0], f"{path}[{i}]", found)


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@dataclass
class FieldValidation:
    """A request's ``fieldValidation`` and the warnings it collected, for the response's headers."""

    mode: str = WARN
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str | None) -> FieldValidation:
        if not value:
            return cls()
        if value not in MODES:
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{value}": supported values: "Ignore", "Warn", "Strict"'
            )
        return cls(value)

    def check(self, kind: str, api_version: str, obj: dict[str, Any]) -> None:
        """Drop ``obj``'s unknown fields; 400 under Strict, a warning each under Warn."""
        self.report(kind, api_version, unknown_fields(kind, obj))

    def report(self, kind: str, api_version: str, unknown: list[str]) -> None:
        """Answer the unknown fields already dropped from an object (their paths) as the mode says:
        400 under Strict, a warning each under Warn."""
        if not unknown:
            return
        if self.mode == STRICT:
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise errors.bad_request(
                f'{kind} in version "{api_version.rsplit("/", 1)[-1]}" cannot be handled as a '
                f"{kind}: strict decoding error: {listed}"
            )
        if self.mode == WARN:  # a write retried after a conflict finds the same fields again
            self.warnings.extend(w for w in (f'unknown field "{path}"' for path in unknown) if w not in self.warnings)
