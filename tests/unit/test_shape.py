"""JSON-type checks of request bodies (minikube_py.api.shape)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.shape import REVIEWS, check_object, check_shape
from minikube_py.model.errors import StatusError


def test_well_typed_objects_and_nulls_pass() -> None:
    check_shape(
        "Pod",
        {
            "metadata": {"name": "p", "labels": {"a": "b"}, "finalizers": ["x/y"], "annotations": None},
            "spec": {"containers": []},
            "status": None,
        },
    )
    check_shape("ConfigMap", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    check_shape(
        "Endpoints",
        {"subsets": [{"addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod"}}], "ports": [{"port": 80}]}]},
    )
    check_shape("Event", {"involvedObject": {"kind": "Pod", "name": "p"}, "count": 2, "source": None})
    check_shape("ReplicaSet", {"spec": {"replicas": 2**31 - 1, "minReadySeconds": -(2**31)}})
    check_shape("Pod", {"spec": {"terminationGracePeriodSeconds": 2**40}})  # an int64


@pytest.mark.parametrize(
    ("kind", "obj", "words"),
    [
        ("Pod", {"metadata": {"finalizers": "x"}}, "ObjectMeta.metadata.finalizers of type array"),
        ("Pod", {"metadata": {"labels": {"a": 1}}}, "cannot unmarshal number"),
        ("Pod", {"metadata": {"labels": {"a": True}}}, "cannot unmarshal bool"),
        ("Pod", {"spec": []}, "Pod.spec of type object"),
        ("ConfigMap", {"data": {"k": ["v"]}}, "ConfigMap.data of elements of type string"),
        ("Endpoints", {"subsets": {}}, "Endpoints.subsets of type array"),
        # nested structs the Table printers and the endpoint controllers read (a listing of the kind
        # answered 500 once such an object was stored)
        (
            "Event",
            {"involvedObject": {"kind": ["Pod"]}},
            "cannot unmarshal array into Go struct field ObjectReference.involvedObject.kind of type string",
        ),
        ("Event", {"count": True}, "cannot unmarshal bool into Go struct field Event.count of type int32"),
        ("Event", {"source": {"host": 1}}, "Go struct field EventSource.source.host of type string"),
        (
            "Endpoints",
            {"subsets": [{"addresses": ["10.0.0.1"]}]},
            "cannot unmarshal string into Go struct field EndpointSubset.subsets.addresses of elements of type object",
        ),
        ("Endpoints", {"subsets": [None]}, "cannot unmarshal null into Go struct field Endpoints.subsets"),
        ("Endpoints", {"subsets": [{"ports": [{"port": "80"}]}]}, "EndpointPort.subsets.ports.port of type int32"),
        (
            "EndpointSlice",
            {"endpoints": [{"addresses": [1]}]},
            "Endpoint.endpoints.addresses of elements of type string",
        ),
        (
            "EndpointSlice",
            {"endpoints": [{"conditions": {"ready": "yes"}}]},
            "EndpointConditions.endpoints.conditions.ready of type bool",
        ),
        ("ControllerRevision", {"revision": False}, "ControllerRevision.revision of type int64"),
        # what the RBAC authorizer indexes: a list as a subject's name stopped its policy following the store
        (
            "RoleBinding",
            {"subjects": [{"kind": "User", "name": ["a"]}]},
            "Go struct field Subject.subjects.name of type string",
        ),
        ("ClusterRoleBinding", {"roleRef": {"name": 1}}, "Go struct field RoleRef.roleRef.name of type string"),
        ("Role", {"rules": [{"verbs": "get"}]}, "Go struct field PolicyRule.rules.verbs of type array"),
        ("ClusterRole", {"rules": [{"resources": [{}]}]}, "PolicyRule.rules.resources of elements of type string"),
        # the pod specs and templates the printers, the scheduler, the controllers and the agent read
        (
            "Pod",
            {"spec": {"containers": [{"name": "c", "image": 7}]}},
            "cannot unmarshal number into Go struct field Container.spec.containers.image of type string",
        ),
        (
            "Pod",
            {"spec": {"containers": [{"ports": [{"containerPort": "80"}]}]}},
            "ContainerPort.spec.containers.ports.containerPort of type int32",
        ),
        (
            "Deployment",
            {"spec": {"template": {"spec": {"initContainers": [{"name": ["c"]}]}}}},
            "Container.spec.template.spec.initContainers.name of type string",
        ),
        (
            "ReplicaSet",
            {"spec": {"selector": {"matchLabels": {"a": 1}}}},
            "LabelSelector.spec.selector.matchLabels of elements of type string",
        ),
        (
            "StatefulSet",
            {"spec": {"template": {"metadata": {"labels": []}}}},
            "ObjectMeta.spec.template.metadata.labels of type object",
        ),
        (
            "ReplicationController",
            {"spec": {"selector": {"a": None, "b": 2}}},
            "ReplicationControllerSpec.spec.selector of elements",
        ),
        (
            "Job",
            {"spec": {"completions": 1.5}},
            "cannot unmarshal number into Go struct field JobSpec.spec.completions of type int32",
        ),
        (
            "CronJob",
            {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [None]}}}}}},
            "cannot unmarshal null into Go struct field PodSpec.spec.jobTemplate.spec.template.spec.containers",
        ),
        (
            "DaemonSet",
            {"spec": {"template": {"spec": {"nodeSelector": {"k": True}}}}},
            "PodSpec.spec.template.spec.nodeSelector",
        ),
        (
            "Pod",
            {"status": {"phase": {"a": 1}}},
            "cannot unmarshal object into Go struct field PodStatus.status.phase of type string",
        ),
        (
            "Pod",
            {"status": {"containerStatuses": [{"name": "c", "restartCount": "1"}]}},
            "ContainerStatus.status.containerStatuses.restartCount of type int32",
        ),
        (
            "Ingress",
            {"spec": {"rules": [["host"]]}},
            "cannot unmarshal array into Go struct field IngressSpec.spec.rules",
        ),
        (
            "Ingress",
            {"spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": "80"}}}}},
            "ServiceBackendPort.spec.defaultBackend.service.port.number of type int32",
        ),
        (
            "Ingress",
            {"status": {"loadBalancer": {"ingress": [{"ip": 1}]}}},
            "LoadBalancerIngress.status.loadBalancer.ingress.ip",
        ),
        ("Service", {"spec": {"ports": [{"port": "80"}]}}, "ServicePort.spec.ports.port of type int32"),
        ("Service", {"spec": {"externalIPs": [1]}}, "ServiceSpec.spec.externalIPs of elements of type string"),
        (
            "CustomResourceDefinition",
            {"status": {"storedVersions": [None]}},
            "CustomResourceDefinitionStatus.status.storedVersions of elements of type string",
        ),
        # int32 fields past 32 bits: a ReplicaSet of 2**63 replicas was stored, and its controller set
        # out to make them
        (
            "ReplicaSet",
            {"spec": {"replicas": 2**31}},
            "json: cannot unmarshal number 2147483648 into Go struct field ReplicaSetSpec.spec.replicas of type int32",
        ),
        ("Deployment", {"spec": {"replicas": -(2**31) - 1}}, "cannot unmarshal number -2147483649 into"),
        ("Service", {"spec": {"ports": [{"port": 2**63}]}}, "ServicePort.spec.ports.port of type int32"),
        ("Job", {"spec": {"completions": 2**40}}, "JobSpec.spec.completions of type int32"),
        # what the garbage collector reads of every object
        (
            "ConfigMap",
            {"metadata": {"ownerReferences": [{"uid": ["u"]}]}},
            "Go struct field OwnerReference.metadata.ownerReferences.uid of type string",
        ),
        (
            "Pod",
            {"metadata": {"ownerReferences": [{"controller": "true"}]}},
            "OwnerReference.metadata.ownerReferences.controller of type bool",
        ),
        (
            "Pod",
            {"metadata": {"managedFields": [{"manager": {}}]}},
            "ManagedFieldsEntry.metadata.managedFields.manager of type string",
        ),
    ],
)
def test_wrong_types_are_bad_requests(kind: str, obj: dict[str, Any], words: str) -> None:
    with pytest.raises(StatusError) as exc:
        check_shape(kind, obj)
    assert exc.value.code == 400 and exc.value.reason == "BadRequest"
    assert words in exc.value.message


@pytest.mark.parametrize(
    ("kind", "spec", "words"),
    [
        ("SubjectAccessReview", {"groups": [["g"]]}, "SubjectAccessReviewSpec.spec.groups of elements of type string"),
        ("SubjectAccessReview", {"user": 1}, "SubjectAccessReviewSpec.spec.user of type string"),
        (
            "SelfSubjectAccessReview",
            {"resourceAttributes": {"verb": ["get"]}},
            "ResourceAttributes.spec.resourceAttributes.verb of type string",
        ),
        ("SelfSubjectRulesReview", {"namespace": {}}, "SelfSubjectRulesReviewSpec.spec.namespace of type string"),
    ],
)
def test_reviews_with_wrong_types_are_bad_requests(kind: str, spec: Any, words: str) -> None:
    """They answered 500 (or put a list into the authorizer's subject index) before."""
    with pytest.raises(StatusError) as exc:
        check_object({"spec": spec}, kind, REVIEWS[kind])
    assert exc.value.code == 400 and words in exc.value.message
