"""The JSON-type checks that Go's typed decoding makes in kube-apiserver, before any admission.

kube-apiserver decodes a body into Go structs, so ``"finalizers": "x"`` or ``"spec": "x"`` fail as a
400 before validation runs. pykube keeps objects as plain dicts; without this check such values
reached the defaulting and validation code (500s) or were stored and later misread (a string of
finalizers iterates as characters). The check covers ObjectMeta, which every kind and the registry's
own deletion logic rely on, the top-level fields of the served kinds, and the nested structs
(:class:`Struct`) that pykube's printers, controllers, authorizer and agent read: a wrong type there
was stored and failed every later Table listing of the kind, or a component reading it (the fuzz
campaign of tests/fuzzing.py found them). Fields nothing reads are kept as they come.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minikube_py.model import errors


class Int32(int):
    """Go's int32, as a field type: an integer that fits 32 bits (replicas, ports, counts), which Go's
    decoding refuses beyond them. Never instantiated; :func:`_is` knows it."""


_GO_TYPES = {dict: "object", list: "array", str: "string", int: "int64", Int32: "int32", bool: "bool"}


@dataclass(frozen=True)
class Struct:
    """A Go struct inside a kind: its type name (for the message) and its fields' types."""

    name: str
    fields: Fields


#: a field's JSON type and, for a list or map, its elements' (None: anything); a :class:`Struct` for an
#: object field is that object's fields, for a list field each element's
FieldType = tuple[type, "type | Struct | None"]
#: the top-level fields of a kind beyond ``spec`` and ``status``, which are objects on every kind
#: that has them; a kind's strategy names its table
Fields = Mapping[str, FieldType]


def _strings(*names: str) -> Fields:
    return dict.fromkeys(names, (str, None))


#: ObjectMeta fields: what the registry, the garbage collector and every controller read
_META: Fields = {
    **_strings("name", "generateName", "namespace"),
    "labels": (dict, str),
    "annotations": (dict, str),
    "finalizers": (list, str),
    "ownerReferences": (
        list,
        Struct(
            "OwnerReference",
            {
                **_strings("apiVersion", "kind", "name", "uid"),
                "controller": (bool, None),
                "blockOwnerDeletion": (bool, None),
            },
        ),
    ),
    "managedFields": (
        list,
        Struct(
            "ManagedFieldsEntry",
            {
                **_strings("manager", "operation", "apiVersion", "time", "fieldsType", "subresource"),
                "fieldsV1": (dict, None),
            },
        ),
    ),
}

_OBJECT_REFERENCE = Struct(
    "ObjectReference", _strings("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
)
_ENDPOINT_ADDRESS = Struct(
    "EndpointAddress", {**_strings("ip", "hostname", "nodeName"), "targetRef": (dict, _OBJECT_REFERENCE)}
)
_ENDPOINT_PORT: Fields = {**_strings("name", "protocol", "appProtocol"), "port": (Int32, None)}

CONFIG_MAP: Fields = {"data": (dict, str), "binaryData": (dict, str)}
SECRET: Fields = {"data": (dict, str), "stringData": (dict, str), "type": (str, None)}
# the fields the Table printers, the endpoint controllers and the service proxy read
ENDPOINTS: Fields = {
    "subsets": (
        list,
        Struct(
            "EndpointSubset",
            {
                "addresses": (list, _ENDPOINT_ADDRESS),
                "notReadyAddresses": (list, _ENDPOINT_ADDRESS),
                "ports": (list, Struct("EndpointPort", _ENDPOINT_PORT)),
            },
        ),
    )
}
ENDPOINT_SLICE: Fields = {
    "endpoints": (
        list,
        Struct(
            "Endpoint",
            {
                **_strings("hostname", "nodeName", "zone"),
                "addresses": (list, str),
                "conditions": (
                    dict,
                    Struct("EndpointConditions", dict.fromkeys(("ready", "serving", "terminating"), (bool, None))),
                ),
                "targetRef": (dict, _OBJECT_REFERENCE),
            },
        ),
    ),
    "ports": (list, Struct("EndpointPort", _ENDPOINT_PORT)),
    "addressType": (str, None),
}
_LABEL_SELECTOR = Struct(
    "LabelSelector",
    {
        "matchLabels": (dict, str),
        "matchExpressions": (
            list,
            Struct("LabelSelectorRequirement", {**_strings("key", "operator"), "values": (list, str)}),
        ),
    },
)
_CONTAINER = Struct(
    "Container",
    {
        **_strings("name", "image", "imagePullPolicy", "workingDir", "terminationMessagePath"),
        "command": (list, str),
        "args": (list, str),
        "ports": (
            list,
            Struct(
                "ContainerPort",
                {**_strings("name", "protocol", "hostIP"), "containerPort": (Int32, None), "hostPort": (Int32, None)},
            ),
        ),
        "env": (list, Struct("EnvVar", {**_strings("name", "value"), "valueFrom": (dict, None)})),
        "resources": (dict, Struct("ResourceRequirements", {"limits": (dict, None), "requests": (dict, None)})),
        "volumeMounts": (
            list,
            Struct("VolumeMount", {**_strings("name", "mountPath", "subPath"), "readOnly": (bool, None)}),
        ),
    },
)
_TOLERATION = Struct("Toleration", {**_strings("key", "operator", "value", "effect"), "tolerationSeconds": (int, None)})
_POD_SPEC = Struct(
    "PodSpec",
    {
        **_strings(
            "nodeName",
            "restartPolicy",
            "schedulerName",
            "serviceAccountName",
            "serviceAccount",
            "hostname",
            "subdomain",
            "priorityClassName",
            "runtimeClassName",
            "dnsPolicy",
        ),
        "containers": (list, _CONTAINER),
        "initContainers": (list, _CONTAINER),
        "ephemeralContainers": (list, _CONTAINER),
        "volumes": (list, Struct("Volume", _strings("name"))),
        "nodeSelector": (dict, str),
        "tolerations": (list, _TOLERATION),
        "overhead": (dict, None),
        "hostNetwork": (bool, None),
        "priority": (Int32, None),
        "terminationGracePeriodSeconds": (int, None),
        "activeDeadlineSeconds": (int, None),
    },
)
_TEMPLATE = Struct("PodTemplateSpec", {"metadata": (dict, Struct("ObjectMeta", _META)), "spec": (dict, _POD_SPEC)})
POD_TEMPLATE: Fields = {"template": (dict, _TEMPLATE)}
_REPLICAS: Fields = {"replicas": (Int32, None), "minReadySeconds": (Int32, None), "template": (dict, _TEMPLATE)}
# the pod specs and templates the Table printers, the scheduler, the workload controllers and the
# agent read (a container's name or image of the wrong type was stored, and every Table listing of
# its kind answered 500)
_CONTAINER_STATUS = Struct(
    "ContainerStatus",
    {
        **_strings("name", "image", "imageID", "containerID"),
        "ready": (bool, None),
        "started": (bool, None),
        "restartCount": (Int32, None),
        "state": (dict, None),
        "lastState": (dict, None),
    },
)
# a pod's status is written through its status subresource by agents and by anyone allowed to; the
# Table printer, the endpoint controllers and the disruption controller read these fields
_POD_STATUS = Struct(
    "PodStatus",
    {
        **_strings("phase", "reason", "message", "podIP", "hostIP", "qosClass", "startTime", "nominatedNodeName"),
        "conditions": (
            list,
            Struct(
                "PodCondition", _strings("type", "status", "reason", "message", "lastProbeTime", "lastTransitionTime")
            ),
        ),
        "podIPs": (list, Struct("PodIP", _strings("ip"))),
        "hostIPs": (list, Struct("HostIP", _strings("ip"))),
        "containerStatuses": (list, _CONTAINER_STATUS),
        "initContainerStatuses": (list, _CONTAINER_STATUS),
        "ephemeralContainerStatuses": (list, _CONTAINER_STATUS),
    },
)
POD: Fields = {"spec": (dict, _POD_SPEC), "status": (dict, _POD_STATUS)}
REPLICATION_CONTROLLER: Fields = {
    "spec": (dict, Struct("ReplicationControllerSpec", {**_REPLICAS, "selector": (dict, str)}))
}
DEPLOYMENT: Fields = {"spec": (dict, Struct("DeploymentSpec", {**_REPLICAS, "selector": (dict, _LABEL_SELECTOR)}))}
REPLICA_SET: Fields = {"spec": (dict, Struct("ReplicaSetSpec", {**_REPLICAS, "selector": (dict, _LABEL_SELECTOR)}))}
STATEFUL_SET: Fields = {
    "spec": (
        dict,
        Struct("StatefulSetSpec", {**_REPLICAS, "selector": (dict, _LABEL_SELECTOR), "serviceName": (str, None)}),
    )
}
DAEMON_SET: Fields = {
    "spec": (dict, Struct("DaemonSetSpec", {"template": (dict, _TEMPLATE), "selector": (dict, _LABEL_SELECTOR)}))
}
_JOB_SPEC = Struct(
    "JobSpec",
    {
        "template": (dict, _TEMPLATE),
        "selector": (dict, _LABEL_SELECTOR),
        **dict.fromkeys(("parallelism", "completions", "backoffLimit"), (Int32, None)),
        "activeDeadlineSeconds": (int, None),
    },
)
JOB: Fields = {"spec": (dict, _JOB_SPEC)}
CRON_JOB: Fields = {
    "spec": (
        dict,
        Struct(
            "CronJobSpec",
            {
                **_strings("schedule", "timeZone", "concurrencyPolicy"),
                "suspend": (bool, None),
                "jobTemplate": (
                    dict,
                    Struct(
                        "JobTemplateSpec", {"metadata": (dict, Struct("ObjectMeta", _META)), "spec": (dict, _JOB_SPEC)}
                    ),
                ),
            },
        ),
    )
}
_LOAD_BALANCER = Struct(
    "LoadBalancerStatus",
    {"ingress": (list, Struct("LoadBalancerIngress", {**_strings("ip", "hostname", "ipMode"), "ports": (list, dict)}))},
)
_SERVICE_PORT = Struct(
    "ServicePort", {**_strings("name", "protocol", "appProtocol"), "port": (Int32, None), "nodePort": (Int32, None)}
)
# what the Service and Ingress printers, the service proxy and the ingress controller read
SERVICE: Fields = {
    "spec": (
        dict,
        Struct(
            "ServiceSpec",
            {
                **_strings("type", "clusterIP", "externalName", "sessionAffinity", "externalTrafficPolicy"),
                "ports": (list, _SERVICE_PORT),
                "selector": (dict, str),
                "clusterIPs": (list, str),
                "externalIPs": (list, str),
            },
        ),
    ),
    "status": (dict, Struct("ServiceStatus", {"loadBalancer": (dict, _LOAD_BALANCER)})),
}
# what the quota controller and admission, and the LimitRanger, read (quantities: strings or numbers)
RESOURCE_QUOTA: Fields = {
    "spec": (
        dict,
        Struct(
            "ResourceQuotaSpec",
            {
                "hard": (dict, None),
                "scopes": (list, str),
                "scopeSelector": (
                    dict,
                    Struct(
                        "ScopeSelector",
                        {
                            "matchExpressions": (
                                list,
                                Struct(
                                    "ScopedResourceSelectorRequirement",
                                    {**_strings("scopeName", "operator"), "values": (list, str)},
                                ),
                            )
                        },
                    ),
                ),
            },
        ),
    ),
    "status": (dict, Struct("ResourceQuotaStatus", {"hard": (dict, None), "used": (dict, None)})),
}
LIMIT_RANGE: Fields = {
    "spec": (
        dict,
        Struct(
            "LimitRangeSpec",
            {
                "limits": (
                    list,
                    Struct(
                        "LimitRangeItem",
                        {
                            "type": (str, None),
                            **dict.fromkeys(
                                ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"), (dict, None)
                            ),
                        },
                    ),
                )
            },
        ),
    )
}
# what the webhook dispatcher reads of a Mutating- or ValidatingWebhookConfiguration
WEBHOOK_CONFIGURATION: Fields = {
    "webhooks": (
        list,
        Struct(
            "Webhook",
            {
                **_strings("name", "failurePolicy", "matchPolicy", "sideEffects", "reinvocationPolicy"),
                "clientConfig": (
                    dict,
                    Struct(
                        "WebhookClientConfig",
                        {
                            **_strings("url", "caBundle"),
                            "service": (
                                dict,
                                Struct(
                                    "ServiceReference", {**_strings("namespace", "name", "path"), "port": (Int32, None)}
                                ),
                            ),
                        },
                    ),
                ),
                "rules": (
                    list,
                    Struct(
                        "RuleWithOperations",
                        {
                            **dict.fromkeys(("operations", "apiGroups", "apiVersions", "resources"), (list, str)),
                            "scope": (str, None),
                        },
                    ),
                ),
                "admissionReviewVersions": (list, str),
                "timeoutSeconds": (Int32, None),
                "namespaceSelector": (dict, _LABEL_SELECTOR),
                "objectSelector": (dict, _LABEL_SELECTOR),
            },
        ),
    )
}
_NETWORK_POLICY_PEER = Struct(
    "NetworkPolicyPeer",
    {
        "podSelector": (dict, _LABEL_SELECTOR),
        "namespaceSelector": (dict, _LABEL_SELECTOR),
        "ipBlock": (dict, Struct("IPBlock", {"cidr": (str, None), "except": (list, str)})),
    },
)
_NETWORK_POLICY_PORTS = (list, Struct("NetworkPolicyPort", {"protocol": (str, None), "endPort": (Int32, None)}))
# what the network policy controller compiles (``port`` is an int or a name: either decodes)
NETWORK_POLICY: Fields = {
    "spec": (
        dict,
        Struct(
            "NetworkPolicySpec",
            {
                "podSelector": (dict, _LABEL_SELECTOR),
                "policyTypes": (list, str),
                "ingress": (
                    list,
                    Struct(
                        "NetworkPolicyIngressRule",
                        {"ports": _NETWORK_POLICY_PORTS, "from": (list, _NETWORK_POLICY_PEER)},
                    ),
                ),
                "egress": (
                    list,
                    Struct(
                        "NetworkPolicyEgressRule", {"ports": _NETWORK_POLICY_PORTS, "to": (list, _NETWORK_POLICY_PEER)}
                    ),
                ),
            },
        ),
    )
}
_INGRESS_BACKEND = Struct(
    "IngressBackend",
    {
        "service": (
            dict,
            Struct(
                "IngressServiceBackend",
                {
                    "name": (str, None),
                    "port": (dict, Struct("ServiceBackendPort", {"name": (str, None), "number": (Int32, None)})),
                },
            ),
        ),
        "resource": (dict, Struct("TypedLocalObjectReference", _strings("apiGroup", "kind", "name"))),
    },
)
INGRESS: Fields = {
    "spec": (
        dict,
        Struct(
            "IngressSpec",
            {
                "ingressClassName": (str, None),
                "defaultBackend": (dict, _INGRESS_BACKEND),
                "tls": (list, Struct("IngressTLS", {"hosts": (list, str), "secretName": (str, None)})),
                "rules": (
                    list,
                    Struct(
                        "IngressRule",
                        {
                            "host": (str, None),
                            "http": (
                                dict,
                                Struct(
                                    "HTTPIngressRuleValue",
                                    {
                                        "paths": (
                                            list,
                                            Struct(
                                                "HTTPIngressPath",
                                                {**_strings("path", "pathType"), "backend": (dict, _INGRESS_BACKEND)},
                                            ),
                                        )
                                    },
                                ),
                            ),
                        },
                    ),
                ),
            },
        ),
    ),
    "status": (dict, Struct("IngressStatus", {"loadBalancer": (dict, _LOAD_BALANCER)})),
}
# a CRD's status is written through its status subresource; the definitions follower and the
# establishing controller read it
CUSTOM_RESOURCE_DEFINITION: Fields = {
    "status": (
        dict,
        Struct(
            "CustomResourceDefinitionStatus",
            {
                "storedVersions": (list, str),
                "conditions": (
                    list,
                    Struct(
                        "CustomResourceDefinitionCondition",
                        _strings("type", "status", "reason", "message", "lastTransitionTime"),
                    ),
                ),
                "acceptedNames": (
                    dict,
                    Struct(
                        "CustomResourceDefinitionNames",
                        {
                            **_strings("plural", "singular", "kind", "listKind"),
                            "shortNames": (list, str),
                            "categories": (list, str),
                        },
                    ),
                ),
            },
        ),
    )
}
CONTROLLER_REVISION: Fields = {"revision": (int, None)}
# what the RBAC authorizer indexes: a subject or rule of the wrong type stopped its policy from
# following the store (every later RBAC write waited 10 s, and grants went stale)
ROLE: Fields = {
    "rules": (
        list,
        Struct(
            "PolicyRule",
            dict.fromkeys(("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"), (list, str)),
        ),
    ),
    "aggregationRule": (dict, Struct("AggregationRule", {"clusterRoleSelectors": (list, dict)})),
}
BINDING: Fields = {
    "subjects": (list, Struct("Subject", _strings("kind", "apiGroup", "name", "namespace"))),
    "roleRef": (dict, Struct("RoleRef", _strings("apiGroup", "kind", "name"))),
}
EVENT: Fields = {
    **_strings(
        "reason",
        "message",
        "type",
        "action",
        "reportingComponent",
        "reportingInstance",
        "firstTimestamp",
        "lastTimestamp",
        "eventTime",
    ),
    "count": (Int32, None),
    "series": (dict, Struct("EventSeries", {"count": (Int32, None), "lastObservedTime": (str, None)})),
    "involvedObject": (dict, _OBJECT_REFERENCE),
    "related": (dict, _OBJECT_REFERENCE),
    "source": (dict, Struct("EventSource", _strings("component", "host"))),
}
STORAGE_CLASS: Fields = {
    "provisioner": (str, None),
    "parameters": (dict, str),
    "reclaimPolicy": (str, None),
    "mountOptions": (list, str),
    "volumeBindingMode": (str, None),
    "allowedTopologies": (list, dict),
}
_BOOLS = ("attachRequired", "podInfoOnMount", "storageCapacity", "requiresRepublish", "seLinuxMount")
CSI_DRIVER: Fields = {
    "spec": (
        dict,
        Struct(
            "CSIDriverSpec",
            {
                **dict.fromkeys(_BOOLS, (bool, None)),
                "fsGroupPolicy": (str, None),
                "volumeLifecycleModes": (list, str),
                "tokenRequests": (
                    list,
                    Struct("TokenRequest", {"audience": (str, None), "expirationSeconds": (int, None)}),
                ),
            },
        ),
    )
}
CSI_NODE: Fields = {
    "spec": (
        dict,
        Struct(
            "CSINodeSpec",
            {
                "drivers": (
                    list,
                    Struct(
                        "CSINodeDriver",
                        {
                            **_strings("name", "nodeID"),
                            "topologyKeys": (list, str),
                            "allocatable": (dict, Struct("VolumeNodeResources", {"count": (Int32, None)})),
                        },
                    ),
                )
            },
        ),
    )
}
VOLUME_ATTACHMENT: Fields = {
    "spec": (
        dict,
        Struct(
            "VolumeAttachmentSpec",
            {
                **_strings("attacher", "nodeName"),
                "source": (
                    dict,
                    Struct(
                        "VolumeAttachmentSource",
                        {"persistentVolumeName": (str, None), "inlineVolumeSpec": (dict, None)},
                    ),
                ),
            },
        ),
    ),
    "status": (
        dict,
        Struct(
            "VolumeAttachmentStatus",
            {
                "attached": (bool, None),
                "attachmentMetadata": (dict, str),
                "attachError": (dict, Struct("VolumeError", {"message": (str, None), "time": (str, None)})),
                "detachError": (dict, Struct("VolumeError", {"message": (str, None), "time": (str, None)})),
            },
        ),
    ),
}
STORAGE_CAPACITY: Fields = {"storageClassName": (str, None), "nodeTopology": (dict, None)}
CERTIFICATE_SIGNING_REQUEST: Fields = {
    "spec": (
        dict,
        Struct(
            "CertificateSigningRequestSpec",
            {
                **_strings("request", "signerName", "username", "uid"),
                "expirationSeconds": (Int32, None),
                "usages": (list, str),
                "groups": (list, str),
                "extra": (dict, None),
            },
        ),
    ),
    "status": (
        dict,
        Struct(
            "CertificateSigningRequestStatus",
            {
                "conditions": (
                    list,
                    Struct(
                        "CertificateSigningRequestCondition",
                        _strings("type", "status", "reason", "message", "lastUpdateTime", "lastTransitionTime"),
                    ),
                ),
                "certificate": (str, None),
            },
        ),
    ),
}
API_SERVICE: Fields = {
    "spec": (
        dict,
        Struct(
            "APIServiceSpec",
            {
                "service": (dict, Struct("ServiceReference", {**_strings("namespace", "name"), "port": (Int32, None)})),
                **_strings("group", "version", "caBundle"),
                "insecureSkipTLSVerify": (bool, None),
                "groupPriorityMinimum": (Int32, None),
                "versionPriority": (Int32, None),
            },
        ),
    ),
    "status": (
        dict,
        Struct(
            "APIServiceStatus",
            {
                "conditions": (
                    list,
                    Struct(
                        "APIServiceCondition", _strings("type", "status", "reason", "message", "lastTransitionTime")
                    ),
                )
            },
        ),
    ),
}
RUNTIME_CLASS: Fields = {
    "handler": (str, None),
    "overhead": (dict, Struct("Overhead", {"podFixed": (dict, None)})),
    "scheduling": (dict, Struct("Scheduling", {"nodeSelector": (dict, str), "tolerations": (list, _TOLERATION)})),
}
PRIORITY_CLASS: Fields = {
    "value": (Int32, None),
    "globalDefault": (bool, None),
    **_strings("description", "preemptionPolicy"),
}


def _flow_control_status(kind: str) -> FieldType:
    """A flow-control object's status: conditions, as the flow controller writes them."""
    condition = Struct(f"{kind}Condition", _strings("type", "status", "reason", "message", "lastTransitionTime"))
    return (dict, Struct(f"{kind}Status", {"conditions": (list, condition)}))


_NAMED = Struct("Named", _strings("name"))
_POLICY_RULE = {"verbs": (list, str)}
FLOW_SCHEMA: Fields = {
    "spec": (
        dict,
        Struct(
            "FlowSchemaSpec",
            {
                "priorityLevelConfiguration": (dict, _NAMED),
                "matchingPrecedence": (Int32, None),
                "distinguisherMethod": (dict, Struct("FlowDistinguisherMethod", _strings("type"))),
                "rules": (
                    list,
                    Struct(
                        "PolicyRulesWithSubjects",
                        {
                            "subjects": (
                                list,
                                Struct(
                                    "Subject",
                                    {
                                        "kind": (str, None),
                                        "user": (dict, _NAMED),
                                        "group": (dict, _NAMED),
                                        "serviceAccount": (
                                            dict,
                                            Struct("ServiceAccountSubject", _strings("namespace", "name")),
                                        ),
                                    },
                                ),
                            ),
                            "resourceRules": (
                                list,
                                Struct(
                                    "ResourcePolicyRule",
                                    {
                                        **_POLICY_RULE,
                                        "apiGroups": (list, str),
                                        "resources": (list, str),
                                        "clusterScope": (bool, None),
                                        "namespaces": (list, str),
                                    },
                                ),
                            ),
                            "nonResourceRules": (
                                list,
                                Struct("NonResourcePolicyRule", {**_POLICY_RULE, "nonResourceURLs": (list, str)}),
                            ),
                        },
                    ),
                ),
            },
        ),
    ),
    "status": _flow_control_status("FlowSchema"),
}
_SHARES = {"nominalConcurrencyShares": (Int32, None), "lendablePercent": (Int32, None)}
PRIORITY_LEVEL: Fields = {
    "spec": (
        dict,
        Struct(
            "PriorityLevelConfigurationSpec",
            {
                "type": (str, None),
                "limited": (
                    dict,
                    Struct(
                        "LimitedPriorityLevelConfiguration",
                        {
                            **_SHARES,
                            "borrowingLimitPercent": (Int32, None),
                            "limitResponse": (
                                dict,
                                Struct(
                                    "LimitResponse",
                                    {
                                        "type": (str, None),
                                        "queuing": (
                                            dict,
                                            Struct(
                                                "QueuingConfiguration",
                                                dict.fromkeys(
                                                    ("queues", "handSize", "queueLengthLimit"), (Int32, None)
                                                ),
                                            ),
                                        ),
                                    },
                                ),
                            ),
                        },
                    ),
                ),
                "exempt": (dict, Struct("ExemptPriorityLevelConfiguration", _SHARES)),
            },
        ),
    ),
    "status": _flow_control_status("PriorityLevelConfiguration"),
}
#: the bodies of a pod's ``binding`` and ``eviction`` subresources: a Binding's target becomes the
#: pod's nodeName, an Eviction's metadata and options are read before anything is decided
BINDING_REQUEST: Fields = {"metadata": (dict, None), "target": (dict, _OBJECT_REFERENCE)}
#: the body of a DELETE (and an Eviction's deleteOptions)
DELETE_OPTIONS: Fields = {
    "gracePeriodSeconds": (int, None),
    "propagationPolicy": (str, None),
    "orphanDependents": (bool, None),
    "dryRun": (list, str),
    "preconditions": (dict, Struct("Preconditions", _strings("uid", "resourceVersion"))),
}
EVICTION: Fields = {"metadata": (dict, None), "deleteOptions": (dict, Struct("DeleteOptions", DELETE_OPTIONS))}
#: autoscaling/v1 Scale, the body of a scale subresource's PUT
SCALE: Fields = {
    "spec": (dict, Struct("ScaleSpec", {"replicas": (Int32, None)})),
    "status": (dict, Struct("ScaleStatus", {"replicas": (Int32, None), "selector": (str, None)})),
}
_ATTRIBUTES: Fields = {
    "resourceAttributes": (
        dict,
        Struct(
            "ResourceAttributes", _strings("namespace", "verb", "group", "version", "resource", "subresource", "name")
        ),
    ),
    "nonResourceAttributes": (dict, Struct("NonResourceAttributes", _strings("path", "verb"))),
}
_SUBJECT_ACCESS: Fields = {
    "spec": (
        dict,
        Struct(
            "SubjectAccessReviewSpec",
            {**_ATTRIBUTES, **_strings("user", "uid"), "groups": (list, str), "extra": (dict, list)},
        ),
    )
}
#: the reviews' specs (they are answered, not stored, so they have no strategy): a user, group or
#: attribute of the wrong type answered 500 or reached the authorizer's index as a list
REVIEWS: Mapping[str, Fields] = {
    "SubjectAccessReview": _SUBJECT_ACCESS,
    "LocalSubjectAccessReview": _SUBJECT_ACCESS,
    "SelfSubjectAccessReview": {"spec": (dict, Struct("SelfSubjectAccessReviewSpec", _ATTRIBUTES))},
    "SelfSubjectRulesReview": {"spec": (dict, Struct("SelfSubjectRulesReviewSpec", _strings("namespace")))},
    "SelfSubjectReview": {},
    "TokenReview": {"spec": (dict, Struct("TokenReviewSpec", {"token": (str, None), "audiences": (list, str)}))},
}
_EVERY_KIND: Fields = {"spec": (dict, None), "status": (dict, None)}


def check_shape(kind: str, obj: dict[str, Any]) -> None:
    """:func:`check_object` by the strategy of the kind named ``kind``."""
    # imported here: the strategies are made of this module's tables
    from minikube_py.api.strategies import strategy_named

    strategy_named(kind).check_shape(obj)


def check_object(obj: dict[str, Any], kind: str, top: Fields) -> None:
    """Raise 400 BadRequest when a field of ``obj`` (of ``kind``, whose top-level fields are ``top``)
    has the wrong JSON type (null counts as absent)."""
    _check_fields(obj, {**_EVERY_KIND, **top}, kind, "")
    md = obj.get("metadata")
    if isinstance(md, dict):
        _check_fields(md, _META, "ObjectMeta", "metadata.")


def _check_fields(obj: dict[str, Any], table: Fields, owner: str, prefix: str) -> None:
    for name, (outer, inner) in table.items():
        value = obj.get(name)
        if value is None:
            continue
        if not _is(value, outer):
            _fail(value, owner, prefix + name, outer)
        if isinstance(inner, Struct):
            # a struct's fields, or each element's of a list of them (a null element too is no struct:
            # the code reading the list would trip on it)
            for item in [value] if outer is dict else value:
                if not isinstance(item, dict):
                    _fail(item, owner, f"{prefix}{name}", dict, element=True)
                _check_fields(item, inner.fields, inner.name, f"{prefix}{name}.")
        elif inner is not None:
            items = value.values() if isinstance(value, dict) else value
            for item in items:
                if not _is(item, inner):
                    _fail(item, owner, f"{prefix}{name}", inner, element=True)


def _is(value: Any, wanted: type) -> bool:
    """JSON's types as Go decodes them: true is no number, and an int32 fits 32 bits."""
    if wanted is Int32:
        return _is(value, int) and -(2**31) <= value < 2**31
    return isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))


def _fail(value: Any, owner: str, field: str, wanted: type, *, element: bool = False) -> None:
    got = (
        f"number {value}"
        if wanted is Int32 and _is(value, int)
        else "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else ("bool" if isinstance(value, bool) else _GO_TYPES.get(type(value), "null"))
    )
    what = f"elements of type {_GO_TYPES[wanted]}" if element else f"type {_GO_TYPES[wanted]}"
    raise errors.bad_request(f"json: cannot unmarshal {got} into Go struct field {owner}.{field} of {what}")
