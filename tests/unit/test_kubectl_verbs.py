"""The pure decisions of ``pykube kubectl`` drain, taint, wait, port-forward and cp."""

from __future__ import annotations

import pytest

from minikube_py.kubectl.copy import parse_spec
from minikube_py.kubectl.drain import Verdict, grouped, judge
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.forward import Mapping, listen_addresses, mappings
from minikube_py.kubectl.modify import parse_taints, retaint
from minikube_py.kubectl.wait import condition_check


def pod(name: str, owner: str | None = None, volumes: list | None = None, phase: str = "Running") -> dict:  # type: ignore[type-arg]
    meta: dict = {"name": name, "namespace": "ns"}  # type: ignore[type-arg]
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    return {
        "metadata": meta,
        "spec": {
            "volumes": volumes or [],
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {"phase": phase},
    }


def test_drain_judges_pods_as_kubectl_the_last_filter_deciding() -> None:
    flags = {"ignore_daemonsets": False, "delete_emptydir": False, "force": False}
    assert judge(pod("a", "ReplicaSet"), **flags) == Verdict(True)
    assert "DaemonSet-managed" in judge(pod("d", "DaemonSet"), **flags).error
    assert judge(pod("d", "DaemonSet"), **{**flags, "ignore_daemonsets": True}).warning
    assert "local storage" in judge(pod("e", "ReplicaSet", [{"name": "v", "emptyDir": {}}]), **flags).error
    assert "no controller" in judge(pod("b"), **flags).error
    assert judge(pod("b", phase="Succeeded"), **flags) == Verdict(True)  # finished: nothing to lose
    forced = judge(
        pod("b", volumes=[{"name": "v", "emptyDir": {}}]), **{**flags, "force": True, "delete_emptydir": True}
    )
    assert forced == Verdict(True, warning="deleting Pods that declare no controller")
    verdicts = [(pod("x"), Verdict(False, error="e1")), (pod("y"), Verdict(False, error="e1"))]
    assert grouped(verdicts, "error") == ["e1: ns/x, ns/y"]


def test_taints_are_parsed_added_first_and_removed_by_key_or_key_and_effect() -> None:
    resources, add, remove = parse_taints(("nodes", "n1", "a=1:NoSchedule", "b:NoExecute-", "c-"))
    assert (resources, add) == (("nodes", "n1"), [{"key": "a", "value": "1", "effect": "NoSchedule"}])
    assert remove == [{"key": "b", "effect": "NoExecute"}, {"key": "c", "effect": ""}]
    have = [
        {"key": "b", "effect": "NoExecute"},
        {"key": "c", "effect": "NoSchedule"},
        {"key": "c", "effect": "NoExecute"},
    ]
    word, taints, missing = retaint("n1", have, add, remove, overwrite=False)
    assert (word, taints, missing) == ("modified", add, [])
    with pytest.raises(CommandError, match="can not both modify and remove"):
        parse_taints(("nodes", "n1", "a=1:NoSchedule", "a-"))
    with pytest.raises(CommandError, match=r"already has a taint\(s\) with same effect"):
        retaint("n1", [{"key": "a", "effect": "NoSchedule", "value": "2"}], add, [], overwrite=False)


def test_wait_conditions() -> None:
    deployment = {"status": {"conditions": [{"type": "Available", "status": "True"}]}, "spec": {"replicas": 2}}
    assert condition_check("condition=available")[1](deployment)
    assert not condition_check("condition=Available=False")[1](deployment)
    assert condition_check("jsonpath={.spec.replicas}=2")[1](deployment)
    assert condition_check("jsonpath=.spec.replicas=2")[1](deployment)
    assert not condition_check("jsonpath={.spec.paused}")[1](deployment)
    assert condition_check("delete")[0] == "delete"
    with pytest.raises(CommandError, match='unrecognized condition: "bogus"'):
        condition_check("bogus")


def test_port_forward_maps_service_ports_to_their_targets_and_names_to_numbers() -> None:
    svc = {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81}]}}
    assert mappings(("9000:80", "81", ":80"), pod("p"), svc) == [Mapping(9000, 8080), Mapping(81, 81), Mapping(0, 8080)]
    assert mappings(("http",), pod("p"), None) == [Mapping(8080, 8080)]
    with pytest.raises(CommandError, match="does not have a service port 99"):
        mappings(("99",), pod("p"), svc)
    assert listen_addresses(()) == ["127.0.0.1", "::1"]
    assert listen_addresses(("localhost,0.0.0.0",)) == ["127.0.0.1", "::1", "0.0.0.0"]


def test_cp_file_specs() -> None:
    assert (parse_spec("pod:x").pod, parse_spec("pod:x").path, parse_spec("ns/pod:x").namespace) == ("pod", "x", "ns")
    assert parse_spec("/local/file").pod == ""
    with pytest.raises(CommandError, match="canonical format"):
        parse_spec("a/b/c:/x")
