"""Resource metrics as metrics-server serves them (``metrics.k8s.io/v1beta1``): the pure parts.

Agents report *cumulative* readings (CPU seconds used since a container started, in nanoseconds, and
the memory working set), as kubelet's resource endpoints do; the API server turns two readings of the
same container into a rate over the window between them, exactly as metrics-server does with its
scrapes, and renders NodeMetrics and PodMetrics in metrics-server's spelling (``"cpu": "12345n"``,
``"memory": "5264Ki"``, a Go duration for ``window``). Keeping the agents stateless means a node does
no metrics work at all until someone asks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from minikube_py.model.quantity import Format, format_quantity
from minikube_py.model.times import instant, rfc3339

Obj = dict[str, Any]
GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
_NANO = 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Reading:
    """One cumulative reading of a container, a pod or a node."""

    micros: int  # UNIX time of the reading in microseconds (the precision of the agents' timestamps)
    cpu_ns: int  # CPU time used since ``started`` (all cores), nanoseconds
    memory: int  # working set, bytes
    started: str = ""  # when the counter began (a container's start): a new start resets the counter


@dataclass(frozen=True)
class Usage:
    """A rate: CPU in nanocores over ``window`` seconds ending at ``timestamp``, memory at that time."""

    timestamp: float
    window: float
    cpu_nanocores: int
    memory: int


def cpu_rate(previous: Reading, current: Reading) -> Usage | None:
    """The usage between two readings of one counter, or None when they do not make a rate: no time
    between them, a counter that went back, or a counter that restarted (the container did)."""
    window = current.micros - previous.micros
    used = current.cpu_ns - previous.cpu_ns
    if window <= 0 or used < 0 or previous.started != current.started:
        return None
    # integer arithmetic: a float of a UNIX time in seconds is only good to a quarter microsecond
    return Usage(current.micros / 10**6, window / 10**6, (used * 10**6 + window // 2) // window, current.memory)


def working_set(usage: int, inactive_file: int) -> int:
    """Memory in use that the kernel could not simply drop: usage less the inactive page cache, floored
    at zero, as cAdvisor computes ``container_memory_working_set_bytes`` (what metrics-server reports)."""
    return max(0, usage - inactive_file)


def cpu_quantity(nanocores: int) -> str:
    """``12345n``, ``5m``, ``2``: nanocores as a canonical decimal quantity, as metrics-server writes."""
    return format_quantity(Fraction(max(0, nanocores), _NANO))


def memory_quantity(amount: int) -> str:
    """``5264Ki`` (binary when a whole number of KiB, else plain bytes), as metrics-server writes."""
    return format_quantity(Fraction(max(0, amount)), Format.BINARY_SI)


def go_duration(seconds: float) -> str:
    """A window as Go's ``time.Duration`` prints it at millisecond precision: ``15.002s``, ``1m0.5s``,
    ``500ms``, ``0s`` (metav1.Duration, the type of ``window``)."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def _usage(usage: Usage) -> Obj:
    return {"cpu": cpu_quantity(usage.cpu_nanocores), "memory": memory_quantity(usage.memory)}


def _time(timestamp: float) -> str:
    return rfc3339(datetime.fromtimestamp(timestamp, UTC))


def node_metrics(node: Obj, usage: Usage, now: str) -> Obj:
    """A NodeMetrics for ``node`` (its labels carried over, as metrics-server does)."""
    md = node["metadata"]
    meta: Obj = {"name": md["name"], "creationTimestamp": now}
    if md.get("labels"):
        meta["labels"] = dict(md["labels"])
    return {
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": meta,
        "timestamp": _time(usage.timestamp),
        "window": go_duration(usage.window),
        "usage": _usage(usage),
    }


def pod_metrics(pod: Obj, containers: list[tuple[str, Usage]], now: str) -> Obj:
    """A PodMetrics for ``pod``: one entry per container in the spec's order, the pod's window the
    longest of theirs."""
    md = pod["metadata"]
    meta: Obj = {"name": md["name"], "namespace": md.get("namespace", ""), "creationTimestamp": now}
    if md.get("labels"):
        meta["labels"] = dict(md["labels"])
    spec = pod.get("spec") or {}
    order = {
        c.get("name"): i for i, c in enumerate((spec.get("initContainers") or []) + (spec.get("containers") or []))
    }
    containers = sorted(containers, key=lambda entry: (order.get(entry[0], len(order)), entry[0]))
    latest = max(u.timestamp for _, u in containers)
    return {
        "kind": "PodMetrics",
        "apiVersion": API_VERSION,
        "metadata": meta,
        "timestamp": _time(latest),
        "window": go_duration(max(u.window for _, u in containers)),
        "containers": [{"name": name, "usage": _usage(u)} for name, u in containers],
    }


#: (namespace, name) -> (the pod's uid, usage per container)
PodUsages = dict[tuple[str, str], tuple[str, list[tuple[str, Usage]]]]


def node_metrics_items(nodes: Iterable[Obj], usage: dict[str, Usage], now: str) -> list[Obj]:
    """NodeMetrics for those of ``nodes`` (already selected) that have a usage."""
    return [
        node_metrics(node, usage[node["metadata"]["name"]], now) for node in nodes if node["metadata"]["name"] in usage
    ]


def pod_metrics_items(pods: Iterable[Obj], usage: PodUsages, now: str) -> list[Obj]:
    """PodMetrics for those of ``pods`` (already selected) that have a usage of their own: a pod
    deleted and created again under the same name does not inherit its predecessor's figures."""
    items = []
    for pod in pods:
        md = pod["metadata"]
        found = usage.get((md.get("namespace", ""), md["name"]))
        if found is not None and found[0] == md.get("uid") and found[1]:
            items.append(pod_metrics(pod, found[1], now))
    return items


def metrics_list(kind: str, items: list[Obj]) -> Obj:
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}


def sum_usage(usages: Iterable[Usage]) -> Usage | None:
    """A pod's or a node's usage as the sum of its parts' (None for no parts)."""
    parts = list(usages)
    if not parts:
        return None
    return Usage(
        max(u.timestamp for u in parts),
        max(u.window for u in parts),
        sum(u.cpu_nanocores for u in parts),
        sum(u.memory for u in parts),
    )


@dataclass
class History:
    """The last samples of one node or pod, oldest first, for sparklines: a ring of at most ``size``
    points, so memory stays bounded however long the server runs."""

    size: int
    points: deque[Usage] = field(default_factory=deque)

    def add(self, usage: Usage) -> None:
        if self.points and self.points[-1].timestamp >= usage.timestamp:
            return  # the same scrape seen twice
        self.points.append(usage)
        while len(self.points) > self.size:
            self.points.popleft()

    def since(self, oldest: float) -> Iterator[Usage]:
        return (p for p in self.points if p.timestamp >= oldest)


def history_points(points: Iterable[Usage]) -> list[Obj]:
    """Samples as plain numbers a chart can use at once: nanocores and bytes."""
    return [
        {
            "timestamp": _time(p.timestamp),
            "window": round(p.window, 3),
            "cpuNanoCores": p.cpu_nanocores,
            "memoryBytes": p.memory,
        }
        for p in points
    ]


@dataclass(frozen=True)
class PodReadings:
    uid: str
    containers: dict[str, Reading]  # container name -> its counters


@dataclass(frozen=True)
class NodeScrape:
    """One node's ``/stats/summary``, parsed."""

    node: Reading | None  # the host's counters, when the node is the whole host
    system: dict[str, Reading]  # system containers (the agent)
    pods: dict[tuple[str, str], PodReadings]  # (namespace, name) -> the pod's containers


def _reading(cpu: Obj | None, memory: Obj | None, started: str = "") -> Reading | None:
    if not cpu or not memory or "usageCoreNanoSeconds" not in cpu or "workingSetBytes" not in memory:
        return None
    when = instant(str(cpu["time"]))
    micros = (when - _EPOCH) // timedelta(microseconds=1)
    return Reading(micros, int(cpu["usageCoreNanoSeconds"]), int(memory["workingSetBytes"]), started)


def parse_summary(summary: Obj) -> NodeScrape:
    """The counters of a kubelet Summary (stats/v1alpha1); entries without them are left out."""
    node = summary.get("node") or {}
    system = {}
    for entry in node.get("systemContainers") or []:
        if (reading := _reading(entry.get("cpu"), entry.get("memory"))) is not None:
            system[str(entry.get("name", ""))] = reading
    pods: dict[tuple[str, str], PodReadings] = {}
    for pod in summary.get("pods") or []:
        ref = pod.get("podRef") or {}
        containers = {}
        for c in pod.get("containers") or []:
            if (reading := _reading(c.get("cpu"), c.get("memory"), str(c.get("containerID", "")))) is not None:
                containers[str(c.get("name", ""))] = reading
        if containers:
            pods[(str(ref.get("namespace", "")), str(ref.get("name", "")))] = PodReadings(
                str(ref.get("uid", "")), containers
            )
    return NodeScrape(_reading(node.get("cpu"), node.get("memory")), system, pods)


@dataclass(frozen=True)
class NodeUsage:
    """What one node's last two scrapes say: its own usage and that of each of its pods."""

    node: Usage | None
    pods: PodUsages


def usage_between(previous: NodeScrape, current: NodeScrape) -> NodeUsage:
    """Rates from two scrapes of one node. A pod counts only when every container it has now has a
    rate (metrics-server's rule: a partial pod would under-report); the node is the host's counter
    when there is one, else the sum of its pods and system containers."""
    pods: PodUsages = {}
    for key, now in current.pods.items():
        before = previous.pods.get(key)
        if before is None or before.uid != now.uid:
            continue
        rates = [
            (name, cpu_rate(before.containers[name], reading))
            for name, reading in now.containers.items()
            if name in before.containers
        ]
        if len(rates) == len(now.containers) and all(u is not None for _, u in rates):
            pods[key] = (now.uid, [(name, u) for name, u in rates if u is not None])
    if current.node is not None and previous.node is not None:
        node = cpu_rate(previous.node, current.node)
    else:
        parts = [u for _, containers in pods.values() for _, u in containers]
        parts += [
            u
            for name, reading in current.system.items()
            if name in previous.system and (u := cpu_rate(previous.system[name], reading)) is not None
        ]
        node = sum_usage(parts)
    return NodeUsage(node, pods)
