"""The Prometheus metrics of every part of pykube, under the names Kubernetes gives them.

A dashboard or alert written for kube-apiserver, client-go's work queues, kube-scheduler or the
kubelet reads pykube's figures unchanged: where Kubernetes has a metric for the same thing, the name,
the labels and the histogram buckets are Kubernetes' own. Where pykube's part differs (the store is
SQL, not etcd; the service proxy's userspace mode splices in Python) the metric has a ``pykube_``
name of its own rather than a Kubernetes name that would promise something else.

The metrics are process-wide, as in Kubernetes' components (``legacyregistry``), and registered
in prometheus-client's default registry, which also carries its process collector (CPU, memory, file
descriptors of this process). What depends on one server's state (objects in its store, requests in
flight) is read at scrape time by :mod:`minikube_py.api.instrument` instead of being kept current on
every write.

Hot paths bind their label values once (``labels(...)`` returns a child that is kept) and then only
call ``inc``/``observe``: a fraction of a microsecond each. The hottest pair, the request counter
and latency histogram that every API request updates, is kept as plain numbers by
:class:`RequestMetrics` and only turned into metric families when scraped.

This module sits outside the layers (it imports nothing of pykube), so the API, the store, the
controllers, the agent and the service proxy all use the same metric objects.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# Kubernetes' components expose no ``*_created`` series; without this every counter and histogram
# child would add one, doubling the size of a scrape for nothing a kube dashboard reads.
disable_created_metrics()

# ----------------------------------------------------------------------------------- API server

#: the labels of a request as kube-apiserver's RequestInfo describes it (its ``dry_run`` label aside)
REQUEST_LABELS = ("verb", "group", "version", "resource", "subresource", "scope", "component")
#: kube-apiserver's request latency buckets
REQUEST_BUCKETS = (
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0,
    15.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip


class RequestSeries:
    """``apiserver_request_total`` and ``apiserver_request_duration_seconds`` of one label set, as
    plain numbers: the request path only adds to them; they become metric families when scraped."""

    __slots__ = ("buckets", "codes", "labels", "sum")

    def __init__(self, labels: tuple[str, ...], timed: bool) -> None:
        self.labels = labels
        self.codes: dict[int, int] = {}
        #: observations per bucket (not cumulative; the last one is +Inf); None: not timed
        self.buckets: list[int] | None = [0] * (len(REQUEST_BUCKETS) + 1) if timed else None
        self.sum = 0.0

    def count(self, code: int) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1

    def observe(self, seconds: float) -> None:
        assert self.buckets is not None
        self.buckets[bisect.bisect_left(REQUEST_BUCKETS, seconds)] += 1
        self.sum += seconds


class RequestMetrics(Collector):
    """kube-apiserver's request counter and latency histogram.

    They are the one pair of metrics every API request updates, so they skip prometheus-client's
    metric children, whose ``Histogram.observe`` takes two locks and walks the buckets in Python
    (about 1.5 µs here, against 0.2 µs for this bisection and two additions): the server is one
    event loop, so plain numbers are consistent, and a scrape, on that same loop, reads them whole."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, ...], RequestSeries] = {}

    def series(self, labels: tuple[str, ...], timed: bool) -> RequestSeries:
        """The series of ``labels`` (values of :data:`REQUEST_LABELS`), made on first use; keep it."""
        found = self._series.get(labels)
        if found is None:
            found = self._series[labels] = RequestSeries(labels, timed)
        return found

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, group, version, resource, subresource, "
            "scope, component, and HTTP response code.",
            labels=[*REQUEST_LABELS, "code"],
        )
        duration = HistogramMetricFamily(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource, subresource, "
            "scope and component (long-running requests: watches, logs, exec and port-forward, are not "
            "included).",
            labels=list(REQUEST_LABELS),
        )
        bounds = [*(floatToGoString(b) for b in REQUEST_BUCKETS), "+Inf"]
        for series in list(self._series.values()):
            for code, count in series.codes.items():
                total.add_metric([*series.labels, str(code)], count)
            if series.buckets is not None:
                cumulative = list(itertools.accumulate(series.buckets))
                duration.add_metric(list(series.labels), list(zip(bounds, cumulative, strict=True)), series.sum)
        yield total
        yield duration


REQUESTS = RequestMetrics()
REGISTRY.register(REQUESTS)

LONGRUNNING = Gauge(
    "apiserver_longrunning_requests",
    "Gauge of all active long-running apiserver requests (watches, logs, exec, port-forward) broken out by "
    "verb, group, version, resource, scope and component.",
    REQUEST_LABELS,
)
WATCHERS = Gauge(
    "apiserver_registered_watchers",
    "Number of currently registered watchers for a given resources",
    ["group", "version", "kind"],
)
WATCH_EVENTS = Counter(
    "apiserver_watch_events_total", "Number of events sent in watch clients", ["group", "version", "kind"]
)

# ----------------------------------------------------------------------------------- store

#: kube-apiserver's audit counters: events generated and sent to the backend, and events lost
AUDIT_EVENTS = Counter(
    "apiserver_audit_event_total", "Counter of audit events generated and sent to the audit backend."
)
AUDIT_ERRORS = Counter(
    "apiserver_audit_error_total",
    "Counter of audit events that failed to be audited properly. Plugin identifies the plugin affected by the error.",
    ["plugin"],
)
STORE_COMMIT_DURATION = Histogram(
    "pykube_store_commit_duration_seconds",
    "Time of one store transaction (a batch of the commits queued meanwhile, written and committed to "
    "SQLite or PostgreSQL), the counterpart of kube-apiserver's etcd_request_duration_seconds.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# ----------------------------------------------------------------------------------- controllers

#: client-go's work queue latency buckets: 10 ns to 10 s, by tens
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(10))

WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"])
WORKQUEUE_ADDS = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name"])
WORKQUEUE_RETRIES = Counter("workqueue_retries_total", "Total number of retries handled by workqueue", ["name"])
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested.",
    ["name"],
    buckets=_QUEUE_BUCKETS,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
    ["name"],
    buckets=_QUEUE_BUCKETS,
)

# ----------------------------------------------------------------------------------- scheduler

SCHEDULE_ATTEMPTS = Counter(
    "scheduler_schedule_attempts_total",
    "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, "
    "while 'error' means an internal scheduler problem.",
    ["result", "profile"],
)
SCHEDULING_ATTEMPT_DURATION = Histogram(
    "scheduler_scheduling_attempt_duration_seconds",
    "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
    ["result", "profile"],
    buckets=tuple(0.001 * 2**i for i in range(15)),
)
POD_SCHEDULING_DURATION = Histogram(
    "scheduler_pod_scheduling_sli_duration_seconds",
    "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue and might "
    "involve multiple scheduling attempts.",
    ["attempts"],
    buckets=tuple(0.01 * 2**i for i in range(20)),
)
PREEMPTION_ATTEMPTS = Counter("scheduler_preemption_attempts", "Total preemption attempts in the cluster till now")
PREEMPTION_VICTIMS = Histogram(
    "scheduler_preemption_victims", "Number of selected preemption victims", buckets=tuple(2**i for i in range(7))
)

# ----------------------------------------------------------------------------------- node agent

#: the kubelet's pod start latency buckets: half a second to an hour
_POD_START_BUCKETS = (
    0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0, 300.0,
    360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
)  # fmt: skip
POD_START_DURATION = Histogram(
    "kubelet_pod_start_duration_seconds",
    "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run "
    "(every agent of this process: the embedded node's, or a hollow cluster's many)",
    buckets=_POD_START_BUCKETS,
)

# ----------------------------------------------------------------------------------- service proxy, DNS

PROXY_CONNECTIONS = Counter(
    "pykube_proxy_connections_total",
    "TCP connections the userspace service proxy accepted, by outcome: 'connected' to an endpoint, or "
    "'failed' when no endpoint accepted (the client is reset).",
    ["result"],
)
DNS_REQUESTS = Counter(
    "coredns_dns_requests_total",
    "Counter of DNS requests made per protocol (the node's cluster DNS server).",
    ["proto"],
)
DNS_FORWARDS = Counter(
    "coredns_forward_requests_total",
    "Counter of requests forwarded to the node's upstream resolvers (names outside the cluster, and "
    "ExternalName targets).",
)
