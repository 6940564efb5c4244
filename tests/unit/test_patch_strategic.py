"""Strategic merge patch semantics: merge keys, directives and element order, against the results
kube-apiserver produces for the same patches."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.api.patch.mergekeys import ListRule, rules_for
from minikube_py.api.patch.strategic import strategic_merge
from minikube_py.model.errors import StatusError


def merge(live: dict[str, Any], patch: dict[str, Any], kind: str = "Pod") -> dict[str, Any]:
    rules = rules_for(kind)
    assert rules is not None
    live_before, patch_before = copy.deepcopy(live), copy.deepcopy(patch)
    result = strategic_merge(live, patch, rules)
    assert (live, patch) == (live_before, patch_before), "inputs must not be modified"
    return result


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers), **spec}}


def spec_patch(**spec: Any) -> dict[str, Any]:
    return {"spec": spec}


MAIN = {"name": "main", "image": "nginx"}
SIDE = {"name": "side", "image": "busybox"}


def test_delete_a_container_by_directive() -> None:
    result = merge(pod(MAIN, SIDE), spec_patch(containers=[{"name": "side", "$patch": "delete"}]))
    assert result == pod(MAIN)


def test_delete_directive_needs_the_merge_key() -> None:
    with pytest.raises(StatusError) as caught:
        merge(pod(MAIN), spec_patch(containers=[{"image": "x", "$patch": "delete"}]))
    assert caught.value.code == 400
    assert caught.value.message == 'map: {"$patch": "delete", "image": "x"} does not contain declared merge key: name'


def test_element_without_merge_key_is_400() -> None:
    with pytest.raises(StatusError) as caught:
        merge(pod(MAIN), spec_patch(containers=[{"image": "x"}]))
    assert "does not contain declared merge key: name" in caught.value.message


def test_env_merges_by_name() -> None:
    live = pod(
        {
            "name": "main",
            "env": [
                {"name": "A", "value": "1"},
                {"name": "B", "value": "2"},
                {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            ],
        }
    )
    patch = spec_patch(
        containers=[
            {
                "name": "main",
                "env": [
                    {"name": "B", "value": "22"},
                    {"name": "C", "value": "3", "valueFrom": None},
                    {"name": "A", "$patch": "delete"},
                ],
            }
        ]
    )
    assert merge(live, patch)["spec"]["containers"] == [
        {"name": "main", "env": [{"name": "B", "value": "22"}, {"name": "C", "value": "3"}]}
    ]


def test_new_element_without_order_hint_goes_first_like_kubernetes() -> None:
    patch = spec_patch(containers=[{"name": "extra", "image": "redis"}])
    assert [c["name"] for c in merge(pod(MAIN, SIDE), patch)["spec"]["containers"]] == ["extra", "main", "side"]


def test_set_element_order_places_new_and_existing_elements() -> None:
    patch = spec_patch(
        **{
            "$setElementOrder/containers": [{"name": "side"}, {"name": "extra"}, {"name": "main"}],
            "containers": [{"name": "extra", "image": "redis"}],
        }
    )
    assert merge(pod(MAIN, SIDE), patch)["spec"]["containers"] == [SIDE, {"name": "extra", "image": "redis"}, MAIN]


def test_set_element_order_alone_reorders() -> None:
    patch = spec_patch(**{"$setElementOrder/containers": [{"name": "side"}, {"name": "main"}]})
    assert merge(pod(MAIN, SIDE), patch)["spec"]["containers"] == [SIDE, MAIN]


def test_server_only_elements_keep_their_place() -> None:
    third = {"name": "third", "image": "x"}
    patch = spec_patch(
        **{
            "$setElementOrder/containers": [{"name": "main"}, {"name": "third"}],
            "containers": [{"name": "third", "image": "y"}],
        }
    )
    assert [c["name"] for c in merge(pod(MAIN, SIDE, third), patch)["spec"]["containers"]] == ["main", "side", "third"]


def test_container_ports_merge_by_container_port() -> None:
    live = pod(
        {
            "name": "main",
            "ports": [
                {"containerPort": 80, "protocol": "TCP"},
                {"containerPort": 53, "protocol": "UDP", "name": "dns"},
            ],
        }
    )
    patch = spec_patch(
        containers=[
            {
                "name": "main",
                "ports": [
                    {"containerPort": 80, "name": "http"},
                    {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
                ],
            }
        ]
    )
    assert merge(live, patch)["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "name": "http"},
        {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
        {"containerPort": 53, "protocol": "UDP", "name": "dns"},
    ]


def test_deleting_a_port_without_protocol_removes_every_protocol() -> None:
    live = pod(
        {
            "name": "main",
            "ports": [
                {"containerPort": 53, "protocol": "UDP"},
                {"containerPort": 53, "protocol": "TCP"},
                {"containerPort": 80},
            ],
        }
    )
    patch = spec_patch(containers=[{"name": "main", "ports": [{"containerPort": 53, "$patch": "delete"}]}])
    assert merge(live, patch)["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]


def test_service_ports_merge_by_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], "selector": {"app": "web"}}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}], "selector": {"app": None, "tier": "fe"}}}
    assert merge(svc, patch, "Service") == {
        "spec": {"ports": [{"port": 80, "targetPort": 9090, "protocol": "TCP"}], "selector": {"tier": "fe"}}
    }


def test_volume_mounts_volumes_and_image_pull_secrets_merge_by_key() -> None:
    live = pod(
        {"name": "main", "volumeMounts": [{"mountPath": "/data", "name": "d"}]},
        volumes=[{"name": "d", "emptyDir": {}}],
        imagePullSecrets=[{"name": "reg"}],
    )
    patch = spec_patch(
        containers=[{"name": "main", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}],
        volumes=[{"name": "c", "configMap": {"name": "cm"}}],
        imagePullSecrets=[{"name": "reg2"}],
    )
    result = merge(live, patch)["spec"]
    assert result["containers"][0]["volumeMounts"] == [{"mountPath": "/data", "name": "d", "readOnly": True}]
    assert result["volumes"] == [{"name": "c", "configMap": {"name": "cm"}}, {"name": "d", "emptyDir": {}}]
    assert result["imagePullSecrets"] == [{"name": "reg2"}, {"name": "reg"}]


def test_retain_keys_on_deployment_strategy() -> None:
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert merge(live, patch, "Deployment") == {"spec": {"strategy": {"type": "Recreate"}}}


def test_retain_keys_on_a_volume_switches_its_source() -> None:
    live = pod(volumes=[{"name": "d", "emptyDir": {}}])
    patch = spec_patch(volumes=[{"name": "d", "$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/tmp"}}])
    assert merge(live, patch)["spec"]["volumes"] == [{"name": "d", "hostPath": {"path": "/tmp"}}]


def test_retain_keys_must_list_every_patched_field() -> None:
    with pytest.raises(StatusError) as caught:
        merge(
            {"spec": {"strategy": {}}},
            {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}},
            "Deployment",
        )
    assert caught.value.code == 400
    assert "retainKeys" in caught.value.message


def test_finalizers_merge_as_a_set() -> None:
    live = {"metadata": {"finalizers": ["a", "b"]}}
    assert merge(live, {"metadata": {"finalizers": ["b", "c"]}}) == {"metadata": {"finalizers": ["a", "b", "c"]}}
    assert merge(live, {"metadata": {"finalizers": ["c"]}}) == {"metadata": {"finalizers": ["c", "a", "b"]}}


def test_delete_from_primitive_list() -> None:
    live = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zzz"]}}
    assert merge(live, patch) == {"metadata": {"finalizers": ["a", "c"]}}


def test_delete_from_primitive_list_and_add_in_one_patch() -> None:
    live = {"spec": {"podCIDRs": ["10.0.0.0/24", "fd00::/64"]}}
    patch = {
        "spec": {
            "$deleteFromPrimitiveList/podCIDRs": ["fd00::/64"],
            "podCIDRs": ["fd01::/64"],
            "$setElementOrder/podCIDRs": ["10.0.0.0/24", "fd01::/64"],
        }
    }
    assert merge(live, patch, "Node") == {"spec": {"podCIDRs": ["10.0.0.0/24", "fd01::/64"]}}


def test_malformed_parallel_list_is_400() -> None:
    with pytest.raises(StatusError) as caught:
        merge({"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}})
    assert caught.value.code == 400
    with pytest.raises(StatusError):
        merge({"metadata": {}}, {"metadata": {"$setElementOrder": []}})


def test_owner_references_merge_by_uid() -> None:
    live = {"metadata": {"ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "a", "controller": True}]}}
    patch = {
        "metadata": {"ownerReferences": [{"uid": "1", "controller": None}, {"uid": "2", "kind": "Job", "name": "b"}]}
    }
    assert merge(live, patch)["metadata"]["ownerReferences"] == [
        {"uid": "1", "kind": "ReplicaSet", "name": "a"},
        {"uid": "2", "kind": "Job", "name": "b"},
    ]


def test_tolerations_and_command_replace() -> None:
    live = pod(
        {"name": "main", "command": ["sh", "-c"], "args": ["a"]}, tolerations=[{"key": "a", "operator": "Exists"}]
    )
    patch = spec_patch(
        containers=[{"name": "main", "command": ["bash"]}], tolerations=[{"key": "b", "operator": "Exists"}]
    )
    assert merge(live, patch)["spec"] == {
        "containers": [{"name": "main", "command": ["bash"], "args": ["a"]}],
        "tolerations": [{"key": "b", "operator": "Exists"}],
    }


def test_service_account_secrets_merge_but_image_pull_secrets_replace() -> None:
    live = {"secrets": [{"name": "tok"}], "imagePullSecrets": [{"name": "a"}]}
    patch = {"secrets": [{"name": "tok2"}], "imagePullSecrets": [{"name": "b"}]}
    assert merge(live, patch, "ServiceAccount") == {
        "secrets": [{"name": "tok2"}, {"name": "tok"}],
        "imagePullSecrets": [{"name": "b"}],
    }


def test_patch_replace_in_a_list() -> None:
    patch = spec_patch(containers=[{"$patch": "replace"}, {"name": "only", "image": "x"}])
    assert merge(pod(MAIN, SIDE), patch)["spec"]["containers"] == [{"name": "only", "image": "x"}]


def test_patch_replace_on_a_map() -> None:
    live = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    patch = {"metadata": {"labels": {"$patch": "replace", "c": "3"}}}
    assert merge(live, patch) == {"metadata": {"labels": {"c": "3"}}}


def test_patch_delete_on_a_map_removes_it() -> None:
    live = pod(MAIN, affinity={"nodeAffinity": {}})
    assert merge(live, spec_patch(affinity={"$patch": "delete"})) == pod(MAIN)


def test_patch_merge_directive_is_the_default() -> None:
    live = {"metadata": {"labels": {"a": "1"}}}
    assert merge(live, {"metadata": {"labels": {"$patch": "merge", "b": "2"}}}) == {
        "metadata": {"labels": {"a": "1", "b": "2"}}
    }
    patch = spec_patch(containers=[{"$patch": "merge"}, {"name": "main", "$patch": "merge", "image": "n2"}])
    assert merge(pod(MAIN), patch) == pod({"name": "main", "image": "n2"})


def test_unknown_directive_is_400() -> None:
    with pytest.raises(StatusError) as caught:
        merge({"metadata": {}}, {"metadata": {"$patch": "explode"}})
    assert caught.value.code == 400
    assert caught.value.message.startswith('unknown patch type: "explode"')


def test_nulls_and_directives_inside_new_values_are_dropped() -> None:
    patch = spec_patch(
        containers=[
            {
                "name": "main",
                "image": "x",
                "resources": {"limits": None},
                "env": [{"name": "A", "value": "1"}, {"name": "B", "$patch": "delete"}],
            }
        ],
        affinity={"$patch": "replace", "podAffinity": {"x": None}},
    )
    assert merge({"spec": {}}, patch) == {
        "spec": {
            "containers": [{"name": "main", "image": "x", "resources": {}, "env": [{"name": "A", "value": "1"}]}],
            "affinity": {"podAffinity": {}},
        }
    }


def test_value_of_another_type_replaces() -> None:
    live = {"spec": {"a": [1, 2], "b": {"x": 1}, "c": "s"}}
    patch = {"spec": {"a": {"y": None, "z": 2}, "b": "text", "c": [{"k": None}]}}
    assert merge(live, patch) == {"spec": {"a": {"z": 2}, "b": "text", "c": [{}]}}


def test_pod_status_conditions_merge_by_type() -> None:
    live = {"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}}
    patch = {
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "podIPs": [{"ip": "10.244.0.5"}],
        }
    }
    assert merge(live, patch)["status"] == {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
        "podIPs": [{"ip": "10.244.0.5"}],
    }


def test_merge_list_with_scalar_elements_for_keyed_list_is_400() -> None:
    with pytest.raises(StatusError) as caught:
        merge(pod(MAIN), spec_patch(containers=["main"]))
    assert caught.value.code == 400


def test_set_list_refuses_maps() -> None:
    with pytest.raises(StatusError) as caught:
        merge({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": [{"x": 1}]}})
    assert "cannot merge lists without merge key" in caught.value.message


def test_booleans_are_not_numbers_when_matching() -> None:
    live = {"metadata": {"finalizers": [1]}}
    assert merge(live, {"metadata": {"finalizers": [True]}}) == {"metadata": {"finalizers": [True, 1]}}


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet", "Job", "ReplicationController"])
def test_workload_templates_merge_like_pods(kind: str) -> None:
    rules = rules_for(kind)
    assert rules is not None
    assert rules["spec.template.spec.containers"] == ListRule("name")
    assert rules["spec.template.spec.initContainers[].env"] == ListRule("name")
    assert rules["spec.template.metadata.finalizers"] == ListRule()
    assert rules["status.conditions"] == ListRule("type")
    assert "spec.template.spec.tolerations" not in rules


def test_kinds_without_lists_of_their_own_still_merge_metadata() -> None:
    for kind in ("Endpoints", "Secret", "ConfigMap", "Event", "Lease", "EndpointSlice"):
        rules = rules_for(kind)
        assert rules is not None
        assert set(rules) == {"metadata.finalizers", "metadata.ownerReferences"}
    assert rules_for("Widget") is None
