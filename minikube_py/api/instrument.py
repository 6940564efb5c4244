"""Request metrics and the ``/metrics`` endpoint.

:func:`request_labels` names a request as kube-apiserver's RequestInfo does (verb, group, version,
resource, subresource, scope), so ``apiserver_request_total`` and
``apiserver_request_duration_seconds`` read as a Kubernetes cluster's. The middleware keeps the
series of every label set it has met, so a request costs one path resolution (which the resource
handlers then reuse), one dict lookup and a few additions, about a microsecond in all; label values
come only from the kind table and a fixed verb set, so no client can grow the series without bound.

What describes one server's state rather than events (objects in its store, requests in flight) is
read when Prometheus scrapes, by :class:`ServerCollector`, instead of being kept current on every
write.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import NamedTuple

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from minikube_py import metrics
from minikube_py.api import routing
from minikube_py.api.connections import STREAMING_SUBRESOURCES
from minikube_py.model import kinds
from minikube_py.store.base import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COMPONENT = "apiserver"
#: subresources kube-apiserver reports with the CONNECT verb, whatever the HTTP method
_CONNECT = frozenset({"exec", "attach", "portforward", "proxy"})
_APPLY = "application/apply-patch"


class RequestLabels(NamedTuple):
    verb: str
    group: str
    version: str
    resource: str
    subresource: str
    scope: str

    @property
    def long_running(self) -> bool:
        """Watches and streams: counted in ``apiserver_longrunning_requests``, not in the latency."""
        return self.verb == "WATCH" or self.subresource in STREAMING_SUBRESOURCES


def request_labels(method: str, path: str, *, watch: bool = False, apply: bool = False) -> RequestLabels:
    """How kube-apiserver labels a request to ``path``: see :func:`labels_of`."""
    return labels_of(method, routing.parse_path(path), watch=watch, apply=apply)


def labels_of(method: str, target: routing.Target | None, *, watch: bool, apply: bool) -> RequestLabels:
    """How kube-apiserver labels a request: GET is LIST on a collection and WATCH with ``watch=true``,
    PATCH is APPLY for server-side apply, DELETE on a collection is DELETECOLLECTION, exec/attach/
    port-forward are CONNECT; scope is ``resource`` for a named object, ``namespace`` for a
    collection in one namespace, ``cluster`` for the rest. A path that names no served resource
    (``target`` None: discovery, /version, /metrics, an unknown resource) is a non-resource request:
    the HTTP method and empty labels."""
    if target is None:
        return RequestLabels(method, "", "", "", "", "")
    rt, namespace, name, sub = target
    sub = sub or ""
    scope = "resource" if name is not None else "namespace" if namespace is not None else "cluster"
    if sub in _CONNECT:
        verb = "CONNECT"
    elif method == "GET":
        verb = "WATCH" if watch else ("GET" if name is not None else "LIST")
    elif method == "PATCH" and apply:
        verb = "APPLY"
    elif method == "DELETE" and name is None:
        verb = "DELETECOLLECTION"
    else:
        verb = method
    return RequestLabels(verb, rt.group, rt.version, rt.plural, sub, scope)


class _Series:
    """What one label set updates: its request count and latency, or its long-running gauge."""

    __slots__ = ("longrunning", "requests")

    def __init__(self, labels: RequestLabels) -> None:
        values = (*labels, COMPONENT)
        long_running = labels.long_running
        self.requests = metrics.REQUESTS.series(values, timed=not long_running)
        self.longrunning = metrics.LONGRUNNING.labels(*values) if long_running else None


def metrics_middleware() -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Counts every request by its labels and final HTTP code (errors included: this runs outside
    the middleware that turns them into Status responses) and times the ones that are not
    long-running. A request whose client went away before an answer is not counted, as no code was
    sent."""
    series: dict[RequestLabels, _Series] = {}
    clock = time.perf_counter

    @web.middleware
    async def instrument(request: web.Request, handler: Handler) -> web.StreamResponse:
        method = request.method
        watch = method == "GET" and "watch" in request.query_string and _flag(request.query.get("watch"))
        apply = method == "PATCH" and request.headers.get("Content-Type", "").startswith(_APPLY)
        target = routing.parse_path(request.path)
        if target is not None:
            request[routing.ROUTE] = target  # the resource handlers need not parse the path again
        labels = labels_of(method, target, watch=watch, apply=apply)
        found = series.get(labels)
        if found is None:
            found = series[labels] = _Series(labels)
        requests = found.requests
        if found.longrunning is not None:
            found.longrunning.inc()  # type: ignore[attr-defined]
            try:
                response = await handler(request)
            finally:
                found.longrunning.dec()  # type: ignore[attr-defined]
            requests.count(response.status)
            return response
        start = clock()
        response = await handler(request)
        requests.observe(clock() - start)
        requests.count(response.status)
        return response

    return instrument


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


class ServerCollector(Collector):
    """One server's exposition: the process-wide metrics of :mod:`minikube_py.metrics` (and the
    process collector), plus what is read from this server's state at scrape time."""

    def __init__(self, store: Store, inflight: dict[bool, int]) -> None:
        self._store = store
        self._inflight = inflight

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from self._own()

    def _own(self) -> Iterable[Metric]:
        inflight = GaugeMetricFamily(
            "apiserver_current_inflight_requests",
            "Number of requests currently being served (long-running ones not counted), by kind: readOnly or mutating.",
            labels=["request_kind"],
        )
        inflight.add_metric(["readOnly"], self._inflight[False])
        inflight.add_metric(["mutating"], self._inflight[True])
        yield inflight
        objects = GaugeMetricFamily(
            "apiserver_storage_objects",
            "Number of stored objects at the time of last check split by kind.",
            labels=["resource"],
        )
        for rt in kinds.stored_types():
            objects.add_metric([rt.qualified], self._store.count(rt.prefix()))
        yield objects


def metrics_handler(collector: ServerCollector) -> Handler:
    """``GET /metrics``: Prometheus' text format (authenticated like every API path)."""

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(collector), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return scrape
