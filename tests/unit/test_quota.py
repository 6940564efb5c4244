"""ResourceQuota usage, admission's charge and its messages (minikube_py.model.quota), as Kubernetes'
quota evaluators compute them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from minikube_py.model.kinds import RESOURCES, ResourceType, by_plural
from minikube_py.model.quota import QuotaRefused, add, charge, counted_by_metadata, governs, quota_status, usage, used

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PODS = by_plural("", "v1", "pods")
SERVICES = by_plural("", "v1", "services")
CONFIG_MAPS = by_plural("", "v1", "configmaps")
DEPLOYMENTS = by_plural("apps", "v1", "deployments")
assert PODS and SERVICES and CONFIG_MAPS and DEPLOYMENTS


def _pod(name: str = "p", phase: str = "Pending", **resources: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "status": {"phase": phase},
        "spec": {"containers": [{"name": "c", "resources": dict(resources)}]},
    }


def _quota(hard: dict[str, str], used_now: dict[str, str] | None = None, name: str = "q") -> dict[str, Any]:
    quota: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": "5"},
        "spec": {"hard": hard},
    }
    if used_now is not None:
        quota["status"] = {"hard": hard, "used": used_now}
    return quota


def test_quantities_add_in_the_first_operands_notation() -> None:
    assert add("64Mi", "64Mi") == "128Mi"
    assert add("500m", "500m") == "1"
    assert add("0", "250m") == "250m"
    assert add("1", "1") == "2"


def test_pod_usage() -> None:
    pod = _pod(requests={"cpu": "250m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "64Mi"})
    pod["spec"]["containers"].append({"name": "d", "resources": {"requests": {"cpu": "250m"}}})
    assert usage(PODS, pod, NOW) == {
        "count/pods": "1",
        "pods": "1",
        "cpu": "500m",
        "requests.cpu": "500m",
        "memory": "64Mi",
        "requests.memory": "64Mi",
        "limits.cpu": "500m",
        "limits.memory": "64Mi",
    }


def test_an_init_container_raises_the_pods_requests_to_its_own() -> None:
    pod = _pod(requests={"cpu": "100m"})
    pod["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]
    assert usage(PODS, pod, NOW)["requests.cpu"] == "1"


def test_a_finished_pod_uses_no_compute_but_still_counts_as_an_object() -> None:
    assert usage(PODS, _pod(phase="Succeeded", requests={"cpu": "1"}), NOW) == {"count/pods": "1"}


def test_service_usage() -> None:
    svc = {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}}
    assert usage(SERVICES, svc, NOW) == {"count/services": "1", "services": "1", "services.nodeports": "2"}


def test_the_kinds_counted_by_metadata_are_those_whose_usage_ignores_the_rest() -> None:
    """The quota controller follows those kinds with metadata informers: what usage() reads of any
    other part of their objects must not matter."""
    spec = {
        "type": "LoadBalancer",
        "ports": [{"port": 80}],
        "storageClassName": "fast",
        "resources": {"requests": {"storage": "1Gi"}},
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
    }
    whole = {"metadata": {"name": "x", "namespace": "ns"}, "spec": spec, "status": {"phase": "Running"}}
    for rt in (rt for rt in RESOURCES if rt.namespaced):
        same = usage(rt, whole, NOW) == usage(rt, {"metadata": whole["metadata"]}, NOW)
        assert counted_by_metadata(rt) == same, rt.kind


def test_claim_usage() -> None:
    """PersistentVolumeClaims are counted by kind name, so they are quota'd once the kind is served."""
    claims = ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", True)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"storageClassName": "local-path", "resources": {"requests": {"storage": "2Gi"}}},
    }
    assert usage(claims, claim, NOW) == {
        "count/persistentvolumeclaims": "1",
        "persistentvolumeclaims": "1",
        "requests.storage": "2Gi",
        "local-path.storageclass.storage.k8s.io/requests.storage": "2Gi",
        "local-path.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
    }
    assert governs(claims, "requests.storage") and not governs(PODS, "requests.storage")
    with pytest.raises(QuotaRefused, match=r"requested: requests\.storage=2Gi, used: requests\.storage=9Gi"):
        charge([_quota({"requests.storage": "10Gi"}, {"requests.storage": "9Gi"})], claims, claim, None, NOW)


def test_which_resources_concern_a_kind() -> None:
    assert governs(PODS, "requests.cpu") and governs(PODS, "pods") and governs(PODS, "count/pods")
    assert not governs(PODS, "services") and governs(SERVICES, "services.nodeports")
    assert governs(DEPLOYMENTS, "count/deployments.apps") and not governs(DEPLOYMENTS, "pods")


def test_extended_resources_and_hugepages_are_quota_d_by_request() -> None:
    pod = _pod(
        requests={"cpu": "1", "example.com/dongle": "2", "hugepages-2Mi": "4Mi"},
        limits={"example.com/dongle": "2", "hugepages-2Mi": "4Mi"},
    )
    found = usage(PODS, pod, NOW)
    assert (found["requests.example.com/dongle"], found["requests.hugepages-2Mi"]) == ("2", "4Mi")
    assert "limits.example.com/dongle" not in found and "example.com/dongle" not in found
    assert governs(PODS, "requests.example.com/dongle") and governs(PODS, "requests.hugepages-1Gi")
    assert not governs(PODS, "example.com/dongle") and not governs(PODS, "requests.kubernetes.io/x")
    with pytest.raises(QuotaRefused) as refused:
        charge(
            [_quota({"requests.example.com/dongle": "3"}, {"requests.example.com/dongle": "2"})], PODS, pod, None, NOW
        )
    assert str(refused.value) == (
        "exceeded quota: q, requested: requests.example.com/dongle=2, used: requests.example.com/dongle=2, "
        "limited: requests.example.com/dongle=3"
    )


def test_used_and_the_controllers_status() -> None:
    quota = _quota({"pods": "3", "requests.cpu": "2", "configmaps": "5"})
    objects = [
        (PODS, [_pod("a", requests={"cpu": "500m"}), _pod("b", phase="Failed", requests={"cpu": "1"})]),
        (CONFIG_MAPS, [{"metadata": {"name": "c"}}]),
    ]
    counted = used(quota, objects, NOW)
    assert counted == {"pods": "1", "requests.cpu": "500m", "configmaps": "1"}
    assert quota_status(quota, counted) == {
        "hard": {"pods": "3", "requests.cpu": "2", "configmaps": "5"},
        "used": counted,
    }


def test_a_create_within_the_quota_is_charged() -> None:
    [charged] = charge([_quota({"pods": "2"}, {"pods": "1"})], PODS, _pod(), None, NOW)
    assert charged.quota["status"]["used"] == {"pods": "2"}
    assert charged.quota["metadata"]["resourceVersion"] == "5", "the charge is conditional on what was read"


def test_a_create_beyond_the_quota_is_refused_with_kubernetes_message() -> None:
    with pytest.raises(QuotaRefused) as refused:
        charge([_quota({"pods": "2"}, {"pods": "2"})], PODS, _pod(), None, NOW)
    assert str(refused.value) == "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"


def test_the_message_names_every_exceeded_resource_sorted() -> None:
    quota = _quota(
        {"pods": "5", "requests.cpu": "1", "requests.memory": "1Gi"},
        {"pods": "0", "requests.cpu": "800m", "requests.memory": "1000Mi"},
    )
    pod = _pod(requests={"cpu": "500m", "memory": "100Mi"})
    with pytest.raises(QuotaRefused) as refused:
        charge([quota], PODS, pod, None, NOW)
    assert str(refused.value) == (
        "exceeded quota: q, requested: requests.cpu=500m,requests.memory=100Mi, "
        "used: requests.cpu=800m,requests.memory=1000Mi, "
        "limited: requests.cpu=1,requests.memory=1Gi"
    )


def test_a_pod_without_the_constrained_request_fails_the_quota() -> None:
    quota = _quota({"limits.cpu": "2", "requests.memory": "1Gi"}, {"limits.cpu": "0", "requests.memory": "0"})
    pod = _pod(limits={"memory": "1Gi"}, requests={"memory": "1Gi"})  # as defaulting leaves it
    pod["spec"]["containers"].append({"name": "b", "resources": {}})
    with pytest.raises(QuotaRefused) as refused:
        charge([quota], PODS, pod, None, NOW)
    assert (
        str(refused.value) == "failed quota: q: must specify limits.cpu for: b,c; must specify requests.memory for: b"
    )


def test_a_quota_the_controller_has_not_seen_does_not_apply_yet() -> None:
    """Admission reads ``status.hard``, as Kubernetes does: a quota counts once its status is written."""
    assert charge([_quota({"pods": "0"})], PODS, _pod(), None, NOW) == []


def test_a_quota_not_yet_counted_refuses() -> None:
    quota = _quota({"pods": "2", "services": "1"}, {"services": "0"})
    with pytest.raises(QuotaRefused) as refused:
        charge([quota], PODS, _pod(), None, NOW)
    assert str(refused.value) == "status unknown for quota: q, resources: pods"


def test_quotas_on_other_resources_are_not_charged() -> None:
    assert charge([_quota({"services": "1"}, {"services": "1"})], PODS, _pod(), None, NOW) == []


def test_an_update_is_charged_only_what_it_adds() -> None:
    quota = _quota({"services.nodeports": "2"}, {"services.nodeports": "1"})
    old = {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    relabelled = {"metadata": {"name": "s", "labels": {"a": "b"}}, "spec": old["spec"]}
    assert charge([quota], SERVICES, relabelled, old, NOW) == []
    grown = {
        "metadata": {"name": "s"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81}, {"port": 82}]},
    }
    with pytest.raises(QuotaRefused, match=r"requested: services\.nodeports=2, used: services\.nodeports=1"):
        charge([quota], SERVICES, grown, old, NOW)


def test_scoped_quotas_match_only_their_pods() -> None:
    best_effort = _quota({"pods": "1"}, {"pods": "1"})
    best_effort["spec"]["scopes"] = ["BestEffort"]
    assert charge([best_effort], PODS, _pod(requests={"cpu": "1"}), None, NOW) == []
    with pytest.raises(QuotaRefused):
        charge([best_effort], PODS, _pod(), None, NOW)


def test_scope_selectors() -> None:
    def selecting(*expressions: dict[str, Any]) -> dict[str, Any]:
        quota = _quota({"pods": "0"}, {"pods": "0"})
        quota["spec"]["scopeSelector"] = {"matchExpressions": list(expressions)}
        return quota

    gold = _pod()
    gold["spec"]["priorityClassName"] = "gold"
    in_gold = selecting({"scopeName": "PriorityClass", "operator": "In", "values": ["gold"]})
    with pytest.raises(QuotaRefused):
        charge([in_gold], PODS, gold, None, NOW)
    assert charge([in_gold], PODS, _pod(), None, NOW) == []
    assert charge([selecting({"scopeName": "PriorityClass", "operator": "Exists"})], PODS, _pod(), None, NOW) == []
    terminating = selecting({"scopeName": "Terminating", "operator": "Exists"})
    assert charge([terminating], PODS, _pod(), None, NOW) == []
    deadline = _pod()
    deadline["spec"]["activeDeadlineSeconds"] = 60
    with pytest.raises(QuotaRefused):
        charge([terminating], PODS, deadline, None, NOW)
    cross = selecting({"scopeName": "CrossNamespacePodAffinity", "operator": "Exists"})
    assert charge([cross], PODS, _pod(), None, NOW) == []
    affine = _pod()
    affine["spec"]["affinity"] = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone", "namespaceSelector": {}}]
        }
    }
    with pytest.raises(QuotaRefused):
        charge([cross], PODS, affine, None, NOW)


def test_object_counts_of_any_kind() -> None:
    deployment = {"metadata": {"name": "d"}, "spec": {}}
    with pytest.raises(QuotaRefused, match=r"requested: count/deployments\.apps=1"):
        charge(
            [_quota({"count/deployments.apps": "1"}, {"count/deployments.apps": "1"})],
            DEPLOYMENTS,
            deployment,
            None,
            NOW,
        )
