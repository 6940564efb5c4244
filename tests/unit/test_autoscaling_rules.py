"""HorizontalPodAutoscaler as an API kind (minikube_py.model.autoscaling, autoscalingv1 and its
printer): defaults, validation, the v1 <-> v2 conversion and the TARGETS column."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from minikube_py.api.strategies import strategy_named
from minikube_py.api.tables.autoscaling import targets
from minikube_py.model.autoscaling import default_hpa, validate_hpa
from minikube_py.model.autoscalingv1 import BEHAVIOR, CONDITIONS, CURRENT_METRICS, METRICS, from_v2, to_v2
from minikube_py.model.kinds import by_kind, by_plural, stored_version

Obj = dict[str, Any]
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def cpu(percent: int) -> Obj:
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}},
    }


def v2(**spec: Any) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "ns", "annotations": {"team": "a"}},
        "spec": {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 3, **spec},
    }


def causes(obj: Obj) -> list[str]:
    return [f"{e.field}: {e.message}" for e in validate_hpa(obj)]


def test_defaults_min_replicas_and_the_cpu_metric_and_fill_a_given_behavior() -> None:
    obj: Obj = {"spec": {"scaleTargetRef": REF, "maxReplicas": 2, "behavior": {"scaleDown": {"selectPolicy": "Min"}}}}
    default_hpa(obj)
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"] == [cpu(80)]
    down = obj["spec"]["behavior"]["scaleDown"]
    assert down == {
        "selectPolicy": "Min",
        "stabilizationWindowSeconds": 300,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }
    assert obj["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    plain: Obj = {"spec": {"scaleTargetRef": REF, "maxReplicas": 2}}
    default_hpa(plain)
    assert "behavior" not in plain["spec"]


def test_validation_as_kubernetes() -> None:
    assert causes(v2(metrics=[cpu(50)])) == []
    assert causes(v2(minReplicas=0)) == ["spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"]
    assert causes(v2(minReplicas=4)) == [
        "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`"
    ]
    assert causes({"spec": {"minReplicas": 1}}) == [
        "spec.scaleTargetRef.kind: Required value",
        "spec.scaleTargetRef.name: Required value",
        "spec.maxReplicas: Required value",
    ]
    bad_metrics = [
        {"type": "Bogus"},
        {"type": "Resource"},
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Value", "value": "1"}}},
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}},
        {
            "type": "Pods",
            "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1"}},
            "resource": {},
        },
    ]
    assert [c.split(":")[0] for c in causes(v2(metrics=bad_metrics))] == [
        "spec.metrics[0].type",
        "spec.metrics[1].resource",
        "spec.metrics[2].resource.target.type",
        "spec.metrics[3].resource.target.averageUtilization",
        "spec.metrics[4].resource",
    ]
    behavior = {
        "scaleUp": {
            "stabilizationWindowSeconds": 4000,
            "selectPolicy": "Most",
            "policies": [{"type": "Pods", "value": 0, "periodSeconds": 1801}],
        }
    }
    assert [c.split(":")[0] for c in causes(v2(behavior=behavior))] == [
        "spec.behavior.scaleUp.stabilizationWindowSeconds",
        "spec.behavior.scaleUp.selectPolicy",
        "spec.behavior.scaleUp.policies[0].value",
        "spec.behavior.scaleUp.policies[0].periodSeconds",
    ]


def test_v1_is_served_beside_the_stored_v2_and_converts() -> None:
    v1 = by_plural("autoscaling", "v1", "horizontalpodautoscalers")
    assert v1 is not None and v1.conversion is not None and by_kind("autoscaling/v1", "HorizontalPodAutoscaler") is v1
    stored = stored_version(v1)
    assert stored.version == "v2" and stored.conversion is None and stored.key("ns", "web") == v1.key("ns", "web")
    assert stored.short_names == ("hpa",) and "all" in stored.categories
    assert strategy_named("HorizontalPodAutoscaler").printer is not None


def test_v1_autoscale_object_becomes_the_cpu_metric() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 50},
    }
    converted = to_v2(v1)
    assert converted["apiVersion"] == "autoscaling/v2"
    assert converted["spec"] == {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 3, "metrics": [cpu(50)]}
    assert from_v2(converted) == v1


def test_a_v2_object_survives_a_round_trip_through_v1() -> None:
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}},
    }
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 60,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
        }
    }
    obj = v2(metrics=[memory, cpu(50)], behavior=behavior)
    obj["status"] = {
        "observedGeneration": 2,
        "lastScaleTime": "2026-12-06T12:00:00Z",
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "5Mi"}}},
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageValue": "60m", "averageUtilization": 60}},
            },
        ],
        "conditions": [
            {
                "type": "AbleToScale",
                "status": "True",
                "reason": "ReadyForNewScale",
                "message": "m",
                "lastTransitionTime": "2026-12-06T12:00:00Z",
            }
        ],
    }
    v1 = from_v2(obj)
    assert v1["spec"] == {
        "scaleTargetRef": REF,
        "minReplicas": 1,
        "maxReplicas": 3,
        "targetCPUUtilizationPercentage": 50,
    }
    assert v1["status"] == {
        "observedGeneration": 2,
        "lastScaleTime": "2026-12-06T12:00:00Z",
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentCPUUtilizationPercentage": 60,
    }
    annotations = v1["metadata"]["annotations"]
    assert set(annotations) == {"team", METRICS, CURRENT_METRICS, BEHAVIOR, CONDITIONS}
    assert obj["metadata"]["annotations"] == {"team": "a"}  # the stored object is left alone
    assert to_v2(v1) == obj  # the CPU metric was last: nothing moves
    # a v1 writer's change to the CPU figures wins over the annotations' copy
    v1["status"]["currentCPUUtilizationPercentage"] = 70
    assert to_v2(v1)["status"]["currentMetrics"][1]["resource"]["current"]["averageUtilization"] == 70


def test_a_new_objects_status_survives_a_round_trip_through_v1() -> None:
    obj = v2(metrics=[cpu(50)])
    obj["status"] = {"desiredReplicas": 0}  # what a new object starts with
    v1 = from_v2(obj)
    assert v1["status"] == {"currentReplicas": 0, "desiredReplicas": 0}  # no omitempty in v1
    assert to_v2(v1) == obj


def test_targets_column() -> None:
    obj = v2(metrics=[cpu(50)])
    assert targets(obj) == "cpu: <unknown>/50%"
    obj["status"] = {
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]
    }
    assert targets(obj) == "cpu: 12%/50%"
    value = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}},
    }
    pods = {
        "type": "Pods",
        "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}},
    }
    assert targets(v2(metrics=[cpu(50), value, pods])) == "cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more..."
    assert targets(v2()) == "<none>"


@pytest.mark.parametrize("version", ["autoscaling/v1", "autoscaling/v2"])
def test_the_printer_reads_either_version(version: str) -> None:
    obj = v2(metrics=[cpu(50)])
    obj["metadata"]["creationTimestamp"] = "2026-12-06T12:00:00Z"
    obj["status"] = {"currentReplicas": 2, "desiredReplicas": 2}
    if version == "autoscaling/v1":
        obj = from_v2(obj)
    row = strategy_named("HorizontalPodAutoscaler").printer.cells(obj, datetime(2026, 12, 6, 12, 5, tzinfo=UTC))
    assert row == ["web", "Deployment/web", "cpu: <unknown>/50%", "1", 3, 2, "5m"]
