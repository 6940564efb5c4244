"""The HorizontalPodAutoscaler controller's decision, as a pure function (:func:`plan_autoscaler`).

It follows Kubernetes' documented algorithm. For each metric, over the target's pods:

- a pod being deleted or failed is left out; a pending pod, and for CPU a pod not yet ready (or
  measured partly before it became ready, in its first 5 minutes), is set aside as *unready*; a pod
  without metrics is set aside as *missing*;
- the ratio is the ready pods' usage to the target: for ``Utilization``, the sum of their usage over
  the sum of their requests (a pod without a request for the resource makes the metric fail), in
  whole percent, to the target percentage; for ``AverageValue``, their average usage to the target;
- within the tolerance (0.1) of 1 nothing changes; otherwise, with nobody set aside, the proposal is
  ``ceil(ratio * ready pods)``. Missing pods then count as using the target (when scaling down) or
  nothing (up), unready pods as nothing when scaling up, the ratio is worked out again, and a
  proposal that would now go the other way, or stays within the tolerance, changes nothing;
- of several metrics the largest proposal wins; if some metrics fail, a scale down is not made.

The proposal is then held between ``minReplicas`` and ``maxReplicas`` and shaped by ``behavior``
(the documented defaults when there is none, with the controller's scale-down window): the
stabilization windows take the highest recent recommendation for a scale down and the lowest for a
scale up, and the policies bound how many pods one period may add or remove. A target at zero
replicas is not autoscaled at all. Only Resource and ContainerResource metrics can be measured:
pykube serves the resource metrics API but no custom or external metrics API.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from minikube_py.model.autoscaling import SCALE_DOWN_DEFAULT, SCALE_UP_DEFAULT, rules_with_defaults
from minikube_py.model.conditions import get_condition
from minikube_py.model.quantity import format_quantity, parse_quantity
from minikube_py.model.times import parse_go_duration, parse_time, rfc3339

Obj = dict[str, Any]

TOLERANCE = Fraction(1, 10)
#: kube-controller-manager's --horizontal-pod-autoscaler-cpu-initialization-period
CPU_INITIALIZATION_PERIOD = timedelta(minutes=5)
#: ... and --horizontal-pod-autoscaler-initial-readiness-delay
INITIAL_READINESS_DELAY = timedelta(seconds=30)

# condition types and reasons, as Kubernetes names them
ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED = "AbleToScale", "ScalingActive", "ScalingLimited"
FAILED_GET_RESOURCE_METRIC = "FailedGetResourceMetric"
FAILED_GET_CONTAINER_RESOURCE_METRIC = "FailedGetContainerResourceMetric"
_UNSERVED = {
    "Pods": ("FailedGetPodsMetric", "custom.metrics.k8s.io"),
    "Object": ("FailedGetObjectMetric", "custom.metrics.k8s.io"),
    "External": ("FailedGetExternalMetric", "external.metrics.k8s.io"),
}


@dataclass(frozen=True)
class Memory:
    """What the controller remembers of one autoscaler between syncs (kube-controller-manager keeps
    it in memory too): its recent recommendations and its recent scale changes."""

    recommendations: tuple[tuple[datetime, int], ...] = ()
    #: (when, change): positive for a scale up, negative for a scale down
    changes: tuple[tuple[datetime, int], ...] = ()


@dataclass(frozen=True)
class Scale:
    """The target's ``scale`` subresource: its spec replicas and its pods' selector."""

    replicas: int
    selector: str


@dataclass
class AutoscalerStep:
    """What one sync does: the status to write, the replica count to scale the target to (None: leave
    it), the events, and what to remember."""

    status: Obj
    scale_to: int | None
    events: list[tuple[str, str, str]]
    memory: Memory
    rescale_reason: str = ""


@dataclass(frozen=True)
class _Proposal:
    replicas: int
    status: Obj
    description: str


@dataclass(frozen=True)
class _Failure:
    reason: str
    message: str


@dataclass
class _Conditions:
    """The three conditions of one sync, set in order; :meth:`merge` keeps transition times."""

    values: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def set(self, kind: str, status: str, reason: str, message: str) -> None:
        self.values[kind] = (status, reason, message)

    def merge(self, previous: Iterable[Obj], now: datetime) -> list[Obj]:
        old = {c.get("type"): c for c in previous if isinstance(c, dict)}
        out = []
        for kind in (ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED):
            if kind not in self.values:
                if kind in old:
                    out.append(old[kind])
                continue
            status, reason, message = self.values[kind]
            before = old.get(kind) or {}
            moved = before.get("status") != status or not before.get("lastTransitionTime")
            stamp = rfc3339(now) if moved else before["lastTransitionTime"]
            out.append(
                {"type": kind, "status": status, "lastTransitionTime": stamp, "reason": reason, "message": message}
            )
        return out


# ------------------------------------------------------------------------------ measuring


def _pod_request(pod: Obj, resource: str, container: str | None) -> Fraction | str:
    """The pod's request of ``resource`` (its containers', or the one named), or the failure text."""
    total = Fraction(0)
    for c in (pod.get("spec") or {}).get("containers") or []:
        if container is not None and c.get("name") != container:
            continue
        request = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        if request is None:
            return f"missing request for {resource} in container {c.get('name')} of Pod {pod['metadata']['name']}"
        total += parse_quantity(request)
    return total


def _pod_usage(sample: Obj, resource: str, container: str | None) -> Fraction | None:
    """The pod's usage of ``resource`` from its PodMetrics (None when the container is not in it)."""
    found, total = False, Fraction(0)
    for c in sample.get("containers") or []:
        if container is not None and c.get("name") != container:
            continue
        value = (c.get("usage") or {}).get(resource)
        if value is not None:
            found, total = True, total + parse_quantity(value)
    return total if found else None


def _unready_for_cpu(pod: Obj, sample: Obj, now: datetime) -> bool:
    """Whether a running pod's CPU must be set aside: in its first minutes, until it is ready and has
    been measured since; later, only while it is not ready and never was (its readiness changed
    within moments of its start)."""
    status = pod.get("status") or {}
    condition = get_condition(status, "Ready")
    started = parse_time(status.get("startTime"))
    changed = parse_time((condition or {}).get("lastTransitionTime"))
    if condition is None or started is None or changed is None:
        return True
    ready = condition.get("status") == "True"
    if now - started < CPU_INITIALIZATION_PERIOD:
        taken = parse_time(sample.get("timestamp"))
        try:
            window = timedelta(seconds=parse_go_duration(str(sample.get("window") or "0s")))
        except ValueError:
            window = timedelta(0)
        return not ready or taken is None or taken < changed + window
    return not ready and changed < started + INITIAL_READINESS_DELAY


def _ratio(usage: dict[str, Fraction], requests: dict[str, Fraction] | None, target: Fraction) -> Fraction:
    """Usage to target: whole-percent utilization of the requests, or average usage."""
    if requests is not None:
        return Fraction(_utilization(usage, requests)) / target
    return sum(usage.values(), Fraction(0)) / len(usage) / target


def _utilization(usage: dict[str, Fraction], requests: dict[str, Fraction]) -> int:
    return math.floor(sum(usage.values(), Fraction(0)) * 100 / sum(requests[n] for n in usage))


def _resource_proposal(
    metric: Obj, pods: list[Obj], metrics: dict[str, Obj] | str, current: int, now: datetime
) -> _Proposal | _Failure:
    """The proposal of a Resource or ContainerResource metric (see the module's description)."""
    kind = metric["type"]
    source_field = "resource" if kind == "Resource" else "containerResource"
    source = metric[source_field]
    name, container = source["name"], source.get("container")
    target = source.get("target") or {}
    by_utilization = target.get("type") == "Utilization"
    what = f"{name} {'container ' if container else ''}resource"
    description = f"{what} utilization (percentage of request)" if by_utilization else what
    reason = FAILED_GET_RESOURCE_METRIC if kind == "Resource" else FAILED_GET_CONTAINER_RESOURCE_METRIC
    failing = f"failed to get {name} utilization" if by_utilization else f"failed to get {name} usage"

    def fail(why: str) -> _Failure:
        return _Failure(reason, f"{failing}: {why}")

    if isinstance(metrics, str):
        return fail(
            f"unable to get metrics for resource {name}: unable to fetch metrics from resource metrics API: {metrics}"
        )
    if not metrics:
        return fail(f"unable to get metrics for resource {name}: no metrics returned from resource metrics API")
    if not pods:
        return fail("no pods returned by selector while calculating replica count")
    ready: dict[str, Fraction] = {}
    unready, missing = [], []
    for pod in pods:
        md, status = pod["metadata"], pod.get("status") or {}
        if md.get("deletionTimestamp") or status.get("phase") == "Failed":
            continue
        if status.get("phase") == "Pending":
            unready.append(md["name"])
            continue
        sample = metrics.get(md["name"])
        used = _pod_usage(sample, name, container) if sample is not None else None
        if sample is None or used is None:
            missing.append(md["name"])
            continue
        if name == "cpu" and _unready_for_cpu(pod, sample, now):
            unready.append(md["name"])
            continue
        ready[md["name"]] = used
    if not ready:
        return fail("did not receive metrics for targeted pods (pods might be unready)")
    requests: dict[str, Fraction] | None = None
    if by_utilization:
        requests = {}
        for pod in pods:
            if pod["metadata"]["name"] in {*ready, *missing, *unready}:
                request = _pod_request(pod, name, container)
                if isinstance(request, str):
                    return fail(request)
                requests[pod["metadata"]["name"]] = request
        if sum(requests[n] for n in ready) == 0:
            return fail(f"no {name} requested by the ready pods")
        goal = Fraction(target["averageUtilization"])
    else:
        goal = parse_quantity(target["averageValue"])
    ratio = _ratio(ready, requests, goal)
    average = sum(ready.values(), Fraction(0)) / len(ready)
    current_value: Obj = {"averageValue": format_quantity(Fraction(math.ceil(average * 1000), 1000))}
    if requests is not None:
        current_value["averageUtilization"] = _utilization(ready, requests)
    status = {
        "type": kind,
        source_field: {**({"container": container} if container else {}), "name": name, "current": current_value},
    }
    replicas = _replicas(ratio, ready, unready, missing, requests, goal, current)
    return _Proposal(replicas, status, description)


def _replicas(
    ratio: Fraction,
    ready: dict[str, Fraction],
    unready: list[str],
    missing: list[str],
    requests: dict[str, Fraction] | None,
    goal: Fraction,
    current: int,
) -> int:
    """Kubernetes' replica count for one metric, with the conservative second look when pods were
    set aside."""
    scale_up_with_unready = bool(unready) and ratio > 1
    if not scale_up_with_unready and not missing:
        return current if abs(1 - ratio) <= TOLERANCE else math.ceil(ratio * len(ready))
    usage = dict(ready)
    for name in missing:
        if ratio < 1:  # scaling down: a pod we cannot see is assumed at the target (at least its request)
            usage[name] = requests[name] * max(100, goal) / 100 if requests is not None else goal
        else:
            usage[name] = Fraction(0)
    if scale_up_with_unready:
        for name in unready:
            usage[name] = Fraction(0)
    again = _ratio(usage, requests, goal)
    if abs(1 - again) <= TOLERANCE or (ratio < 1 < again) or (ratio > 1 > again):
        return current
    replicas = math.ceil(again * len(usage))
    if (again < 1 and replicas > current) or (again > 1 and replicas < current):
        return current
    return replicas


def _proposal(
    metric: Obj, pods: list[Obj], metrics: dict[str, Obj] | str, current: int, now: datetime
) -> _Proposal | _Failure:
    kind = metric.get("type", "")
    if kind in ("Resource", "ContainerResource"):
        return _resource_proposal(metric, pods, metrics, current, now)
    reason, api = _UNSERVED[kind]
    source = metric.get({"Pods": "pods", "Object": "object", "External": "external"}[kind]) or {}
    name = (source.get("metric") or {}).get("name", "")
    return _Failure(reason, f"unable to get metric {name}: no {api} API is served")


# ------------------------------------------------------------------------------ shaping


def behavior_of(hpa: Obj, downscale_window: float) -> tuple[Obj, Obj]:
    """The scale-up and scale-down rules in force: the autoscaler's own, else the documented
    defaults with the controller's scale-down window."""
    behavior = (hpa.get("spec") or {}).get("behavior")
    if behavior is None:
        return rules_with_defaults(None, SCALE_UP_DEFAULT), {
            **rules_with_defaults(None, SCALE_DOWN_DEFAULT),
            "stabilizationWindowSeconds": downscale_window,
        }
    return (
        rules_with_defaults(behavior.get("scaleUp"), SCALE_UP_DEFAULT),
        rules_with_defaults(behavior.get("scaleDown"), SCALE_DOWN_DEFAULT),
    )


def _stabilize(proposal: int, current: int, memory: Memory, up: Obj, down: Obj, now: datetime) -> tuple[int, str, str]:
    """The proposal held back by the stabilization windows: no lower than the highest recommendation
    within the scale-down window, no higher than the lowest within the scale-up window."""
    up_since = now - timedelta(seconds=up["stabilizationWindowSeconds"])
    down_since = now - timedelta(seconds=down["stabilizationWindowSeconds"])
    lowest = highest = proposal
    for at, replicas in memory.recommendations:
        if at > up_since:
            lowest = min(lowest, replicas)
        if at > down_since:
            highest = max(highest, replicas)
    stabilized = min(max(current, lowest), highest)
    if stabilized == proposal:
        return stabilized, "ReadyForNewScale", "recommended size matches current size"
    if stabilized < proposal:
        return (
            stabilized,
            "ScaleUpStabilized",
            ("recent recommendations were lower than current one, applying the lowest recent recommendation"),
        )
    return (
        stabilized,
        "ScaleDownStabilized",
        ("recent recommendations were higher than current one, applying the highest recent recommendation"),
    )


def _period_start(current: int, changes: tuple[tuple[datetime, int], ...], period: int, now: datetime) -> int:
    """The replica count at the start of a policy's period: the current one less the changes since."""
    since = now - timedelta(seconds=period)
    return current - sum(change for at, change in changes if at > since)


def _limit(current: int, rules: Obj, changes: tuple[tuple[datetime, int], ...], now: datetime, up: bool) -> int:
    """The furthest the policies let this sync go from ``current`` (``current`` itself when disabled)."""
    if rules.get("selectPolicy") == "Disabled":
        return current
    limits = []
    for policy in rules["policies"]:
        start = _period_start(current, changes, policy["periodSeconds"], now)
        value = policy["value"]
        if policy["type"] == "Pods":
            limits.append(start + value if up else start - value)
        elif up:
            limits.append(math.ceil(Fraction(start * (100 + value), 100)))
        else:
            limits.append(math.floor(Fraction(start * (100 - value), 100)))
    pick_most = rules.get("selectPolicy", "Max") == "Max"
    return (max if pick_most == up else min)(limits)


def _bounded(
    desired: int, current: int, hpa_spec: Obj, up: Obj, down: Obj, memory: Memory, now: datetime
) -> tuple[int, str, str]:
    """The desired count within minReplicas/maxReplicas and the rate the policies allow; the reason
    of the ScalingLimited condition."""
    low, high = hpa_spec.get("minReplicas", 1), hpa_spec["maxReplicas"]
    if desired > current:
        rate = max(_limit(current, up, memory.changes, now, True), current)
        if rate < high:
            bound, reason, message = (
                rate,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        else:
            bound, reason, message = (
                high,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        if desired > bound:
            return bound, reason, message
    elif desired < current:
        rate = min(_limit(current, down, memory.changes, now, False), current)
        if rate > low:
            bound, reason, message = (
                rate,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        else:
            bound, reason, message = (
                low,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        if desired < bound:
            return bound, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def _forget(memory: Memory, up: Obj, down: Obj, now: datetime) -> Memory:
    """Drop what no window or period looks back to any more."""
    window = max(up["stabilizationWindowSeconds"], down["stabilizationWindowSeconds"])
    period = max((p["periodSeconds"] for p in (*up["policies"], *down["policies"])), default=0)
    return Memory(
        tuple((at, r) for at, r in memory.recommendations if at > now - timedelta(seconds=window)),
        tuple((at, c) for at, c in memory.changes if at > now - timedelta(seconds=period)),
    )


# ------------------------------------------------------------------------------ the decision


def plan_autoscaler(
    hpa: Obj,
    scale: Scale | str,
    pods: list[Obj],
    metrics: dict[str, Obj] | str,
    now: datetime,
    memory: Memory,
    *,
    downscale_window: float,
) -> AutoscalerStep:
    """One sync of an autoscaler (stored version, defaulted). ``scale`` is the target's scale
    subresource, or why it could not be read; ``pods`` the pods its selector matches and ``metrics``
    their PodMetrics by pod name (or why the resource metrics API did not answer)."""
    spec, old = hpa.get("spec") or {}, hpa.get("status") or {}
    conditions = _Conditions()
    events: list[tuple[str, str, str]] = []
    status: Obj = {k: old[k] for k in ("currentReplicas", "lastScaleTime") if k in old}
    status["desiredReplicas"] = old.get("desiredReplicas", 0)
    generation = hpa["metadata"].get("generation")
    if generation is not None:
        status["observedGeneration"] = generation

    def finish(
        scale_to: int | None, metric_statuses: list[Obj], reason: str = "", kept: Memory = memory
    ) -> AutoscalerStep:
        if metric_statuses:
            status["currentMetrics"] = metric_statuses
        merged = conditions.merge(old.get("conditions") or [], now)
        if merged:
            status["conditions"] = merged
        return AutoscalerStep(status, scale_to, events, kept, reason)

    if isinstance(scale, str):
        conditions.set(
            ABLE_TO_SCALE,
            "False",
            "FailedGetScale",
            f"the HPA controller was unable to get the target's current scale: {scale}",
        )
        events.append(("Warning", "FailedGetScale", scale))
        return finish(None, list(old.get("currentMetrics") or []))
    current = scale.replicas
    status["currentReplicas"] = current
    conditions.set(
        ABLE_TO_SCALE, "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale"
    )
    low, high = spec.get("minReplicas", 1), spec["maxReplicas"]
    if current == 0 and low != 0:
        conditions.set(
            SCALING_ACTIVE,
            "False",
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        )
        status["desiredReplicas"] = 0
        return finish(None, [])
    up, down = behavior_of(hpa, downscale_window)
    statuses: list[Obj] = []
    if current > high or current < low:
        desired = high if current > high else low
        reason = (
            "Current number of replicas above Spec.MaxReplicas"
            if current > high
            else "Current number of replicas below Spec.MinReplicas"
        )
        kind = "TooManyReplicas" if current > high else "TooFewReplicas"
        message = (
            "the desired replica count is more than the maximum replica count"
            if current > high
            else "the desired replica count is less than the minimum replica count"
        )
        conditions.set(SCALING_LIMITED, "True", kind, message)
        kept = memory
    elif not scale.selector:  # the metrics' pods cannot be found
        conditions.set(SCALING_ACTIVE, "False", "InvalidSelector", "the HPA target's scale is missing a selector")
        events.append(("Warning", "SelectorRequired", "selector is required"))
        return finish(None, [])
    else:
        proposals, failures = [], []
        for metric in spec.get("metrics") or []:
            outcome = _proposal(metric, pods, metrics, current, now)
            if isinstance(outcome, _Failure):
                failures.append(outcome)
                statuses.append({"type": ""})
            else:
                proposals.append(outcome)
                statuses.append(outcome.status)
        best = max(proposals, key=lambda p: p.replicas, default=None)
        if best is None or (failures and best.replicas < current):
            first = failures[0]
            conditions.set(
                SCALING_ACTIVE,
                "False",
                first.reason,
                f"the HPA was unable to compute the replica count: {first.message}",
            )
            events.append(("Warning", first.reason, first.message))
            total = len(proposals) + len(failures)
            events.append(
                (
                    "Warning",
                    "FailedComputeMetricsReplicas",
                    f"invalid metrics ({len(failures)} invalid out of {total}), first error is: {first.message}",
                )
            )
            return finish(None, statuses if proposals else [])
        conditions.set(
            SCALING_ACTIVE,
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {best.description}",
        )
        reason = f"{best.description} above target" if best.replicas > current else "All metrics below target"
        stabilized, able_reason, able_message = _stabilize(best.replicas, current, memory, up, down, now)
        kept = replace(memory, recommendations=(*memory.recommendations, (now, best.replicas)))
        conditions.set(ABLE_TO_SCALE, "True", able_reason, able_message)
        desired, limited, limited_message = _bounded(stabilized, current, spec, up, down, memory, now)
        conditions.set(
            SCALING_LIMITED, "False" if limited == "DesiredWithinRange" else "True", limited, limited_message
        )
    status["desiredReplicas"] = desired
    if desired == current:
        return finish(None, statuses, kept=_forget(kept, up, down, now))
    events.append(("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}"))
    conditions.set(
        ABLE_TO_SCALE,
        "True",
        "SucceededRescale",
        f"the HPA controller was able to update the target scale to {desired}",
    )
    status["lastScaleTime"] = rfc3339(now)
    kept = replace(kept, changes=(*kept.changes, (now, desired - current)))
    return finish(desired, statuses, reason, _forget(kept, up, down, now))


def failed_rescale(step: AutoscalerStep, error: str, old_status: Obj, now: datetime) -> AutoscalerStep:
    """The step after writing the target's scale failed: AbleToScale turns False, no scale time or
    change is recorded (the step's last), and a FailedRescale event replaces SuccessfulRescale."""
    status = dict(step.status)
    status["lastScaleTime"] = old_status.get("lastScaleTime")
    if status["lastScaleTime"] is None:
        del status["lastScaleTime"]
    failed = {
        "type": ABLE_TO_SCALE,
        "status": "False",
        "lastTransitionTime": rfc3339(now),
        "reason": "FailedUpdateScale",
        "message": f"the HPA controller was unable to update the target scale: {error}",
    }
    status["conditions"] = [failed if c["type"] == ABLE_TO_SCALE else c for c in status.get("conditions") or []]
    events = [e for e in step.events if e[1] != "SuccessfulRescale"]
    events.append(
        ("Warning", "FailedRescale", f"New size: {step.scale_to}; reason: {step.rescale_reason}; error: {error}")
    )
    return AutoscalerStep(
        status, None, events, replace(step.memory, changes=step.memory.changes[:-1]), step.rescale_reason
    )
