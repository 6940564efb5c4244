"""Which kinds have which sort of rule in the kind table, pinned, so that a rule dropped from the
table (or a kind's row lost) fails here instead of going unnoticed."""

from __future__ import annotations

import pytest

from minikube_py.model import fields, validation
from minikube_py.model.kindrules import KindRules, rules_of
from minikube_py.model.kinds import RESOURCES

GENERIC = KindRules("Generic")
SERVED = [rt.kind for rt in RESOURCES]


def test_every_served_kind_but_two_has_checks() -> None:
    assert sorted(k for k in SERVED if rules_of(k).checks is GENERIC.checks) == ["Namespace", "ServiceAccount"]


@pytest.mark.parametrize(
    ("rule", "kinds"),
    [
        (
            "update_checks",
            "CSIDriver CSINode CSIStorageCapacity ClusterRoleBinding ConfigMap ControllerRevision CustomResourceDefinition "
            "DaemonSet Deployment IngressClass Job PersistentVolume PersistentVolumeClaim Pod PriorityClass ReplicaSet "
            "RoleBinding RuntimeClass Secret Service StatefulSet StorageClass VolumeAttachment",
        ),
        (
            "defaults",
            "APIService CSIDriver CronJob CustomResourceDefinition DaemonSet Deployment EndpointSlice Endpoints FlowSchema "
            "HorizontalPodAutoscaler Job LimitRange MutatingWebhookConfiguration Namespace NetworkPolicy "
            "PersistentVolume PersistentVolumeClaim Pod PodTemplate PriorityClass PriorityLevelConfiguration ReplicaSet "
            "ReplicationController Secret Service "
            "StatefulSet StorageClass ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding ValidatingWebhookConfiguration",
        ),
        ("fields", "CertificateSigningRequest Event Job Namespace Node Pod ReplicaSet ReplicationController Secret"),
    ],
)
def test_the_kinds_with_a_rule_of_each_sort(rule: str, kinds: str) -> None:
    assert sorted(k for k in SERVED if getattr(rules_of(k), rule) is not getattr(GENERIC, rule)) == kinds.split()


def test_a_declared_rule_wins_over_the_conventional_one() -> None:
    # a Deployment's own validate_deployment checks it; its update check is the one shared by the
    # workloads whose selector may not change
    assert rules_of("Deployment").checks is validation.validate_deployment
    assert rules_of("Deployment").update_checks is validation.validate_selector_immutable
    assert rules_of("ReplicaSet").fields is fields.replicas_fields
