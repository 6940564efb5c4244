"""Pods stamped from a workload's template: labels, ownership, naming, and independence from the template."""

from __future__ import annotations

from typing import Any

from minikube_py.model.podtemplate import controller_of, controller_ref, pod_from_template

Obj = dict[str, Any]

OWNER: Obj = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {"name": "web", "namespace": "prod", "uid": "u-1"},
}
TEMPLATE: Obj = {
    "metadata": {"labels": {"app": "web"}, "annotations": {"note": "x"}, "finalizers": ["example.com/keep"]},
    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
}


def test_controller_ref_marks_the_managing_owner() -> None:
    assert controller_ref(OWNER) == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web",
        "uid": "u-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_controller_of_finds_only_the_controller() -> None:
    plain = {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u-2"}
    pod = {"metadata": {"ownerReferences": [plain, controller_ref(OWNER)]}}
    assert controller_of(pod) == controller_ref(OWNER)
    assert controller_of({"metadata": {"ownerReferences": [plain]}}) is None
    assert controller_of({"metadata": {}}) is None
    assert controller_of({}) is None


def test_pod_from_template() -> None:
    pod = pod_from_template(OWNER, TEMPLATE)
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "web-",
            "namespace": "prod",
            "ownerReferences": [controller_ref(OWNER)],
            "labels": {"app": "web"},
            "annotations": {"note": "x"},
            "finalizers": ["example.com/keep"],
        },
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


def test_pod_does_not_share_structure_with_the_template() -> None:
    pod = pod_from_template(OWNER, TEMPLATE)
    pod["spec"]["containers"][0]["image"] = "changed"
    pod["metadata"]["labels"]["extra"] = "1"
    pod["metadata"]["annotations"]["extra"] = "1"
    assert TEMPLATE["spec"]["containers"][0]["image"] == "nginx"
    assert TEMPLATE["metadata"]["labels"] == {"app": "web"}
    assert TEMPLATE["metadata"]["annotations"] == {"note": "x"}


def test_name_prefix_and_extra_labels() -> None:
    pod = pod_from_template(OWNER, TEMPLATE, name_prefix="job-abc-", extra_labels={"app": "override", "idx": "0"})
    assert pod["metadata"]["generateName"] == "job-abc-"
    assert pod["metadata"]["labels"] == {"app": "override", "idx": "0"}


def test_empty_template_gives_a_bare_pod() -> None:
    pod = pod_from_template(OWNER, {})
    assert pod["metadata"] == {"generateName": "web-", "namespace": "prod", "ownerReferences": [controller_ref(OWNER)]}
    assert pod["spec"] == {}
