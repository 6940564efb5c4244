"""One HorizontalPodAutoscaler, two API versions: every verb at ``autoscaling/v1`` (the converted
version) reads and writes the object stored at ``autoscaling/v2``, through a real server."""

from __future__ import annotations

import json
from typing import Any

from minikube_py.testing import RunningServer

Obj = dict[str, Any]
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def paths(namespace: str) -> tuple[str, str]:
    return (
        f"/apis/autoscaling/v1/namespaces/{namespace}/horizontalpodautoscalers",
        f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers",
    )


def v1_hpa(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 3, "targetCPUUtilizationPercentage": 50, **spec},
    }


def test_create_at_v1_read_at_both(server: RunningServer, namespace: str) -> None:
    v1, v2 = paths(namespace)
    status, created = server.request("POST", v1, v1_hpa("web"))
    assert status == 201, created
    assert created["apiVersion"] == "autoscaling/v1" and created["spec"]["minReplicas"] == 1
    assert created["status"] == {"currentReplicas": 0, "desiredReplicas": 0}
    status, stored = server.request("GET", f"{v2}/web")
    assert status == 200 and stored["apiVersion"] == "autoscaling/v2"
    assert stored["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
    ]
    assert stored["metadata"]["managedFields"][0]["apiVersion"] == "autoscaling/v1"  # as the client wrote it
    status, listed = server.request("GET", v1)
    assert listed["apiVersion"] == "autoscaling/v1" and listed["kind"] == "HorizontalPodAutoscalerList"
    assert [item["spec"]["targetCPUUtilizationPercentage"] for item in listed["items"]] == [50]
    status, table = server.request("GET", v1, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert status == 200 and table["rows"][0]["cells"][:3] == ["web", "Deployment/web", "cpu: <unknown>/50%"]


def test_patches_at_v1_keep_what_only_v2_says(server: RunningServer, namespace: str) -> None:
    v1, v2 = paths(namespace)
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "64Mi"}},
    }
    body = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 3, "metrics": [memory]},
    }
    assert server.request("POST", v2, body)[0] == 201
    for content_type, patch in (
        ("application/merge-patch+json", {"spec": {"maxReplicas": 5}}),
        ("application/strategic-merge-patch+json", {"spec": {"targetCPUUtilizationPercentage": 70}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/spec/minReplicas", "value": 2}]),
    ):
        status, answer = server.request("PATCH", f"{v1}/web", patch, content_type=content_type)
        assert status == 200, answer
        assert answer["apiVersion"] == "autoscaling/v1"
    status, stored = server.request("GET", f"{v2}/web")
    assert (stored["spec"]["minReplicas"], stored["spec"]["maxReplicas"]) == (2, 5)
    assert stored["spec"]["metrics"][0] == memory  # kept through the annotation
    assert stored["spec"]["metrics"][1]["resource"]["target"]["averageUtilization"] == 70
    assert "annotations" not in stored["metadata"]
    # server-side apply at v1 creates and changes too
    applied = v1_hpa("applied", maxReplicas=4)
    status, answer = server.request(
        "PATCH",
        f"{v1}/applied?fieldManager=test",
        json.dumps(applied).encode(),
        content_type="application/apply-patch+yaml",
    )
    assert status == 201, answer
    assert server.request("GET", f"{v2}/applied")[1]["spec"]["maxReplicas"] == 4


def test_bad_input_at_v1_is_422_and_changes_nothing(server: RunningServer, namespace: str) -> None:
    v1, v2 = paths(namespace)
    status, answer = server.request("POST", v1, v1_hpa("bad", minReplicas=4))
    assert status == 422 and answer["reason"] == "Invalid"
    assert answer["details"]["causes"] == [
        {
            "field": "spec.maxReplicas",
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 3: must be greater than or equal to `minReplicas`",
        }
    ]
    assert server.request("GET", f"{v2}/bad")[0] == 404
    assert server.request("POST", v1, v1_hpa("web"))[0] == 201
    status, answer = server.request(
        "PATCH", f"{v1}/web", {"spec": {"minReplicas": 0}}, content_type="application/merge-patch+json"
    )
    assert status == 422, answer
    assert server.request("GET", f"{v2}/web")[1]["spec"]["minReplicas"] == 1
    status, answer = server.request("POST", v1, {**v1_hpa("x"), "apiVersion": "autoscaling/v2"})
    assert status == 400 and "does not match the expected API version (autoscaling/v1)" in answer["message"]


def test_watch_at_v1_sends_v1_objects(server: RunningServer, namespace: str) -> None:
    v1, _ = paths(namespace)
    assert server.request("POST", v1, v1_hpa("web"))[0] == 201
    status, text = server.request("GET", f"{v1}?watch=true&timeoutSeconds=1&resourceVersion=0")
    assert status == 200
    events = [json.loads(line) for line in str(text).splitlines() if line.strip()] if isinstance(text, str) else [text]
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["apiVersion"] == "autoscaling/v1"
    assert events[0]["object"]["spec"].get("targetCPUUtilizationPercentage") == 50, json.dumps(events)


def test_delete_at_v1_waits_for_finalizers_without_converting_what_is_stored(
    server: RunningServer, namespace: str
) -> None:
    v1, v2 = paths(namespace)
    held = v1_hpa("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    assert server.request("POST", v1, held)[0] == 201
    status, answer = server.request("DELETE", f"{v1}/held")
    assert status == 200 and answer["apiVersion"] == "autoscaling/v1" and answer["metadata"]["deletionTimestamp"]
    status, stored = server.request("GET", f"{v2}/held")
    assert stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
    assert "targetCPUUtilizationPercentage" not in stored["spec"]
    patch = {"metadata": {"finalizers": None}}
    assert server.request("PATCH", f"{v1}/held", patch, content_type="application/merge-patch+json")[0] == 200
    assert server.request("GET", f"{v2}/held")[0] == 404
