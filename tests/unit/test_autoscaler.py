"""The HorizontalPodAutoscaler decision (minikube_py.model.autoscaler): Kubernetes' arithmetic, its
tolerance, pods set aside, min/max, stabilization, rate policies and the conditions and events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.model.autoscaler import AutoscalerStep, Memory, Scale, failed_rescale, metric_request, plan_autoscaler
from minikube_py.model.autoscaling import default_hpa
from minikube_py.model.times import rfc3339

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(hours=1)
WINDOW = 300.0
FORGETFUL = Memory()
Obj = dict[str, Any]


def hpa(minimum: int = 1, maximum: int = 10, percent: int = 50, **spec: Any) -> Obj:
    obj: Obj = {
        "metadata": {"name": "web", "namespace": "ns", "generation": 3},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}},
                }
            ],
            **spec,
        },
    }
    default_hpa(obj)
    return obj


def pod(
    name: str, request: str | None = "100m", *, phase: str = "Running", ready: bool = True, since: datetime = LONG_AGO
) -> Obj:
    resources = {"requests": {"cpu": request}} if request else {}
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"containers": [{"name": "main", "resources": resources}]},
        "status": {
            "phase": phase,
            "startTime": rfc3339(since),
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": rfc3339(since)}
            ],
        },
    }


def sample(cpu: str, at: datetime = NOW) -> Obj:
    return {
        "timestamp": rfc3339(at),
        "window": "15s",
        "containers": [{"name": "main", "usage": {"cpu": cpu, "memory": "1Mi"}}],
    }


def plan(
    obj: Obj,
    replicas: int,
    usage: dict[str, str],
    pods: list[Obj] | None = None,
    memory: Memory = FORGETFUL,
    now: datetime = NOW,
    answers: dict[int, Obj | str] | None = None,
    status_replicas: int | None = None,
) -> AutoscalerStep:
    pods = pods if pods is not None else [pod(name) for name in usage]
    return plan_autoscaler(
        obj,
        Scale(replicas, "app=web", status_replicas),
        pods,
        {n: sample(c) for n, c in usage.items()},
        now,
        memory,
        downscale_window=WINDOW,
        answers=answers,
    )


def condition(step: AutoscalerStep, kind: str) -> tuple[str, str]:
    found = next(c for c in step.status["conditions"] if c["type"] == kind)
    return found["status"], found["reason"]


def test_utilization_above_target_scales_up_by_the_ratio() -> None:
    # 2 pods at 90m of 100m requested: 90 % against 50 % -> ceil(2 * 1.8) = 4
    step = plan(hpa(), 2, {"a": "90m", "b": "90m"})
    assert step.scale_to == 4
    assert step.status["desiredReplicas"] == 4 and step.status["currentReplicas"] == 2
    assert step.status["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "90m", "averageUtilization": 90}}}
    ]
    assert step.status["observedGeneration"] == 3 and step.status["lastScaleTime"] == rfc3339(NOW)
    assert step.events == [
        (
            "Normal",
            "SuccessfulRescale",
            "New size: 4; reason: cpu resource utilization (percentage of request) above target",
        )
    ]
    assert condition(step, "AbleToScale") == ("True", "SucceededRescale")
    assert condition(step, "ScalingActive") == ("True", "ValidMetricFound")
    assert condition(step, "ScalingLimited") == ("False", "DesiredWithinRange")


def test_within_the_tolerance_nothing_changes() -> None:
    step = plan(hpa(), 2, {"a": "54m", "b": "54m"})  # 54 % of 50 %: ratio 1.08
    assert step.scale_to is None and step.status["desiredReplicas"] == 2 and step.events == []
    assert condition(step, "AbleToScale") == ("True", "ReadyForNewScale")


def test_the_scale_up_is_held_to_max_replicas() -> None:
    step = plan(hpa(maximum=3), 2, {"a": "200m", "b": "200m"})
    assert step.scale_to == 3
    assert condition(step, "ScalingLimited") == ("True", "TooManyReplicas")


def test_the_default_scale_up_policy_allows_4_pods_or_double_per_period() -> None:
    step = plan(hpa(maximum=100), 1, {"a": "1000m"})  # wants 20
    assert step.scale_to == 5  # max(1 + 4, 1 * 2)
    assert condition(step, "ScalingLimited") == ("True", "ScaleUpLimit")
    # the period counts what was added in it: 5 now, 4 of them added 10 s ago -> from 1 again
    again = plan(
        hpa(maximum=100), 5, {n: "1000m" for n in "abcde"}, memory=step.memory, now=NOW + timedelta(seconds=10)
    )
    assert again.scale_to is None  # 4 of the 5 were added within the period: 1 + 4 is all it allows
    later = plan(
        hpa(maximum=100), 5, {n: "1000m" for n in "abcde"}, memory=step.memory, now=NOW + timedelta(seconds=16)
    )
    assert later.scale_to == 10  # max(5 + 4, 5 * 2)


def test_scale_down_waits_for_the_stabilization_window() -> None:
    busy = plan(hpa(), 4, {n: "50m" for n in "abcd"})  # on target: recommendation 4
    idle = {n: "5m" for n in "abcd"}
    held = plan(hpa(), 4, idle, memory=busy.memory, now=NOW + timedelta(seconds=60))
    assert held.scale_to is None and held.status["desiredReplicas"] == 4
    assert condition(held, "AbleToScale") == ("True", "ScaleDownStabilized")
    later = plan(hpa(), 4, idle, memory=held.memory, now=NOW + timedelta(seconds=WINDOW + 61))
    assert later.scale_to == 1
    assert later.events == [("Normal", "SuccessfulRescale", "New size: 1; reason: All metrics below target")]


def test_a_behavior_can_shorten_the_window_and_limit_the_scale_down_rate() -> None:
    behavior = {
        "scaleDown": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
    }
    step = plan(hpa(behavior=behavior), 4, {n: "5m" for n in "abcd"})
    assert step.scale_to == 3
    assert condition(step, "ScalingLimited") == ("True", "ScaleDownLimit")
    assert hpa(behavior=behavior)["spec"]["behavior"]["scaleUp"]["policies"][0] == {
        "type": "Pods",
        "value": 4,
        "periodSeconds": 15,
    }


def test_min_replicas_bounds_the_scale_down() -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    step = plan(hpa(minimum=2, behavior=behavior), 4, {n: "1m" for n in "abcd"})
    assert step.scale_to == 2
    assert condition(step, "ScalingLimited") == ("True", "TooFewReplicas")


def test_a_target_outside_min_and_max_is_brought_back_without_metrics() -> None:
    step = plan(hpa(minimum=2, maximum=3), 5, {})
    assert step.scale_to == 3
    assert step.events[0][2] == "New size: 3; reason: Current number of replicas above Spec.MaxReplicas"
    up = plan(hpa(minimum=2, maximum=3), 1, {})
    assert up.scale_to == 2 and "below Spec.MinReplicas" in up.events[0][2]


def test_a_target_at_zero_disables_autoscaling() -> None:
    step = plan(hpa(), 0, {"a": "500m"})
    assert step.scale_to is None and step.status["desiredReplicas"] == 0
    assert condition(step, "ScalingActive") == ("False", "ScalingDisabled")


def test_a_scale_without_a_selector_cannot_be_autoscaled() -> None:
    step = plan_autoscaler(hpa(), Scale(2, ""), [], {}, NOW, Memory(), downscale_window=WINDOW)
    assert step.scale_to is None
    assert condition(step, "ScalingActive") == ("False", "InvalidSelector")
    assert step.events == [("Warning", "SelectorRequired", "selector is required")]


def test_no_metrics_at_all_is_a_failed_resource_metric() -> None:
    step = plan_autoscaler(hpa(), Scale(2, "app=web"), [pod("a"), pod("b")], {}, NOW, Memory(), downscale_window=WINDOW)
    assert step.scale_to is None
    assert condition(step, "ScalingActive") == ("False", "FailedGetResourceMetric")
    assert step.events[0] == (
        "Warning",
        "FailedGetResourceMetric",
        "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API",
    )
    assert step.events[1][1] == "FailedComputeMetricsReplicas"


def test_a_metrics_api_failure_is_a_failed_resource_metric_with_its_message() -> None:
    step = plan_autoscaler(
        hpa(),
        Scale(2, "app=web"),
        [pod("a")],
        "the server could not find the requested resource",
        NOW,
        Memory(),
        downscale_window=WINDOW,
    )
    assert step.scale_to is None
    assert step.events[0][2] == (
        "failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from "
        "resource metrics API: the server could not find the requested resource"
    )


def test_a_pod_without_a_request_fails_the_utilization_metric() -> None:
    step = plan(hpa(), 1, {"a": "90m"}, pods=[pod("a", request=None)])
    assert step.scale_to is None
    assert "missing request for cpu in container main of Pod a" in step.events[0][2]


def test_missing_metrics_count_as_the_target_when_scaling_down() -> None:
    # a at 10 %, b without metrics: a scale down to ceil(2 * (10 + 100) / 2 / 50) = 3 > 2 would go the
    # other way, so nothing changes
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    step = plan(hpa(behavior=behavior), 2, {"a": "10m"}, pods=[pod("a"), pod("b")])
    assert step.scale_to is None and step.status["desiredReplicas"] == 2


def test_missing_metrics_count_as_nothing_when_scaling_up() -> None:
    # a at 200 % and b unseen: (200 + 0) / 2 = 100 % of 50 % -> 4
    step = plan(hpa(), 2, {"a": "200m"}, pods=[pod("a"), pod("b")])
    assert step.scale_to == 4


def test_unready_pods_count_as_nothing_when_scaling_up() -> None:
    starting = pod("b", ready=False, since=NOW - timedelta(seconds=10))
    step = plan(hpa(), 2, {"a": "60m", "b": "900m"}, pods=[pod("a"), starting])
    # a alone: 60 % -> 1.2; with b at 0: 30 % -> the direction reverses, nothing changes
    assert step.scale_to is None
    pending = pod("c", phase="Pending")
    assert plan(hpa(), 2, {"a": "200m"}, pods=[pod("a"), pending]).scale_to == 4  # (200 + 0) / 2 / 50 * 2


def test_a_pod_measured_partly_before_it_became_ready_is_set_aside() -> None:
    fresh = pod("a", since=NOW - timedelta(seconds=20))
    fresh["status"]["conditions"][0]["lastTransitionTime"] = rfc3339(NOW - timedelta(seconds=5))
    step = plan(hpa(), 1, {"a": "900m"}, pods=[fresh])
    assert step.scale_to is None
    assert condition(step, "ScalingActive") == ("False", "FailedGetResourceMetric")


def test_deleted_and_failed_pods_are_left_out() -> None:
    gone = pod("b")
    gone["metadata"]["deletionTimestamp"] = rfc3339(NOW)
    failed = pod("c", phase="Failed")
    step = plan(hpa(), 1, {"a": "100m", "b": "0m", "c": "0m"}, pods=[pod("a"), gone, failed])
    assert step.scale_to == 2  # a alone: 100 % of 50 %


def test_average_value_targets_compare_the_mean_usage() -> None:
    metric = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}},
    }
    obj = hpa(metrics=[metric])
    usage = {"a": "300Mi", "b": "100Mi"}
    step = plan_autoscaler(
        obj,
        Scale(2, "app=web"),
        [pod("a"), pod("b")],
        {
            n: {"timestamp": rfc3339(NOW), "window": "15s", "containers": [{"name": "main", "usage": {"memory": m}}]}
            for n, m in usage.items()
        },
        NOW,
        Memory(),
        downscale_window=WINDOW,
    )
    assert step.scale_to == 4
    assert step.events[0][2] == "New size: 4; reason: memory resource above target"
    assert step.status["currentMetrics"][0]["resource"]["current"] == {
        "averageValue": "209715200"
    }  # milli-precision decimal, as Kubernetes writes it


def test_several_metrics_take_the_largest_proposal_and_failures_block_scale_down() -> None:
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Mi"}},
    }
    cpu = hpa()["spec"]["metrics"][0]
    step = plan(hpa(metrics=[cpu, memory]), 2, {"a": "90m", "b": "90m"})
    assert step.scale_to == 4  # memory on target (every sample reports 1Mi) proposes 2, cpu at 90 % 4
    pods_metric = {
        "type": "Pods",
        "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1"}},
    }
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    unserved = {1: "the server could not find the requested resource"}
    blocked = plan(hpa(metrics=[cpu, pods_metric], behavior=behavior), 4, {n: "1m" for n in "abcd"}, answers=unserved)
    assert blocked.scale_to is None
    assert blocked.status["currentMetrics"][1] == {"type": ""}
    assert (
        "Warning",
        "FailedGetPodsMetric",
        "unable to get metric qps: unable to fetch metrics from custom metrics API: "
        "the server could not find the requested resource",
    ) in blocked.events


def test_a_failed_scale_read_and_write_turn_able_to_scale_false() -> None:
    step = plan_autoscaler(hpa(), 'deployments.apps "web" not found', [], {}, NOW, Memory(), downscale_window=WINDOW)
    assert condition(step, "AbleToScale") == ("False", "FailedGetScale")
    assert step.events == [("Warning", "FailedGetScale", 'deployments.apps "web" not found')]
    rescaled = plan(hpa(), 2, {"a": "90m", "b": "90m"})
    failed = failed_rescale(rescaled, "boom", {}, NOW)
    assert condition(failed, "AbleToScale") == ("False", "FailedUpdateScale")
    assert "lastScaleTime" not in failed.status and failed.memory.changes == ()
    assert failed.events == [
        (
            "Warning",
            "FailedRescale",
            "New size: 4; reason: cpu resource utilization (percentage of request) above target; error: boom",
        )
    ]


def test_conditions_keep_their_transition_time_while_their_status_holds() -> None:
    first = plan(hpa(), 2, {"a": "50m", "b": "50m"})
    obj = hpa()
    obj["status"] = first.status
    later = plan(obj, 2, {"a": "50m", "b": "50m"}, memory=first.memory, now=NOW + timedelta(minutes=1))
    assert [c["lastTransitionTime"] for c in later.status["conditions"]] == [rfc3339(NOW)] * 3


@pytest.mark.parametrize(("usage", "expected"), [("100m", 2), ("149m", 3), ("25m", None)])
def test_the_ratio_is_ceiled(usage: str, expected: int | None) -> None:
    # one pod: 100 % -> 2, 149 % -> ceil(2.98) = 3; 25 % waits for the window
    assert plan(hpa(), 1, {"a": usage}).scale_to == expected


# ------------------------------------------------------------------------------ custom and external metrics


def metric_values(*values: str, kind: str = "Pod", names: str = "abcd") -> Obj:
    """A ``MetricValueList`` (custom metrics) or, with kind "", an ``ExternalMetricValueList``."""
    items = []
    for name, value in zip(names, values, strict=False):
        item: Obj = {"metricName": "m", "timestamp": rfc3339(NOW), "value": value}
        if kind:
            item["describedObject"] = {"kind": kind, "namespace": "ns", "name": name, "apiVersion": "v1"}
        items.append(item)
    return {"items": items}


PODS_QPS = {
    "type": "Pods",
    "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1"}},
}


def only(*metrics: Obj) -> Obj:
    return hpa(metrics=list(metrics), behavior={"scaleDown": {"stabilizationWindowSeconds": 0}})


def test_a_pods_metric_averages_the_pods_values_against_its_target() -> None:
    step = plan(only(PODS_QPS), 2, {"a": "1m", "b": "1m"}, answers={0: metric_values("2", "4")})
    assert step.scale_to == 6  # an average of 3 per pod against 1
    assert step.status["currentMetrics"] == [
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "3"}}}
    ]
    assert step.events[-1] == ("Normal", "SuccessfulRescale", "New size: 6; reason: pods metric qps above target")
    # a pod without a value counts as none on a scale up: (2 + 4 + 0) / 3 pods
    missing = plan(only(PODS_QPS), 3, {n: "1m" for n in "abc"}, answers={0: metric_values("2", "4")})
    assert missing.scale_to == 6
    nothing = plan(only(PODS_QPS), 2, {"a": "1m", "b": "1m"}, answers={0: metric_values()})
    assert (
        "Warning",
        "FailedGetPodsMetric",
        "unable to get metric qps: no metrics returned from custom metrics API",
    ) in (nothing.events)


def test_an_object_metric_against_a_value_and_per_pod() -> None:
    described = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"}
    value = {
        "type": "Object",
        "object": {"describedObject": described, "metric": {"name": "rps"}, "target": {"type": "Value", "value": "50"}},
    }
    step = plan(only(value), 2, {"a": "1m", "b": "1m"}, answers={0: metric_values("100", kind="Ingress")})
    assert step.scale_to == 4  # twice the target, over the two ready pods
    assert step.status["currentMetrics"][0]["object"] == {
        "describedObject": described,
        "metric": {"name": "rps"},
        "current": {"value": "100"},
    }
    assert step.events[-1][2] == "New size: 4; reason: Ingress metric rps above target"
    per_pod = {
        "type": "Object",
        "object": {
            "describedObject": described,
            "metric": {"name": "rps"},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    step = plan(only(per_pod), 2, {"a": "1m", "b": "1m"}, answers={0: metric_values("30", kind="Ingress")})
    assert step.scale_to == 3
    assert step.status["currentMetrics"][0]["object"]["current"] == {"averageValue": "15"}
    failed = plan(
        only(value), 2, {"a": "1m", "b": "1m"}, answers={0: "the server is currently unable to handle the request"}
    )
    assert failed.events[0] == (
        "Warning",
        "FailedGetObjectMetric",
        "unable to get metric rps: Ingress on ns main/unable to fetch metrics from custom metrics API: "
        "the server is currently unable to handle the request",
    )


def test_an_external_metric_sums_what_its_selector_picks() -> None:
    selector = {"matchLabels": {"queue": "jobs"}}
    total = {
        "type": "External",
        "external": {"metric": {"name": "depth", "selector": selector}, "target": {"type": "Value", "value": "4"}},
    }
    step = plan(only(total), 2, {"a": "1m", "b": "1m"}, answers={0: metric_values("5", "7", kind="")})
    assert step.scale_to == 6  # 12 against 4, over two ready pods
    assert step.status["currentMetrics"][0] == {
        "type": "External",
        "external": {"metric": {"name": "depth", "selector": selector}, "current": {"value": "12"}},
    }
    shown = "&LabelSelector{MatchLabels:map[string]string{queue: jobs,},MatchExpressions:[]LabelSelectorRequirement{},}"
    assert step.events[-1][2] == f"New size: 6; reason: external metric depth({shown}) above target"
    per_pod = {
        "type": "External",
        "external": {"metric": {"name": "depth"}, "target": {"type": "AverageValue", "averageValue": "10"}},
    }
    within = plan(
        only(per_pod), 2, {"a": "1m", "b": "1m"}, answers={0: metric_values("21", kind="")}, status_replicas=2
    )
    assert within.scale_to is None  # 10.5 a pod: within the tolerance
    assert within.status["currentMetrics"][0]["external"]["current"] == {"averageValue": "10500m"}
    empty = plan(only(per_pod), 2, {"a": "1m", "b": "1m"}, answers={0: metric_values(kind="")})
    assert (
        empty.events[0][2]
        == "unable to get external metric ns/depth/<nil>: no metrics returned from external metrics API"
    )


def test_where_each_metric_is_asked_for() -> None:
    def plural_of(api_version: str, kind: str) -> str | None:
        return {("networking.k8s.io/v1", "Ingress"): "ingresses", ("v1", "Service"): "services"}.get(
            (api_version, kind)
        )

    selected = {"matchLabels": {"verb": "GET"}}
    pods_metric = {"type": "Pods", "pods": {"metric": {"name": "qps", "selector": selected}}}
    assert metric_request(pods_metric, "ns", "app=web", plural_of) == (
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods/*/qps",
        {"labelSelector": "app=web", "metricLabelSelector": "verb=GET"},
    )

    def on(api_version: str, kind: str) -> Obj:
        described = {"apiVersion": api_version, "kind": kind, "name": "main"}
        return {"type": "Object", "object": {"describedObject": described, "metric": {"name": "rps"}}}

    custom = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns"
    assert metric_request(on("networking.k8s.io/v1", "Ingress"), "ns", "", plural_of) == (
        f"{custom}/ingresses.networking.k8s.io/main/rps",
        {},
    )
    assert metric_request(on("v1", "Service"), "ns", "", plural_of) == (f"{custom}/services/main/rps", {})
    assert metric_request(on("v1", "Namespace"), "ns", "", plural_of) == (f"{custom}/metrics/rps", {})
    assert metric_request(on("example.com/v1", "Unknown"), "ns", "", plural_of) is None
    external = {"type": "External", "external": {"metric": {"name": "queue depth", "selector": selected}}}
    assert metric_request(external, "ns", "app=web", plural_of) == (
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/queue%20depth",
        {"labelSelector": "verb=GET"},
    )
    assert metric_request(hpa()["spec"]["metrics"][0], "ns", "app=web", plural_of) is None
