"""A seeded fuzz campaign against the API server's input handling: for every kind discovery lists, it
sends mutated creates, updates, patches of the four content types and status/scale/review/binding
writes, and checks each answer against what pykube promises for bad input (a 4xx ``Status`` that
changes nothing, or a 2xx with a well-formed object that reads back and stores again; never a 5xx, a
non-Status error, a dropped connection or a hang), and after each batch that every kind still LISTs
(JSON and Table), every listed object GETs back as listed, and the server logged no traceback.

Deterministic for a seed: the same seed sends the same requests in the same order (the server's own
answers, e.g. a controller's write racing a case, may still differ). Used by the bounded CI test
(tests/integration/test_api_fuzz.py) and the long campaigns of ``bench/fuzz.py``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import random
import re
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from inprocess import start_in_process
from yarl import URL

Obj = dict[str, Any]
NS = "fuzz"
#: ResourceQuotas and LimitRanges get a namespace of their own, so that a fuzzed quota of zero pods or
#: a fuzzed default limit does not refuse or change the other kinds' cases
QUOTA_NS = "fuzz-quota"
GROUP = "fuzz.example.com"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
#: how many listed objects of a kind each batch GETs back (all of them made the check grow with every
#: Event and Pod the controllers wrote)
SAMPLED = 40
#: how long one request may take before it counts as a hang
REQUEST_SECONDS = 20.0
#: what the campaign never creates: answers of a request, not stored objects (they are fuzzed as
#: the subresources or reviews they are), and the metrics API, which is read-only
NOT_CREATED = {"Binding", "Eviction", "TokenRequest", "Scale", "NodeMetrics", "PodMetrics"}
REVIEWS = {
    "SelfSubjectReview",
    "LocalSubjectAccessReview",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "SubjectAccessReview",
    "TokenReview",
}
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


# --- valid base objects, one per kind ----------------------------------------------------------------


def _certificate_request() -> str:
    """A valid PEM certificate request (base64, as ``spec.request`` holds it), made once per run."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


_REQUEST = _certificate_request()


def _template(app: str, restart: str = "Always") -> Obj:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}],
        },
    }


def _selector(app: str) -> Obj:
    return {"matchLabels": {"app": app}}


def _spec(kind: str, name: str, ns: str, group_version: str = "") -> Obj:
    """The kind-specific part of a minimal valid object (everything beside metadata), at
    ``group_version`` where a kind is served at several versions of different shapes."""
    app = f"fz-{name}"[:63]
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": app}
    specs: dict[str, Callable[[], Obj]] = {
        "Namespace": lambda: {},
        "Pod": lambda: {"spec": _template(app)["spec"]},
        "PodTemplate": lambda: {"template": _template(app, "Never")},
        "Service": lambda: {"spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}},
        "Endpoints": lambda: {"subsets": [{"addresses": [{"ip": "10.9.0.1"}], "ports": [{"port": 80}]}]},
        "ReplicationController": lambda: {
            "spec": {"replicas": 1, "selector": {"app": app}, "template": _template(app)}
        },
        "Node": lambda: {"spec": {"unschedulable": True}},
        "Secret": lambda: {"type": "Opaque", "data": {"k": base64.b64encode(b"v").decode()}, "stringData": {"s": "t"}},
        "ConfigMap": lambda: {"data": {"k": "v"}, "binaryData": {"b": base64.b64encode(b"\0").decode()}},
        "Event": lambda: (
            {
                "regarding": {"kind": "Pod", "name": "p", "namespace": ns, "apiVersion": "v1"},
                "reason": "Fuzzed",
                "note": "a fuzzed event",
                "type": "Normal",
                "eventTime": "2026-12-07T00:00:00.000000Z",
                "reportingController": "example.com/fuzz",
                "reportingInstance": "fuzz-0",
                "action": "Fuzz",
            }
            if group_version == "events.k8s.io/v1"
            else {
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns, "apiVersion": "v1"},
                "reason": "Fuzzed",
                "message": "a fuzzed event",
                "type": "Normal",
                "source": {"component": "fuzz"},
            }
        ),
        "ServiceAccount": lambda: {"secrets": [{"name": "s"}], "automountServiceAccountToken": False},
        "ResourceQuota": lambda: {"spec": {"hard": {"pods": "100", "requests.cpu": "100"}}},
        "LimitRange": lambda: {"spec": {"limits": [{"type": "Container", "max": {"cpu": "100"}}]}},
        "PersistentVolume": lambda: {
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "fuzz-none",
                "hostPath": {"path": "/nonexistent/fuzz"},
            }
        },
        "PersistentVolumeClaim": lambda: {
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "fuzz-none",
                "resources": {"requests": {"storage": "1Gi"}},
            }
        },
        "Deployment": lambda: {"spec": {"replicas": 1, "selector": _selector(app), "template": _template(app)}},
        "ReplicaSet": lambda: {"spec": {"replicas": 1, "selector": _selector(app), "template": _template(app)}},
        "DaemonSet": lambda: {"spec": {"selector": _selector(app), "template": _template(app)}},
        "StatefulSet": lambda: {
            "spec": {"replicas": 1, "serviceName": app, "selector": _selector(app), "template": _template(app)}
        },
        "ControllerRevision": lambda: {"revision": 1, "data": {"spec": {"template": {}}}},
        "Job": lambda: {"spec": {"backoffLimit": 1, "template": _template(app, "Never")}},
        "CronJob": lambda: {
            "spec": {
                "schedule": "0 0 1 1 *",
                "suspend": True,
                "jobTemplate": {"spec": {"template": _template(app, "OnFailure")}},
            }
        },
        "Lease": lambda: {"spec": {"holderIdentity": "fuzz", "leaseDurationSeconds": 10}},
        "EndpointSlice": lambda: {
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.9.0.1"], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
        "Ingress": lambda: {
            "spec": {
                "ingressClassName": "fuzz-none",
                "rules": [
                    {
                        "host": "fuzz.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": app, "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ],
            }
        },
        "IngressClass": lambda: {"spec": {"controller": "example.com/fuzz"}},
        # a Local APIService of a group nobody serves (its name is its version and group: see base)
        "APIService": lambda: {
            "spec": {"group": f"{name}.{GROUP}", "version": "v1", "groupPriorityMinimum": 100, "versionPriority": 10}
        },
        # a request to a signer nobody runs: approving it (the approval subresource is fuzzed too) signs nothing
        "CertificateSigningRequest": lambda: {
            "spec": {"request": _REQUEST, "signerName": "example.com/fuzz", "usages": ["client auth"]}
        },
        # a policy on ConfigMaps that only the ones fuzzing labels for it meet, and a binding that warns
        "ValidatingAdmissionPolicy": lambda: {
            "spec": {
                "failurePolicy": "Ignore",
                "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "operations": ["CREATE", "UPDATE"],
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "resources": ["configmaps"],
                        }
                    ]
                },
                "matchConditions": [
                    {"name": "labelled", "expression": "'fuzz-policy' in object.metadata.?labels.orValue({})"}
                ],
                "variables": [{"name": "size", "expression": "object.?data.orValue({}).size()"}],
                "validations": [
                    {"expression": "variables.size < 100", "messageExpression": "'size ' + string(variables.size)"}
                ],
            }
        },
        "ValidatingAdmissionPolicyBinding": lambda: {
            "spec": {
                "policyName": app,
                "validationActions": ["Warn", "Audit"],
                "paramRef": {"selector": {"matchLabels": {"app": app}}, "parameterNotFoundAction": "Allow"},
            }
        },
        # a webhook nothing fuzzed reaches (a group no write names) and whose failure is passed over
        **dict.fromkeys(
            ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
            lambda: {
                "webhooks": [
                    {
                        "name": f"{app}.fuzz.example.com",
                        "clientConfig": {"url": "https://127.0.0.1:1/fuzz"},
                        "rules": [
                            {
                                "operations": ["CREATE"],
                                "apiGroups": ["fuzz.invalid"],
                                "apiVersions": ["v1"],
                                "resources": ["nothings"],
                            }
                        ],
                        "failurePolicy": "Ignore",
                        "sideEffects": "None",
                        "admissionReviewVersions": ["v1"],
                        "timeoutSeconds": 1,
                    }
                ]
            },
        ),
        "NetworkPolicy": lambda: {
            "spec": {
                "podSelector": _selector(app),
                "ingress": [
                    {
                        "from": [
                            {"podSelector": _selector(app), "namespaceSelector": {"matchLabels": {"team": "fuzz"}}},
                            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                        ],
                        "ports": [{"protocol": "TCP", "port": "http"}, {"port": 8000, "endPort": 8080}],
                    }
                ],
                "egress": [{"to": [{"podSelector": {}}], "ports": [{"protocol": "UDP", "port": 53}]}],
            }
        },
        "HorizontalPodAutoscaler": lambda: (
            {
                "spec": {
                    "scaleTargetRef": target,
                    "minReplicas": 1,
                    "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 50,
                }
            }
            if group_version == "autoscaling/v1"
            else {
                "spec": {
                    "scaleTargetRef": target,
                    "minReplicas": 1,
                    "maxReplicas": 3,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                        }
                    ],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
                }
            }
        ),
        "PodDisruptionBudget": lambda: {"spec": {"minAvailable": 1, "selector": _selector(app)}},
        "ClusterRole": lambda: {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
        "Role": lambda: {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
        "ClusterRoleBinding": lambda: {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "fuzz"},
            "subjects": [{"kind": "User", "name": "fuzz", "apiGroup": "rbac.authorization.k8s.io"}],
        },
        "RoleBinding": lambda: {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fuzz"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}],
        },
        "StorageClass": lambda: {"provisioner": "example.com/fuzz", "reclaimPolicy": "Retain"},
        "PriorityClass": lambda: {"value": 100, "description": "fuzz", "preemptionPolicy": "Never"},
        "RuntimeClass": lambda: {
            "handler": "runc",
            "overhead": {"podFixed": {"cpu": "10m", "memory": "1Mi"}},
            "scheduling": {
                "nodeSelector": {"fuzz": "yes"},
                "tolerations": [{"key": "fuzz", "operator": "Exists", "effect": "NoSchedule"}],
            },
        },
        "CSIDriver": lambda: {
            "spec": {"podInfoOnMount": True, "tokenRequests": [{"audience": "fuzz", "expirationSeconds": 3600}]}
        },
        "CSINode": lambda: {
            "spec": {
                "drivers": [
                    {"name": "fuzz.csi.io", "nodeID": name, "topologyKeys": ["zone"], "allocatable": {"count": 2}}
                ]
            }
        },
        "VolumeAttachment": lambda: {
            "spec": {"attacher": "fuzz.csi.io", "nodeName": "n1", "source": {"persistentVolumeName": "pv"}},
            "status": {"attached": True, "attachError": {"message": "x"}},
        },
        "CSIStorageCapacity": lambda: {
            "storageClassName": "fast",
            "capacity": "1Gi",
            "maximumVolumeSize": "100Mi",
            "nodeTopology": _selector(app),
        },
        "FlowSchema": lambda: {
            "spec": {
                "priorityLevelConfiguration": {"name": "workload-low"},
                "matchingPrecedence": 5000,
                "distinguisherMethod": {"type": "ByNamespace"},
                "rules": [
                    {
                        "subjects": [{"kind": "Group", "group": {"name": "fuzz"}}],
                        "resourceRules": [
                            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "namespaces": [ns]}
                        ],
                        "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/fuzz/*"]}],
                    }
                ],
            }
        },
        "PriorityLevelConfiguration": lambda: {
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 3,
                    "lendablePercent": 10,
                    "borrowingLimitPercent": 20,
                    "limitResponse": {"type": "Queue", "queuing": {"queues": 8, "handSize": 2, "queueLengthLimit": 5}},
                },
            }
        },
        "CustomResourceDefinition": lambda: crd_spec(f"{name}s", "Fz" + name.replace("-", "").capitalize()),
        "Gadget": lambda: {"spec": {"size": "small", "replicas": 1, "port": 80, "tags": ["a"], "extra": {"x": 1}}},
        "SelfSubjectReview": lambda: {},
        "TokenReview": lambda: {"spec": {"token": "a.b.c", "audiences": ["fuzz"]}},
        "SelfSubjectAccessReview": lambda: {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}},
        "SelfSubjectRulesReview": lambda: {"spec": {"namespace": ns}},
        "SubjectAccessReview": lambda: {
            "spec": {"user": "fuzz", "groups": ["g"], "resourceAttributes": {"verb": "get", "resource": "pods"}}
        },
        "LocalSubjectAccessReview": lambda: {
            "spec": {"user": "fuzz", "resourceAttributes": {"namespace": ns, "verb": "get", "resource": "pods"}}
        },
    }
    return specs[kind]()


def crd_spec(plural: str, kind: str) -> Obj:
    """A CustomResourceDefinition's ``spec`` (in ``GROUP``) with a structural schema of typed fields,
    defaults, an int-or-string, a preserved map, printer columns, and status and scale subresources."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "string", "enum": ["small", "large"]},
                    "replicas": {"type": "integer", "minimum": 0, "maximum": 100, "default": 1},
                    "port": {"x-kubernetes-int-or-string": True},
                    "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}},
                    "ratio": {"type": "number"},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            },
            "status": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}},
            },
        },
    }
    return {
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
                        {"name": "Port", "type": "string", "jsonPath": ".spec.port"},
                        {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        }
    }


# --- what discovery serves -----------------------------------------------------------------------------


@dataclass
class Resource:
    """One resource discovery lists, with the subresources it lists beside it."""

    group_version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: list[str]
    subresources: dict[str, list[str]] = field(default_factory=dict)

    def collection(self, ns: str | None) -> str:
        root = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        where = f"/namespaces/{quote(ns, safe='')}" if self.namespaced and ns else ""
        return f"{root}{where}/{self.plural}"

    def namespace(self) -> str | None:
        if not self.namespaced:
            return None
        return QUOTA_NS if self.kind in ("ResourceQuota", "LimitRange") else NS


# --- mutations -----------------------------------------------------------------------------------------

_WEIRD_STRINGS = (
    "",
    " ",
    "A",
    "a" * 64,
    "a" * 254,
    "a" * 300,
    "x" * 70_000,
    "ünïcødé",
    "名前",
    "\u0000",
    "a\nb",
    "\t",
    "\x7f",
    "../etc",
    "a/b",
    "%2F",
    "-a-",
    "a.b",
    "a_b",
    "example.com/a",
    "a/b/c",
    "\ud83d\ude00",
    "\u202e",
    "1e3",
    "null",
    "true",
    "0",
    "-1",
    "1.5Gi",
    "100m",
    "Ki",
    "1e400",
    "2020-01-01T00:00:00Z",
    "not-a-time",
    "$patch",
)
_WEIRD_NUMBERS = (0, 1, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 1.5, -0.5, 1e308, 3.0)
_WEIRD_VALUES: tuple[Any, ...] = (None, True, False, [], {}, [None], {"": None}, [[1]], {"a": {"b": {"c": []}}})
_RAW_BODIES = (
    b"",
    b"{",
    b"[",
    b"null",
    b"42",
    b'"a string"',
    b"[]",
    b"{}",
    b"{'single': 'quotes'}",
    b"\xff\xfe\x00",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"kind": "Pod", "kind": "Service"}',
    b'{"metadata": {"name": "\\ud800"}}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"apiVersion: v1\nkind: [",
    b"--- !!python/object:os.system\n",
    b"\x00" * 64,
)
METADATA_KEYS = (
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "resourceVersion",
    "uid",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into ``value`` (dict keys and list indexes), the root first."""
    yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*at, i))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    """``root`` with the value at ``path`` replaced (the root itself when ``path`` is empty)."""
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path)


class Mutator:
    """Random changes to JSON values, drawn from the campaign's seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def string(self) -> str:
        choice = self.rng.choice(_WEIRD_STRINGS)
        if self.rng.random() < 0.2:
            choice += "".join(chr(self.rng.randrange(0, 0x3000)) for _ in range(self.rng.randrange(1, 8)))
        return choice.replace("\ud83d\ude00", "\U0001f600")

    def scalar(self) -> Any:
        pick = self.rng.random()
        if pick < 0.35:
            return self.string()
        if pick < 0.7:
            return self.rng.choice(_WEIRD_NUMBERS)
        return copy.deepcopy(self.rng.choice(_WEIRD_VALUES))

    def value_like(self, old: Any) -> Any:
        """A value of another type than ``old``'s, or of the same type at its edges."""
        if isinstance(old, bool):
            return self.rng.choice([None, "true", 1, 0, [True], {}])
        if isinstance(old, int | float):
            return self.rng.choice([*_WEIRD_NUMBERS, str(old), None, True, [old], {"v": old}])
        if isinstance(old, str):
            return self.rng.choice([self.string(), self.string(), 0, -1, 1.5, True, None, [old], {old: old}])
        if isinstance(old, list):
            return self.rng.choice([None, {}, "", 0, [None], [*old, None], old * 3, [self.scalar()], [old]])
        if isinstance(old, dict):
            return self.rng.choice([None, [], "", 0, [old], {self.string(): self.scalar()}, {k: None for k in old}])
        return self.scalar()

    def mutate(self, obj: Any, count: int | None = None) -> tuple[Any, list[str]]:
        """``obj`` (copied) with one to three random mutations, and what they were."""
        obj = copy.deepcopy(obj)
        done: list[str] = []
        for _ in range(count or self.rng.choice((1, 1, 1, 2, 3))):
            obj, what = self._one(obj)
            done.append(what)
        return obj, done

    def _one(self, obj: Any) -> tuple[Any, str]:
        all_paths = list(paths(obj))
        op = self.rng.random()
        if isinstance(obj, dict) and "metadata" in obj and op < 0.3:
            return self._metadata(obj)
        path = self.rng.choice(all_paths)
        target = _get(obj, path)
        where = _pointer(path) or "/"
        if op < 0.55:
            new = self.value_like(target)
            return _set(obj, path, new), f"{where} = {_short(new)}"
        if op < 0.65 and path:
            parent = _get(obj, path[:-1])
            del parent[path[-1]]
            return obj, f"remove {where}"
        if op < 0.72 and isinstance(target, dict):
            key = self.rng.choice([self.string(), "unknownField", "$patch", "apiVersion", "metadata"])
            target[key] = self.scalar()
            return obj, f"{where}[{_short(key)}] = {_short(target[key])}"
        if op < 0.8 and isinstance(target, list):
            target.insert(
                self.rng.randrange(len(target) + 1),
                self.rng.choice([None, {}, [], "", copy.deepcopy(target[0]) if target else 1]),
            )
            return obj, f"insert into {where}"
        if op < 0.86 and isinstance(target, dict) and target:
            key = self.rng.choice(list(target))
            target[key] = None
            return obj, f"{where}/{key} = null"
        if op < 0.93:
            new = self.rng.choice([[target], {"nested": target}, {str(k): target for k in range(3)}])
            return _set(obj, path, new), f"nest {where}"
        if path and isinstance(path[-1], str):
            parent = _get(obj, path[:-1])
            new_key = self.string()
            parent[new_key] = parent.pop(path[-1])
            return obj, f"rename {where} to {_short(new_key)}"
        return _set(obj, path, self.scalar()), f"{where} = scalar"

    def _metadata(self, obj: Obj) -> tuple[Obj, str]:
        meta = obj["metadata"] if isinstance(obj["metadata"], dict) else {}
        obj["metadata"] = meta
        key = self.rng.choice(METADATA_KEYS)
        r = self.rng.random()
        if key in ("labels", "annotations"):
            if r < 0.5:
                old = meta.get(key) if isinstance(meta.get(key), dict) else {}
                meta[key] = {**old, self.string(): self.rng.choice([self.string(), self.scalar()])}
            elif r < 0.75:
                meta[key] = {self.rng.choice(["app", "a/b", "example.com/x"]): self.string()}
            else:
                meta[key] = self.value_like(meta.get(key, {}))
        elif key == "ownerReferences":
            ref = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": "owner",
                "uid": "00000000-0000-0000-0000-000000000001",
            }
            ref, _ = self.mutate(ref, 1) if r < 0.7 else (ref, [])
            meta[key] = self.rng.choice([[ref], [ref, ref], ref, [None]])
        elif key == "managedFields":
            entry = {
                "manager": "fuzz",
                "operation": "Apply",
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {}},
            }
            entry, _ = self.mutate(entry, 1)
            meta[key] = self.rng.choice([[entry], entry, [None], []])
        elif key == "finalizers":
            meta[key] = self.rng.choice([[self.string()], ["example.com/fz", "example.com/fz"], self.scalar(), [None]])
        else:
            meta[key] = self.rng.choice([self.string(), self.scalar(), self.value_like(meta.get(key, ""))])
        return obj, f"metadata.{key} = {_short(meta[key])}"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"


# --- the oracle ----------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    body: bytes | None = None
    content_type: str = "application/json"
    accept: str = "application/json"
    what: str = ""

    def describe(self) -> str:
        body = "" if self.body is None else self.body[:1500].decode("utf-8", "backslashreplace")
        more = "" if self.body is None or len(self.body) <= 1500 else f"...({len(self.body)} bytes)"
        return f"{self.method} {self.path} [{self.content_type}] {self.what}\n    body: {body}{more}"


@dataclass
class Answer:
    status: int
    body: Any
    raw: bytes


class Violation(AssertionError):
    """An answer pykube's promise about bad input rules out."""


@dataclass
class Report:
    seed: int
    cases: int = 0
    requests: int = 0
    #: (kind, verb, status) -> count
    counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"seed {self.seed}: {self.cases} cases, {self.requests} requests, {len(self.violations)} violations"]
        by_code = Counter[int]()
        for (_, _, code), n in self.counts.items():
            by_code[code] += n
        lines.append("by status: " + ", ".join(f"{c}: {n}" for c, n in sorted(by_code.items())))
        for (kind, verb, code), n in sorted(self.counts.items()):
            lines.append(f"  {kind:28} {verb:28} {code}  {n}")
        return "\n".join(lines)


class Campaign:
    """One fuzz campaign against one server (``url`` with the admin ``token``, logging to ``log``)."""

    def __init__(self, url: str, token: str, ssl_context: ssl.SSLContext, log: Path, seed: int) -> None:
        self.url = url
        self.token = token
        self.ssl = ssl_context
        self.log = log
        self.log_offset = 0
        self.rng = random.Random(seed)
        # which listed objects a batch GETs back: drawn apart from the cases, whose sequence must not
        # depend on how many objects the controllers made meanwhile
        self.sampler = random.Random(seed)
        self.mut = Mutator(self.rng)
        self.report = Report(seed)
        self.resources: list[Resource] = []
        self.created: list[tuple[Resource, str]] = []  # (resource, object path) made this batch
        self.serial = 0
        self.recent: list[str] = []
        self.session: aiohttp.ClientSession | None = None

    # -- HTTP ------------------------------------------------------------------------------------------

    async def send(self, req: Request, kind: str = "", verb: str = "") -> Answer:
        """Send ``req``; check the oracle for every answer (raises :class:`Violation`)."""
        assert self.session is not None
        self.report.requests += 1
        self.recent = [*self.recent[-4:], req.describe()]
        headers = {"Accept": req.accept}
        if req.body is not None:
            headers["Content-Type"] = req.content_type
        try:
            async with (
                asyncio.timeout(REQUEST_SECONDS),
                self.session.request(
                    req.method, URL(self.url + req.path, encoded=True), data=req.body, headers=headers, ssl=self.ssl
                ) as r,
            ):
                raw = await r.read()
                status = r.status
        except TimeoutError:
            raise Violation(f"no answer within {REQUEST_SECONDS:.0f} s to {req.describe()}") from None
        except aiohttp.ClientError as exc:
            raise Violation(f"connection failed ({exc!r}) on {req.describe()}") from None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        answer = Answer(status, body, raw)
        if verb:
            self.report.counts[(kind, verb, status)] += 1
        self._check_log()
        self._check_answer(req, answer)
        return answer

    def _check_answer(self, req: Request, a: Answer) -> None:
        text = a.raw[:2000].decode("utf-8", "backslashreplace")
        if a.status >= 500:
            raise Violation(f"{a.status} for {req.describe()}\n    answer: {text}")
        if not isinstance(a.body, dict):
            raise Violation(f"{a.status} with a body that is no JSON object for {req.describe()}\n    answer: {text}")
        if a.status >= 400:
            status = a.body
            if (status.get("kind"), status.get("apiVersion"), status.get("code"), status.get("status")) != (
                "Status",
                "v1",
                a.status,
                "Failure",
            ):
                raise Violation(f"{a.status} without a Failure Status for {req.describe()}\n    answer: {text}")
            if not isinstance(status.get("message"), str) or not isinstance(status.get("reason", ""), str):
                raise Violation(f"{a.status} Status without message for {req.describe()}\n    answer: {text}")
        elif a.status >= 300:
            raise Violation(f"{a.status} redirect for {req.describe()}")
        elif not isinstance(a.body.get("kind"), str) or not isinstance(a.body.get("apiVersion"), str):
            raise Violation(f"{a.status} answer without kind/apiVersion for {req.describe()}\n    answer: {text}")

    def _check_log(self) -> None:
        try:
            with self.log.open("rb") as f:
                f.seek(self.log_offset)
                new = f.read()
        except FileNotFoundError:
            return
        self.log_offset += len(new)
        if b"Traceback" in new:
            # the last requests, the latest last: a traceback may be logged just after its answer
            after = "\n".join(self.recent)
            raise Violation(
                f"the server logged a traceback after {after}\n    log: {new[-6000:].decode('utf-8', 'replace')}"
            )

    def _json(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=self.rng.random() < 0.5).encode("utf-8", "surrogatepass")

    # -- set-up ------------------------------------------------------------------------------------------

    async def discover(self) -> list[Resource]:
        found: dict[tuple[str, str], Resource] = {}
        versions = ["v1"]
        groups = await self.send(Request("GET", "/apis"))
        versions += [v["groupVersion"] for g in groups.body["groups"] for v in g["versions"]]
        for gv in versions:
            root = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            listing = await self.send(Request("GET", root))
            for r in listing.body["resources"]:
                plural, _, sub = r["name"].partition("/")
                if sub:
                    found[(gv, plural)].subresources[sub] = r["verbs"]
                else:
                    found[(gv, plural)] = Resource(gv, plural, r["kind"], r["namespaced"], r["verbs"])
        return list(found.values())

    async def setup(self) -> None:
        for ns in (NS, QUOTA_NS):
            await self.send(Request("POST", "/api/v1/namespaces", self._json({"metadata": {"name": ns}})))
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"gadgets.{GROUP}"},
            **crd_spec("gadgets", "Gadget"),
        }
        await self.send(Request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", self._json(crd)))
        for _ in range(100):
            self.resources = await self.discover()
            if any(r.kind == "Gadget" for r in self.resources):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the fuzz CustomResourceDefinition was never served")

    def base(self, res: Resource, name: str) -> Obj:
        ns = res.namespace()
        meta: Obj = {"name": name, "labels": {"fuzz": "yes"}, "annotations": {"fuzz": "base"}}
        if ns:
            meta["namespace"] = ns
        if res.kind == "CustomResourceDefinition":
            meta["name"] = f"{name}s.{GROUP}"
        elif res.kind == "APIService":
            meta["name"] = f"v1.{name}.{GROUP}"
        return {
            "apiVersion": res.group_version,
            "kind": res.kind,
            "metadata": meta,
            **_spec(res.kind, name, ns or NS, res.group_version),
        }

    def fresh_name(self) -> str:
        self.serial += 1
        return f"fz{self.serial}"

    # -- cases -----------------------------------------------------------------------------------------

    def targets(self) -> list[Resource]:
        """The resources cases are drawn from: those with a base object (the built-in kinds, the
        campaign's own Gadgets and the reviews), not what fuzzed CRDs add."""
        return [r for r in self.resources if r.kind not in NOT_CREATED and _has_base(r.kind)]

    async def run(self, cases: int, batch: int = 40) -> Report:
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout) as s:
            self.session = s
            await self.setup()
            done = 0
            while done < cases:
                for _ in range(min(batch, cases - done)):
                    try:
                        await self.case()
                    except Violation as v:
                        self.report.violations.append(f"case {done} of seed {self.report.seed}: {v}")
                    done += 1
                    self.report.cases = done
                for check in (self.check_all, self.cleanup):
                    try:
                        await check()
                    except Violation as v:
                        self.report.violations.append(f"after case {done} of seed {self.report.seed}: {v}")
            self.session = None
        return self.report

    async def case(self) -> None:
        res = self.rng.choice(self.targets())
        if res.kind in REVIEWS:
            await self.review(res)
            return
        pick = self.rng.random()
        if pick < 0.3:
            await self.create(res)
            return
        # the rest work on an object that exists: make one first (unmutated)
        name = self.fresh_name()
        obj = self.base(res, name)
        made = await self.send(Request("POST", res.collection(res.namespace()), self._json(obj), what="(valid base)"))
        if made.status != 201:
            raise Violation(f"the valid base {res.kind} was refused: {made.raw[:1000]!r}")
        path = f"{res.collection(res.namespace())}/{quote(made.body['metadata']['name'], safe='')}"
        self.created.append((res, path))
        if pick < 0.5:
            await self.update(res, path, made.body, "")
        elif pick < 0.8:
            await self.patch(res, path, made.body, "")
        elif pick < 0.87 and "status" in res.subresources:
            # a subresource that edits the status: /status, or a certificate request's /approval
            sub = self.rng.choice([s for s in ("status", "approval") if s in res.subresources])
            await (self.update if self.rng.random() < 0.5 else self.patch)(res, path, made.body, f"/{sub}")
        elif pick < 0.93 and "scale" in res.subresources:
            await self.scale(res, path)
        elif pick < 0.96 and res.kind == "Pod":
            await self.pod_subresource(res, path, name)
        elif pick < 0.975:
            await self.delete(res, path, made.body)
        elif pick < 0.99:
            await self.list_with(res)
        else:
            await self.raw(res, path)

    async def create(self, res: Resource) -> None:
        obj = self.base(res, self.fresh_name())
        params = self._params("create")
        if self.rng.random() < 0.15:
            body, what = self.rng.choice(_RAW_BODIES), ["raw body"]
        else:
            mutated, what = self.mut.mutate(obj)
            body = self._json(mutated)
        a = await self.send(
            Request("POST", res.collection(res.namespace()) + params, body, what="; ".join(what)), res.kind, "create"
        )
        if a.status in (200, 201, 202) and "dryRun" not in params:
            await self.readback(res, a, Request("POST", res.collection(res.namespace()), body, what="; ".join(what)))

    def _params(self, verb: str) -> str:
        r = self.rng.random()
        if r < 0.8:
            return ""
        options = [
            "fieldValidation=Strict",
            "fieldValidation=Warn",
            "fieldValidation=Ignore",
            "fieldValidation=Bogus",
            "dryRun=All",
            "dryRun=Bogus",
            f"fieldManager={self.rng.choice(['a' * 200, '', 'fz', '%00'])}",
            "pretty=true",
        ]
        if verb == "patch":
            options += ["force=true", "force=bogus"]
        return "?" + "&".join(self.rng.sample(options, self.rng.randrange(1, 3)))

    async def update(self, res: Resource, path: str, current: Obj, sub: str) -> None:
        before = await self.send(Request("GET", path))
        mutated, what = self.mut.mutate(current)
        req = Request("PUT", path + sub + self._params("update"), self._json(mutated), what="; ".join(what))
        a = await self.send(req, res.kind, "update" + sub)
        await self.after_write(res, path, before.body, a, req)

    async def patch(self, res: Resource, path: str, current: Obj, sub: str) -> None:
        before = await self.send(Request("GET", path))
        ctype = self.rng.choice(PATCH_TYPES)
        body, what = self.patch_body(ctype, current)
        params = self._params("patch")
        if ctype == PATCH_TYPES[3] and self.rng.random() < 0.85:
            params += ("&" if params else "?") + "fieldManager=fuzz"
        req = Request("PATCH", path + sub + params, body, ctype, what=what)
        a = await self.send(req, res.kind, f"patch{sub} {ctype.split('/')[1].split('+')[0]}")
        await self.after_write(res, path, before.body, a, req)

    def patch_body(self, ctype: str, current: Obj) -> tuple[bytes, str]:
        rng = self.rng
        if rng.random() < 0.1:
            return rng.choice(_RAW_BODIES), "raw body"
        if ctype == "application/json-patch+json":
            ops = []
            obj_paths = list(paths(current))
            for _ in range(rng.randrange(1, 4)):
                p = rng.choice(obj_paths)
                pointer = _pointer(p)
                if rng.random() < 0.2:
                    pointer = rng.choice(
                        [
                            "",
                            "/",
                            "~2",
                            "/metadata/labels/~",
                            "/spec/containers/-",
                            "/spec/containers/99",
                            "/spec/containers/-1",
                            "metadata",
                            "/a/b/c/d",
                            pointer + "/-",
                            pointer + "/x",
                        ]
                    )
                op = rng.choice(["add", "remove", "replace", "move", "copy", "test", "bogus", None])
                entry: Obj = {"op": op, "path": pointer}
                if op in ("add", "replace", "test", None, "bogus"):
                    entry["value"] = (
                        self.mut.value_like(_get(current, p)) if rng.random() < 0.7 else copy.deepcopy(_get(current, p))
                    )
                if op in ("move", "copy"):
                    entry["from"] = _pointer(rng.choice(obj_paths))
                if rng.random() < 0.1:
                    entry = self.mut.mutate(entry, 1)[0]
                ops.append(entry)
            body: Any = ops if rng.random() < 0.95 else {"op": "add", "path": "/x", "value": 1}
            return self._json(body), "json patch"
        # merge, strategic and apply: a piece of the object, mutated
        if ctype == "application/apply-patch+yaml":
            piece = {k: copy.deepcopy(v) for k, v in current.items() if k not in ("status",)}
            piece["metadata"] = {
                k: v
                for k, v in piece.get("metadata", {}).items()
                if k in ("name", "namespace", "labels", "annotations")
            }
        else:
            keys = [k for k in current if k not in ("apiVersion", "kind")]
            piece = {k: copy.deepcopy(current[k]) for k in rng.sample(keys, rng.randrange(1, len(keys) + 1))}
        mutated, what = self.mut.mutate(piece)
        if ctype == "application/strategic-merge-patch+json" and isinstance(mutated, dict) and rng.random() < 0.4:
            directive = rng.choice(
                [
                    ("$patch", rng.choice(["delete", "replace", "merge", "bogus", 1, None])),
                    ("$retainKeys", rng.choice([["spec"], "spec", [1], None])),
                    ("$setElementOrder/finalizers", rng.choice([["a"], [{"name": "c"}], "x", None])),
                    ("$deleteFromPrimitiveList/finalizers", rng.choice([["a"], "x", [None], {}])),
                ]
            )
            target = mutated.get("spec") if isinstance(mutated.get("spec"), dict) else mutated
            target[directive[0]] = directive[1]
            what.append(f"{directive[0]} = {_short(directive[1])}")
            if (
                "spec" in current
                and isinstance(current["spec"], dict)
                and "template" in current["spec"]
                and rng.random() < 0.5
            ):
                mutated.setdefault("spec", {})
                if isinstance(mutated["spec"], dict):
                    mutated["spec"]["template"] = {
                        "spec": {
                            "containers": [
                                {"name": "c", "$patch": rng.choice(["delete", "replace", "x"])},
                                {"$patch": "delete"},
                                {"name": None},
                            ]
                        }
                    }
                    what.append("containers with directives")
        if ctype == "application/apply-patch+yaml" and rng.random() < 0.3:
            try:
                return yaml.safe_dump(mutated, allow_unicode=True).encode("utf-8", "surrogatepass"), "; ".join(
                    [*what, "as YAML"]
                )
            except yaml.YAMLError:
                pass
        return self._json(mutated), "; ".join(what)

    async def scale(self, res: Resource, path: str) -> None:
        got = await self.send(Request("GET", path + "/scale"), res.kind, "get scale")
        if got.status != 200:
            raise Violation(f"GET scale of a valid {res.kind} answered {got.status}: {got.raw[:500]!r}")
        before = await self.send(Request("GET", path))
        if self.rng.random() < 0.5:
            mutated, what = self.mut.mutate(got.body)
            req = Request("PUT", path + "/scale", self._json(mutated), what="; ".join(what))
            a = await self.send(req, res.kind, "update scale")
        else:
            ctype = self.rng.choice(PATCH_TYPES[:3])
            body, what_ = self.patch_body(ctype, got.body)
            req = Request("PATCH", path + "/scale", body, ctype, what=what_)
            a = await self.send(req, res.kind, "patch scale")
        await self.after_write(res, path, before.body, a, req)

    async def pod_subresource(self, res: Resource, path: str, name: str) -> None:
        if self.rng.random() < 1 / 3:
            await self.ephemeral_containers(res, path)
            return
        sub, kind, api = self.rng.choice([("binding", "Binding", "v1"), ("eviction", "Eviction", "policy/v1")])
        body: Obj = {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": NS}}
        if kind == "Binding":
            body["target"] = {"apiVersion": "v1", "kind": "Node", "name": "fuzz-no-such-node"}
        else:
            body["deleteOptions"] = {"gracePeriodSeconds": 0}
        mutated, what = self.mut.mutate(body)
        before = await self.send(Request("GET", path))
        req = Request("POST", f"{path}/{sub}", self._json(mutated), what="; ".join(what))
        a = await self.send(req, "Pod", sub)
        if a.status < 300:
            return  # a binding or an eviction that was accepted changes the pod, as it should
        await self.after_write(res, path, before.body, a, req)

    async def ephemeral_containers(self, res: Resource, path: str) -> None:
        """A mutated ``kubectl debug``: a strategic merge patch of ``pods/NAME/ephemeralcontainers``
        adding a container, which may only ever add one."""
        debugger = {"name": f"debugger-{self.serial}", "image": "pykube.local/busybox:1.35", "stdin": True}
        body, what = self.mut.mutate({"spec": {"ephemeralContainers": [debugger]}})
        before = await self.send(Request("GET", path))
        req = Request(
            "PATCH",
            f"{path}/ephemeralcontainers",
            self._json(body),
            "application/strategic-merge-patch+json",
            what="; ".join(what),
        )
        a = await self.send(req, "Pod", "ephemeralcontainers")
        await self.after_write(res, path, before.body, a, req)

    async def delete(self, res: Resource, path: str, current: Obj) -> None:
        """DELETE with a mutated DeleteOptions body."""
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "propagationPolicy": "Background",
            "preconditions": {"uid": current["metadata"]["uid"]},
        }
        mutated, what = self.mut.mutate(options)
        before = await self.send(Request("GET", path))
        req = Request("DELETE", path + self._params("delete"), self._json(mutated), what="; ".join(what))
        a = await self.send(req, res.kind, "delete options")
        if a.status >= 400:
            await self.after_write(res, path, before.body, a, req)

    async def list_with(self, res: Resource) -> None:
        """LIST with selectors, limits and continue tokens that are garbage, as JSON or as a Table."""
        params = {
            "labelSelector": self.rng.choice(["a in (", "a=b,=c", "!", "a notin b", "x" * 400, "a==b==c", "a=b"]),
            "fieldSelector": self.rng.choice(["metadata.name=", "spec.nodeName!=a,b", "status.phase", "x=y", "a=b=c"]),
            "limit": self.rng.choice(["-1", "0", "1", "abc", "1e3", str(2**64)]),
            "continue": self.rng.choice(["garbage", "eyJ9", "", "%00"]),
            "resourceVersion": self.rng.choice(["", "0", "-1", "abc", str(2**64)]),
            "resourceVersionMatch": self.rng.choice(["NotOlderThan", "Exact", "Bogus"]),
            "timeoutSeconds": self.rng.choice(["1", "-5", "x"]),
        }
        chosen = self.rng.sample(sorted(params), self.rng.randrange(1, 4))
        query = "&".join(f"{k}={quote(params[k], safe='')}" for k in chosen)
        accept = self.rng.choice(["application/json", TABLE])
        await self.send(
            Request("GET", f"{res.collection(res.namespace())}?{query}", accept=accept), res.kind, "list query"
        )

    async def review(self, res: Resource) -> None:
        obj = self.base(res, "review")
        obj["metadata"] = {}
        mutated, what = self.mut.mutate(obj)
        await self.send(
            Request("POST", res.collection(NS) + self._params("create"), self._json(mutated), what="; ".join(what)),
            res.kind,
            "create",
        )

    async def raw(self, res: Resource, path: str) -> None:
        """Bodies that are no valid request at all, with any method and content type."""
        method = self.rng.choice(["POST", "PUT", "PATCH"])
        ctype = self.rng.choice(
            [
                *PATCH_TYPES,
                "application/json",
                "application/yaml",
                "text/plain",
                "application/vnd.kubernetes.protobuf",
                "",
                "application/json; charset=latin1",
            ]
        )
        target = res.collection(res.namespace()) if method == "POST" else path
        await self.send(
            Request(method, target, self.rng.choice(_RAW_BODIES), ctype, what="raw body"), res.kind, f"raw {method}"
        )

    # -- what each answer must leave behind -------------------------------------------------------------

    async def after_write(self, res: Resource, path: str, before: Obj, a: Answer, req: Request) -> None:
        if a.status >= 400 or "dryRun" in req.path:
            now = await self.send(Request("GET", path))
            if now.status != 200:
                raise Violation(f"the object is gone ({now.status}) after a refused {req.describe()}")
            if _content(now.body) != _content(before):
                raise Violation(
                    f"a refused write ({a.status}) changed the object: {req.describe()}\n"
                    f"    before: {_short(_content(before), 1500)}\n    after:  {_short(_content(now.body), 1500)}"
                )
            return
        await self.readback(res, a, req, path)

    async def readback(self, res: Resource, a: Answer, req: Request, path: str | None = None) -> None:
        """A stored object GETs back (also as a Table) and stores again unchanged."""
        meta = a.body.get("metadata") or {}
        if a.body.get("kind") == "Status":
            return
        if problems := meta_problems(meta):
            raise Violation(
                f"stored by {req.describe()}\n    though Kubernetes refuses its metadata: {'; '.join(problems)}"
            )
        if path is None:
            name = meta.get("name")
            if not isinstance(name, str):
                raise Violation(f"a {a.status} without metadata.name for {req.describe()}")
            path = f"{res.collection(meta.get('namespace') or None)}/{quote(name, safe='')}"
            self.created.append((res, path))
        # what may be gone by the time it is read: an object being deleted, and one whose owners do not
        # exist, which the garbage collector deletes as Kubernetes' does
        collectable = bool(meta.get("deletionTimestamp") or meta.get("ownerReferences"))
        for _ in range(5):
            got = await self.send(Request("GET", path))
            if got.status == 404 and collectable:
                return
            if got.status != 200:
                raise Violation(
                    f"stored by {req.describe()}\n    but GET {path} answered {got.status}: {got.raw[:500]!r}"
                )
            table = await self.send(Request("GET", path, accept=TABLE))
            if table.status != 200 or table.body.get("kind") != "Table":
                raise Violation(
                    f"stored by {req.describe()}\n    but its Table answered {table.status}: {table.raw[:500]!r}"
                )
            again = await self.send(Request("PUT", path, json.dumps(got.body).encode("utf-8", "surrogatepass")))
            if again.status == 409 and again.body.get("reason") == "Conflict":
                continue  # a controller wrote it meanwhile: read it again
            if again.status == 404 and collectable:
                return
            if again.status != 200:
                raise Violation(
                    f"stored by {req.describe()}\n    but PUT back unchanged answered {again.status}: {again.raw[:1500]!r}"
                    f"\n    object: {_short(got.body, 3000)}"
                )
            return

    async def check_all(self) -> None:
        """Every kind LISTs (JSON and Table) and listed objects (a sample) GET back as listed."""
        self.resources = await self.discover()
        for res in self.resources:
            if "list" not in res.verbs:
                continue
            path = res.collection(None)
            listed = await self.send(Request("GET", path), res.kind, "list")
            if listed.status == 404 and not await self.still_served(res):
                continue  # a CRD deleted meanwhile (by a case, or finishing from the last cleanup)
            if listed.status != 200 or not isinstance(listed.body.get("items"), list):
                raise Violation(f"LIST {path} answered {listed.status}: {listed.raw[:1000]!r}")
            table = await self.send(Request("GET", path, accept=TABLE), res.kind, "list table")
            if table.status == 404 and not await self.still_served(res):
                continue
            if table.status != 200 or table.body.get("kind") != "Table":
                raise Violation(f"LIST {path} as Table answered {table.status}: {table.raw[:1000]!r}")
            if res.group_version == "metrics.k8s.io/v1beta1":
                continue
            items = listed.body["items"]
            for item in self.sampler.sample(items, min(len(items), SAMPLED)):
                meta = item["metadata"]
                one = f"{res.collection(meta.get('namespace'))}/{quote(meta['name'], safe='')}"
                got = await self.send(Request("GET", one))
                if got.status == 404:
                    continue  # deleted meanwhile (cleanup of the previous batch, a controller)
                if got.status != 200:
                    raise Violation(f"GET {one} of a listed object answered {got.status}: {got.raw[:1000]!r}")
                item.setdefault("apiVersion", listed.body.get("apiVersion"))
                item.setdefault("kind", res.kind)
                if got.body["metadata"].get("resourceVersion") == meta.get("resourceVersion") and got.body != item:
                    raise Violation(
                        f"GET {one} differs from its listing:\n    {_short(got.body, 2000)}\n    {_short(item, 2000)}"
                    )
        self._check_log()

    async def still_served(self, res: Resource) -> bool:
        return any((r.group_version, r.plural) == (res.group_version, res.plural) for r in await self.discover())

    async def cleanup(self) -> None:
        created, self.created = self.created, []
        for res, path in reversed(created):
            await self.send(
                Request("DELETE", path + "?gracePeriodSeconds=0&propagationPolicy=Background"), res.kind, "delete"
            )


_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _qualified_name(key: str) -> bool:
    """Kubernetes' label and annotation key syntax: an optional DNS-subdomain prefix and a name."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return bool(name) and _LABEL_NAME.fullmatch(name) is not None


def meta_problems(meta: Obj) -> list[str]:
    """What ObjectMeta validation refuses in every kind (an oracle of its own, not pykube's rules): a
    name no URL path can hold, label keys and values and annotation keys of the wrong syntax."""
    problems = []
    name = meta.get("name")
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "%" in name:
        problems.append(f"name {_short(name)}")
    labels = meta.get("labels") or {}
    problems += [
        f"label {_short(k)}={_short(v)}"
        for k, v in labels.items()
        if not _qualified_name(k) or not _LABEL_NAME.fullmatch(v)
    ]
    problems += [f"annotation key {_short(k)}" for k in (meta.get("annotations") or {}) if not _qualified_name(k)]
    return problems


def _has_base(kind: str) -> bool:
    try:
        _spec(kind, "x", NS)
    except KeyError:
        return False
    return True


#: the spec fields controllers write on their own (the node IPAM controller a node's pod ranges, the node
#: lifecycle controller its taints), which a refused write's check cannot hold against it
_CONTROLLER_SPEC = {"Node": ("podCIDR", "podCIDRs", "taints")}


def _content(obj: Obj) -> Obj:
    """What a refused write must not change: all but status and what controllers and the server
    itself write (resourceVersion, managedFields, annotations, finalizers, a node's pod ranges)."""
    meta = {
        k: v
        for k, v in (obj.get("metadata") or {}).items()
        if k not in ("resourceVersion", "managedFields", "annotations", "finalizers")
    }
    content = {**{k: v for k, v in obj.items() if k not in ("status", "metadata")}, "metadata": meta}
    spec = content.get("spec")
    if isinstance(spec, dict) and obj.get("kind") in _CONTROLLER_SPEC:
        content["spec"] = {k: v for k, v in spec.items() if k not in _CONTROLLER_SPEC[obj["kind"]]}
    return content


def run_campaign(data_dir: Path, seed: int, cases: int) -> Report:
    """Start the real server in this process (on a thread of its own, logging to its log file) with
    ``data_dir``, run ``cases`` cases of ``seed`` against it, stop it and report."""
    server = start_in_process(data_dir)
    try:
        campaign = Campaign(server.url, server.admin_token, server.ssl_context(), server.log_path, seed)
        report = asyncio.run(campaign.run(cases))
    finally:
        server.stop()
    return report
