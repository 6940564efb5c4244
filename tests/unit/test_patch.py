"""The patch bodies kubectl v1.32 sends (captured on the wire, see the kubectl protocol notes §7.4,
§13), applied through the public entry point, with the exact objects Kubernetes would store."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from minikube_py.api.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    PATCH_TYPES,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    is_patch_type,
)
from minikube_py.model.errors import StatusError

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "resourceVersion": "7",
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        }
                    ],
                    "restartPolicy": "Always",
                },
            },
        },
    }


def patched(content_type: str, obj: dict[str, Any], body: Any, kind: str = "Deployment") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    before = copy.deepcopy(obj)
    result = apply_patch(content_type, obj, raw, kind)
    assert obj == before, "the live object must not be modified"
    return result


def smp(obj: dict[str, Any], body: Any, kind: str = "Deployment") -> dict[str, Any]:
    return patched(STRATEGIC_MERGE_PATCH, obj, body, kind)


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_client_side_apply_changes_image_and_replicas() -> None:
    applied = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}) + "\n"
    body = {
        "metadata": {"annotations": {LAST_APPLIED: applied}},
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "main"}],
                    "containers": [{"image": "nginx:1.26", "name": "main"}],
                }
            },
        },
    }
    expected = deployment()
    expected["metadata"]["annotations"][LAST_APPLIED] = applied
    expected["spec"]["replicas"] = 3
    containers(expected)[0]["image"] = "nginx:1.26"
    assert smp(deployment(), body) == expected


def test_client_side_apply_removes_a_container_and_keeps_the_order() -> None:
    live = deployment()
    containers(live).append({"name": "sidecar", "image": "busybox"})
    containers(live).append({"name": "logger", "image": "fluentd"})
    body = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "logger"}, {"name": "main"}],
                    "containers": [{"$patch": "delete", "name": "sidecar"}],
                }
            }
        }
    }
    assert [c["name"] for c in containers(smp(live, body))] == ["logger", "main"]


def test_kubectl_set_image() -> None:
    body = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "main"}],
                    "containers": [{"image": "nginx:1.27", "name": "main"}],
                }
            }
        }
    }
    expected = deployment()
    containers(expected)[0]["image"] = "nginx:1.27"
    assert smp(deployment(), body) == expected


def test_kubectl_label_is_a_merge_patch() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "nginx", "labels": {"run": "nginx"}}, "spec": {"containers": []}}
    result = patched(MERGE_PATCH, pod, {"metadata": {"labels": {"tier": "fe"}}}, "Pod")
    assert result == {
        "kind": "Pod",
        "metadata": {"name": "nginx", "labels": {"run": "nginx", "tier": "fe"}},
        "spec": {"containers": []},
    }


def test_kubectl_label_removal_with_null() -> None:
    pod = {"metadata": {"name": "nginx", "labels": {"run": "nginx", "tier": "fe"}}}
    assert patched(MERGE_PATCH, pod, {"metadata": {"labels": {"tier": None}}}, "Pod") == {
        "metadata": {"name": "nginx", "labels": {"run": "nginx"}}
    }


def test_kubectl_rollout_restart_adds_template_annotation() -> None:
    stamp = "2025-01-02T03:04:05Z"
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
    expected = deployment()
    expected["spec"]["template"]["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": stamp}
    assert smp(deployment(), body) == expected


def test_kubectl_rollout_pause_and_resume() -> None:
    paused = smp(deployment(), {"spec": {"paused": True}})
    assert paused["spec"]["paused"] is True
    assert smp(paused, {"spec": {"paused": None}}) == deployment()


def node() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node1"},
        "spec": {"podCIDR": "10.244.1.0/24", "taints": [{"effect": "NoSchedule", "key": "key1", "value": "value1"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "node1"}],
        },
    }


def test_kubectl_cordon_and_uncordon() -> None:
    cordoned = smp(node(), {"spec": {"unschedulable": True}}, "Node")
    expected = node()
    expected["spec"]["unschedulable"] = True
    assert cordoned == expected
    assert smp(cordoned, {"spec": {"unschedulable": None}}, "Node") == node()


def test_kubectl_taint_replaces_the_list() -> None:
    added = [
        {"effect": "NoExecute", "key": "key2", "value": "v2"},
        {"effect": "NoSchedule", "key": "key1", "value": "value1"},
    ]
    tainted = smp(node(), {"spec": {"taints": added}}, "Node")
    assert tainted["spec"]["taints"] == added
    untainted = smp(tainted, {"spec": {"taints": [{"effect": "NoExecute", "key": "key2", "value": "v2"}]}}, "Node")
    assert untainted["spec"] == {
        "podCIDR": "10.244.1.0/24",
        "taints": [{"effect": "NoExecute", "key": "key2", "value": "v2"}],
    }


def test_node_status_merges_conditions_and_addresses_by_type() -> None:
    body = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.9"}],
        }
    }
    assert smp(node(), body, "Node")["status"] == {
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "KubeletNotReady"},
            {"type": "MemoryPressure", "status": "False"},
        ],
        "addresses": [{"type": "InternalIP", "address": "172.18.0.9"}, {"type": "Hostname", "address": "node1"}],
    }


def test_kubectl_rollout_undo_json_patch() -> None:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.24"}]},
    }
    annotations = {"deployment.kubernetes.io/revision": "3"}
    body = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    expected = deployment()
    expected["spec"]["template"] = template
    expected["metadata"]["annotations"] = annotations
    assert patched(JSON_PATCH, deployment(), body) == expected


def test_kubectl_scale_merge_patch_on_scale() -> None:
    scale = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web", "resourceVersion": "7"},
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "selector": "app=web"},
    }
    result = patched(MERGE_PATCH, scale, {"spec": {"replicas": 3}}, "Scale")
    assert result["spec"] == {"replicas": 3}
    assert result["status"] == scale["status"]


def test_server_side_apply_merges_the_configuration_into_the_live_object() -> None:
    config = b"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {team: blue}
  annotations: {built: 2024-05-01T10:00:00Z}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: main
        image: nginx:1.26
        env:
        - {name: B, value: "20"}
"""
    expected = deployment()
    expected["metadata"]["labels"] = {"team": "blue"}
    expected["metadata"]["annotations"]["built"] = "2024-05-01T10:00:00Z"
    expected["spec"]["replicas"] = 2
    containers(expected)[0]["image"] = "nginx:1.26"
    containers(expected)[0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "20"}]
    assert patched(APPLY_PATCH, deployment(), config) == expected


def test_server_side_apply_creates_from_nothing_and_accepts_json() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    assert patched(APPLY_PATCH, {}, config, "ConfigMap") == config


def test_server_side_apply_refuses_managed_fields() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": [{"manager": "x"}]}}
    with pytest.raises(StatusError) as caught:
        patched(APPLY_PATCH, {}, config, "ConfigMap")
    assert (caught.value.code, caught.value.message) == (400, "metadata.managedFields must be nil")


def test_json_patch_test_failure_is_422_with_the_reason() -> None:
    body = [
        {"op": "test", "path": "/spec/replicas", "value": 5},
        {"op": "replace", "path": "/spec/replicas", "value": 6},
    ]
    with pytest.raises(StatusError) as caught:
        patched(JSON_PATCH, deployment(), body)
    status = caught.value.status()
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert "testing value /spec/replicas failed" in status["message"]
    assert status["details"]["causes"][0]["message"] == "testing value /spec/replicas failed: test failed"


@pytest.mark.parametrize("content_type", [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH])
def test_malformed_body_is_400(content_type: str) -> None:
    with pytest.raises(StatusError) as caught:
        patched(content_type, deployment(), b'{"spec": {"replicas": ')
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")


@pytest.mark.parametrize("content_type", [MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH])
def test_non_object_body_is_400(content_type: str) -> None:
    with pytest.raises(StatusError) as caught:
        patched(content_type, deployment(), b"[1, 2]")
    assert caught.value.code == 400
    assert "must be a JSON object, got list" in caught.value.message


def test_json_patch_that_is_not_a_list_is_400() -> None:
    with pytest.raises(StatusError) as caught:
        patched(JSON_PATCH, deployment(), {"op": "add"})
    assert caught.value.code == 400


def test_unknown_content_type_is_415() -> None:
    with pytest.raises(StatusError) as caught:
        patched("application/json", deployment(), {"spec": {}})
    assert (caught.value.code, caught.value.reason) == (415, "UnsupportedMediaType")
    assert "application/strategic-merge-patch+json" in caught.value.message


def test_content_type_parameters_are_ignored() -> None:
    result = patched("application/merge-patch+json; charset=utf-8", deployment(), {"spec": {"replicas": 4}})
    assert result["spec"]["replicas"] == 4
    assert is_patch_type("Application/Strategic-Merge-Patch+JSON;charset=utf-8")
    assert not is_patch_type("application/json")
    assert set(PATCH_TYPES) == {JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH}


def test_unknown_kind_falls_back_to_merge_patch() -> None:
    live = {"spec": {"items": [{"name": "a", "v": 1}, {"name": "b"}]}}
    body = {"spec": {"items": [{"name": "a", "v": 2}], "extra": None}}
    assert smp(live, body, "Widget") == {"spec": {"items": [{"name": "a", "v": 2}]}}
