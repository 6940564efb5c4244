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
replicas is not autoscaled at all.

Pods, Object and External metrics come from the custom and external metrics APIs, which extension
servers (prometheus-adapter, KEDA) serve behind APIServices: a Pods metric's values are averaged
against its target as a resource metric's usage is; an Object metric's value (one object's) and an
External metric's total (the values its selector picks) are set against ``value`` in proportion to
the ready pods, or against ``averageValue`` per running pod (kube-controller-manager's replica
calculator, messages included).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any
from urllib.parse import quote

from minikube_py.model.autoscaling import SCALE_DOWN_DEFAULT, SCALE_UP_DEFAULT, rules_with_defaults
from minikube_py.model.conditions import get_condition
from minikube_py.model.quantity import format_quantity, parse_quantity
from minikube_py.model.selectors import label_selector_from_spec
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
#: the metric types an extension server's API measures: the failure's reason, and what answers them
#: (an APIService hands the group to an adapter: prometheus-adapter, KEDA, ...)
_AGGREGATED = {
    "Pods": ("FailedGetPodsMetric", "custom metrics API"),
    "Object": ("FailedGetObjectMetric", "custom metrics API"),
    "External": ("FailedGetExternalMetric", "external metrics API"),
}
#: where a metric type's source sits in a metric spec
SOURCE_FIELDS = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
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
    """The target's ``scale`` subresource: its spec replicas, its pods' selector, and how many pods it
    has (the per-pod targets of Object and External metrics divide by these)."""

    replicas: int
    selector: str
    status_replicas: int | None = None

    @property
    def running(self) -> int:
        return self.replicas if self.status_replicas is None else self.status_replicas


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
        return fail(_NO_PODS)
    samples = metrics

    def used(pod: Obj) -> Fraction | None:
        sample = samples.get(pod["metadata"]["name"])
        return _pod_usage(sample, name, container) if sample is not None else None

    def cpu_unready(pod: Obj) -> bool:
        return name == "cpu" and _unready_for_cpu(pod, samples[pod["metadata"]["name"]], now)

    ready, unready, missing = _group(pods, used, cpu_unready)
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


_NO_PODS = "no pods returned by selector while calculating replica count"


def _group(
    pods: list[Obj], measure: Callable[[Obj], Fraction | None], unready_too: Callable[[Obj], bool] = lambda _: False
) -> tuple[dict[str, Fraction], list[str], list[str]]:
    """The pods' measurements by name, and the pods set aside: a deleted or failed pod is left out, a
    pending one is unready, one without a measurement missing, and one ``unready_too`` names (CPU's
    readiness rules) unready."""
    ready: dict[str, Fraction] = {}
    unready, missing = [], []
    for pod in pods:
        md, status = pod["metadata"], pod.get("status") or {}
        if md.get("deletionTimestamp") or status.get("phase") == "Failed":
            continue
        if status.get("phase") == "Pending":
            unready.append(md["name"])
            continue
        value = measure(pod)
        if value is None:
            missing.append(md["name"])
        elif unready_too(pod):
            unready.append(md["name"])
        else:
            ready[md["name"]] = value
    return ready, unready, missing


def milli(value: object) -> Fraction:
    """A metric API's quantity as the controller reads it: in whole thousandths, rounded up."""
    return Fraction(math.ceil(parse_quantity(str(value)) * 1000), 1000)


def _milli_quantity(value: Fraction) -> str:
    return format_quantity(Fraction(math.ceil(value * 1000), 1000))


def _identifier(source: Obj) -> Obj:
    """The ``metric`` of a metric status: its name, and its selector when it has one."""
    metric = source.get("metric") or {}
    return {k: metric[k] for k in ("name", "selector") if metric.get(k) is not None}


def go_selector(selector: Obj | None) -> str:
    """A ``LabelSelector`` as Go's ``%+v`` prints it (kube-controller-manager names external metrics
    so in its conditions and events)."""
    if selector is None:
        return "<nil>"
    labels = "".join(f"{k}: {v}," for k, v in sorted((selector.get("matchLabels") or {}).items()))
    requirements = "".join(
        f"LabelSelectorRequirement{{Key:{r.get('key', '')},Operator:{r.get('operator', '')},"
        f"Values:[{' '.join(r.get('values') or [])}],}},"
        for r in selector.get("matchExpressions") or []
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{requirements}}},}}"
    )


def _ready_pods(pods: list[Obj]) -> int:
    return sum(
        1
        for p in pods
        if (p.get("status") or {}).get("phase") == "Running"
        and (get_condition(p.get("status") or {}, "Ready") or {}).get("status") == "True"
    )


def _ratio_replicas(current: int, ratio: Fraction, pods: list[Obj]) -> int | str:
    """``getUsageRatioReplicaCount``: the current count within the tolerance, else the ratio of the
    ready pods (all of it from zero); or why the pods cannot be counted."""
    if current == 0:
        return math.ceil(ratio)
    if abs(1 - ratio) <= TOLERANCE:
        return current
    if not pods:
        return f"unable to calculate ready pods: {_NO_PODS}"
    return math.ceil(ratio * _ready_pods(pods))


def _per_pod(usage: Fraction, goal: Fraction, running: int) -> tuple[int, Fraction]:
    """A total against a per-pod target (Object and External ``AverageValue``): the replicas that
    total needs unless the running pods are within the tolerance of it, and the average per pod."""
    replicas = running
    if running == 0 or abs(1 - usage / (goal * running)) > TOLERANCE:
        replicas = math.ceil(usage / goal)
    return replicas, Fraction(math.ceil(usage * 1000 / max(running, 1)), 1000)


def _values(answer: Obj) -> list[Obj]:
    return [item for item in answer.get("items") or [] if isinstance(item, dict)]


def _pods_proposal(metric: Obj, pods: list[Obj], answer: Obj | str, current: int) -> _Proposal | _Failure:
    """A Pods metric: the pods' values averaged against ``averageValue``, with the same setting
    aside of pending and missing pods as a resource metric (no readiness rule: that is CPU's)."""
    source = metric["pods"]
    name = source["metric"]["name"]

    def fail(why: str) -> _Failure:
        return _Failure("FailedGetPodsMetric", why)

    if isinstance(answer, str):
        return fail(f"unable to get metric {name}: unable to fetch metrics from custom metrics API: {answer}")
    values = {
        str((item.get("describedObject") or {}).get("name")): milli(item.get("value", 0)) for item in _values(answer)
    }
    if not values:
        return fail(f"unable to get metric {name}: no metrics returned from custom metrics API")
    if not pods:
        return fail(_NO_PODS)
    ready, unready, missing = _group(pods, lambda pod: values.get(pod["metadata"]["name"]))
    if not ready:
        return fail("did not receive metrics for any ready pods")
    goal = milli(source["target"]["averageValue"])
    ratio = _ratio(ready, None, goal)
    average = Fraction(math.floor(sum(ready.values(), Fraction(0)) * 1000 / len(ready)), 1000)
    status = {
        "type": "Pods",
        "pods": {"metric": _identifier(source), "current": {"averageValue": format_quantity(average)}},
    }
    replicas = _replicas(ratio, ready, unready, missing, None, goal, current)
    return _Proposal(replicas, status, f"pods metric {name}")


def _object_proposal(
    metric: Obj, pods: list[Obj], answer: Obj | str, scale: Scale, namespace: str
) -> _Proposal | _Failure:
    """An Object metric: one object's value against ``value`` (scaled by the ready pods), or
    against ``averageValue`` per running pod."""
    source = metric["object"]
    name, described, target = source["metric"]["name"], source.get("describedObject") or {}, source["target"]
    where = f"unable to get metric {name}: {described.get('kind', '')} on {namespace} {described.get('name', '')}/"

    def fail(why: str) -> _Failure:
        return _Failure("FailedGetObjectMetric", why)

    if isinstance(answer, str):
        return fail(f"{where}unable to fetch metrics from custom metrics API: {answer}")
    items = _values(answer)
    if len(items) != 1:
        return fail(f"{where}the custom metrics API server returned {len(items)} results when we asked for exactly one")
    usage = milli(items[0].get("value", 0))
    if target.get("type") == "AverageValue":
        replicas, average = _per_pod(usage, milli(target["averageValue"]), scale.running)
        status = {
            "type": "Object",
            "object": {"metric": _identifier(source), "current": {"averageValue": format_quantity(average)}},
        }
        return _Proposal(replicas, status, f"external metric {name}({go_selector(source['metric'].get('selector'))})")
    counted = _ratio_replicas(scale.replicas, usage / milli(target["value"]), pods)
    if isinstance(counted, str):
        return fail(counted)
    status = {
        "type": "Object",
        "object": {
            "describedObject": described,
            "metric": _identifier(source),
            "current": {"value": _milli_quantity(usage)},
        },
    }
    return _Proposal(counted, status, f"{described.get('kind', '')} metric {name}")


def _external_proposal(
    metric: Obj, pods: list[Obj], answer: Obj | str, scale: Scale, namespace: str
) -> _Proposal | _Failure:
    """An External metric: the sum of the values its selector picks, against ``value`` (scaled by the
    ready pods) or ``averageValue`` per running pod."""
    source = metric["external"]
    name, target = source["metric"]["name"], source["target"]
    selector = go_selector(source["metric"].get("selector"))

    def fail(why: str) -> _Failure:
        return _Failure(
            "FailedGetExternalMetric", f"unable to get external metric {namespace}/{name}/{selector}: {why}"
        )

    if isinstance(answer, str):
        return fail(f"unable to fetch metrics from external metrics API: {answer}")
    items = _values(answer)
    if not items:
        return fail("no metrics returned from external metrics API")
    usage = sum((milli(item.get("value", 0)) for item in items), Fraction(0))
    identity, description = _identifier(source), f"external metric {name}({selector})"
    if target.get("type") == "AverageValue":
        replicas, average = _per_pod(usage, milli(target["averageValue"]), scale.running)
        status = {
            "type": "External",
            "external": {"metric": identity, "current": {"averageValue": format_quantity(average)}},
        }
        return _Proposal(replicas, status, description)
    counted = _ratio_replicas(scale.replicas, usage / milli(target["value"]), pods)
    if isinstance(counted, str):
        return _Failure("FailedGetExternalMetric", counted)
    status = {"type": "External", "external": {"metric": identity, "current": {"value": _milli_quantity(usage)}}}
    return _Proposal(counted, status, description)


#: the custom and external metrics APIs, as the adapters serve them (behind APIServices)
CUSTOM_METRICS, EXTERNAL_METRICS = "/apis/custom.metrics.k8s.io/v1beta2", "/apis/external.metrics.k8s.io/v1beta1"


def metric_request(
    metric: Obj, namespace: str, pod_selector: str, plural_of: Callable[[str, str], str | None]
) -> tuple[str, dict[str, str]] | None:
    """Where kube-controller-manager asks for a Pods, Object or External metric's values: the path
    and query (None for a Resource metric, or an object of a kind ``plural_of`` cannot name)."""
    kind = metric.get("type", "")
    if kind not in _AGGREGATED:
        return None
    source = metric.get(SOURCE_FIELDS[kind]) or {}
    identity = source.get("metric") or {}
    name = quote(str(identity.get("name", "")), safe="")
    selector = identity.get("selector")
    chosen = str(label_selector_from_spec(selector)) if selector else ""
    if kind == "External":
        return f"{EXTERNAL_METRICS}/namespaces/{namespace}/{name}", {"labelSelector": chosen} if chosen else {}
    params = {"metricLabelSelector": chosen} if chosen else {}
    if kind == "Pods":
        return f"{CUSTOM_METRICS}/namespaces/{namespace}/pods/*/{name}", {"labelSelector": pod_selector, **params}
    described = source.get("describedObject") or {}
    api_version, described_kind = str(described.get("apiVersion", "")), str(described.get("kind", ""))
    if described_kind == "Namespace" and api_version in ("", "v1"):
        return f"{CUSTOM_METRICS}/namespaces/{namespace}/metrics/{name}", params
    plural = plural_of(api_version, described_kind)
    if plural is None:
        return None
    group = api_version.rpartition("/")[0]
    resource = f"{plural}.{group}" if group else plural
    target = quote(str(described.get("name", "")), safe="")
    return f"{CUSTOM_METRICS}/namespaces/{namespace}/{resource}/{target}/{name}", params


def _proposal(
    metric: Obj,
    pods: list[Obj],
    metrics: dict[str, Obj] | str,
    scale: Scale,
    now: datetime,
    answer: Obj | str | None,
    namespace: str,
) -> _Proposal | _Failure:
    """One metric's proposal; ``answer`` is what its extension API answered (Pods, Object, External)."""
    kind = metric.get("type", "")
    if kind in ("Resource", "ContainerResource"):
        return _resource_proposal(metric, pods, metrics, scale.replicas, now)
    reason, api = _AGGREGATED[kind]
    if answer is None:  # not asked: the controller found no path to ask at
        name = ((metric.get(SOURCE_FIELDS[kind]) or {}).get("metric") or {}).get("name", "")
        return _Failure(reason, f"unable to get metric {name}: no {api} path for it")
    if kind == "Pods":
        return _pods_proposal(metric, pods, answer, scale.replicas)
    if kind == "Object":
        return _object_proposal(metric, pods, answer, scale, namespace)
    return _external_proposal(metric, pods, answer, scale, namespace)


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
    answers: dict[int, Obj | str] | None = None,
) -> AutoscalerStep:
    """One sync of an autoscaler (stored version, defaulted). ``scale`` is the target's scale
    subresource, or why it could not be read; ``pods`` the pods its selector matches and ``metrics``
    their PodMetrics by pod name (or why the resource metrics API did not answer); ``answers`` what
    the custom and external metrics APIs answered for the Pods, Object and External metrics, by
    their index in ``spec.metrics`` (or why they did not)."""
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
        for index, metric in enumerate(spec.get("metrics") or []):
            answer = (answers or {}).get(index)
            outcome = _proposal(metric, pods, metrics, scale, now, answer, hpa["metadata"].get("namespace", ""))
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
