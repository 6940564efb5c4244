"""The kubelet's admission of pods bound to its node: resources in kube's order and words, then node
affinity, host ports and NoExecute taints; only the first failure is told."""

from __future__ import annotations

from typing import Any

from minikube_py.model import nodeadmission
from minikube_py.model.scheduling import pod_info

Obj = dict[str, Any]


def node(**extra: Any) -> Obj:
    return {
        "metadata": {"name": "n1", "labels": {"disk": "ssd"}},
        "spec": {"taints": extra.pop("taints", [])},
        "status": {
            "allocatable": {"cpu": "2", "memory": "1Gi", "pods": "3", "ephemeral-storage": "10Gi", **extra},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(name: str, requests: dict[str, str] | None = None, **spec: Any) -> Obj:
    container: Obj = {"name": "c", "image": "busybox", "resources": {"requests": requests or {}}}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    return {"metadata": {"name": name, "namespace": "d", "uid": name}, "spec": {"containers": [container], **spec}}


def refusal(mine: Obj, on: Obj, admitted: list[Obj]) -> tuple[str, str] | None:
    return nodeadmission.refusal(pod_info(mine), on, [pod_info(p) for p in admitted])


def test_a_pod_that_fits_is_admitted() -> None:
    assert refusal(pod("p", {"cpu": "1", "memory": "512Mi"}), node(), [pod("a", {"cpu": "1"})]) is None


def test_the_first_resource_short_is_told_with_the_amounts() -> None:
    admitted = [pod("a", {"cpu": "1500m", "memory": "1Gi"})]
    assert refusal(pod("p", {"cpu": "1", "memory": "1Mi"}), node(), admitted) == (
        "OutOfcpu",
        "Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000",
    )
    assert refusal(pod("p", {"memory": "1Mi"}), node(), admitted) == (
        "OutOfmemory",
        f"Node didn't have enough resource: memory, requested: {1 << 20}, used: {1 << 30}, capacity: {1 << 30}",
    )
    assert refusal(pod("p", {"ephemeral-storage": "11Gi"}), node(), []) == (
        "OutOfephemeral-storage",
        f"Node didn't have enough resource: ephemeral-storage, requested: {11 << 30}, used: 0, capacity: {10 << 30}",
    )
    full = [pod(name) for name in "abc"]
    assert refusal(pod("p"), node(), full) == (
        "OutOfpods",
        "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
    )


def test_extended_resources_count_only_where_the_node_advertises_them() -> None:
    asking = pod("p", {"example.com/dongle": "2"})
    assert refusal(asking, node(), []) is None  # a cluster-level resource: not the node's business
    assert refusal(asking, node(**{"example.com/dongle": "3"}), [pod("a", {"example.com/dongle": "2"})]) == (
        "OutOfexample.com/dongle",
        "Node didn't have enough resource: example.com/dongle, requested: 2, used: 2, capacity: 3",
    )


def test_a_critical_pod_is_not_refused_for_resources() -> None:
    critical = pod("p", {"cpu": "3"}, priority=2_000_001_000)
    assert refusal(critical, node(), []) is None


def test_affinity_ports_and_no_execute_taints() -> None:
    assert refusal(pod("p", nodeSelector={"disk": "hdd"}), node(), []) == (
        "NodeAffinity",
        "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
    )
    port = [{"containerPort": 80, "hostPort": 8080}]
    assert refusal(pod("p", ports=port), node(), [pod("a", ports=port)]) == (
        "NodePorts",
        "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports",
    )
    tainted = node(taints=[{"key": "gone", "effect": "NoExecute"}, {"key": "soft", "effect": "NoSchedule"}])
    assert refusal(pod("p"), tainted, []) == (
        "TaintToleration",
        "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate",
    )
    tolerant = pod("p", tolerations=[{"key": "gone", "operator": "Exists"}])
    assert refusal(tolerant, tainted, []) is None  # a NoSchedule taint is the scheduler's business
