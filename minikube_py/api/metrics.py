"""The resource metrics API (``metrics.k8s.io/v1beta1``, what metrics-server serves) and its history.

The API server reads each Ready node's ``/stats/summary`` (cumulative counters; see
:mod:`minikube_py.agent.stats`) with the client certificate it uses for logs and exec, and turns two
scrapes into rates, as metrics-server does. Nothing is scraped until someone asks: a request makes
the data fresh (a scrape when the last one is older than the interval; a second one a moment later
when the one before is too old to make a current rate), and for ``active`` seconds after the last
request a background loop keeps scraping every interval, so repeated ``kubectl top`` answer at once
and the history fills. Then it stops. Metrics are never written to the store: they are not objects,
and writing them would churn resourceVersions and watches.

Paths:

- ``/apis/metrics.k8s.io/v1beta1`` (discovery), ``.../nodes[/NAME]``, ``.../pods``,
  ``.../namespaces/NS/pods[/NAME]`` with ``labelSelector`` (and ``fieldSelector`` for pods):
  NodeMetrics and PodMetrics exactly as metrics-server writes them;
- ``/pykube/metrics/v1/nodes[/NAME]``, ``/pykube/metrics/v1/pods``,
  ``/pykube/metrics/v1/namespaces/NS/pods[/NAME]`` (``labelSelector``, ``sinceSeconds``): pykube's
  own, the samples of the last ``history`` seconds per node and pod (for sparklines), behind the same
  authentication.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import aiohttp
from aiohttp import web

from minikube_py.api.discovery import api_resource, api_resource_list
from minikube_py.api.handlers import json_response, parse_selectors, wants_table
from minikube_py.api.registry import ListOptions, Registry
from minikube_py.api.streaming import kubelet_endpoint
from minikube_py.guard import cancel_and_wait
from minikube_py.model import errors
from minikube_py.model import metrics as m
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.model.quantity import Format, format_quantity, parse_quantity
from minikube_py.model.times import rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]

#: metrics-server's default --metric-resolution
INTERVAL = 15.0
#: how long after the last request the server goes on scraping by itself
ACTIVE = 300.0
#: how much history is kept per node and pod
HISTORY = 600.0
#: the pause between two scrapes when there is no recent one to make a rate with
SHORT_WINDOW = 1.0
#: one node's answer may take this long; a slower node is left out of that round
SCRAPE_TIMEOUT = 5.0
#: nodes scraped at once
CONCURRENCY = 32
HISTORY_PREFIX = "/pykube/metrics/v1"


@dataclass
class _Node:
    previous: m.NodeScrape | None = None
    current: m.NodeScrape | None = None


class ResourceMetrics:
    """Scrapes the nodes on demand and keeps the latest usage and a short history in memory."""

    def __init__(
        self,
        registry: Registry,
        kubelet_ssl: ssl.SSLContext,
        *,
        interval: float = INTERVAL,
        active: float = ACTIVE,
        history: float = HISTORY,
    ) -> None:
        self._registry = registry
        self._ssl = kubelet_ssl
        self.interval, self.active, self.history = interval, active, history
        self._clock = time.monotonic
        nodes, pods = by_plural("", "v1", "nodes"), by_plural("", "v1", "pods")
        assert nodes is not None and pods is not None
        self._nodes_rt, self._pods_rt = nodes, pods
        self._nodes: dict[str, _Node] = {}
        self.node_usage: dict[str, m.Usage] = {}
        self.pod_usage: m.PodUsages = {}
        self._node_history: dict[str, m.History] = {}
        self._pod_history: dict[tuple[str, str], tuple[str, m.History]] = {}
        self._refreshed = float("-inf")
        self._asked = float("-inf")
        self._wake = asyncio.Event()
        self._refreshing: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------------------ freshness

    async def fresh(self) -> None:
        """Called by every request: note the interest and make the data current."""
        self._asked = self._clock()
        self._wake.set()
        if self._clock() - self._refreshed >= self.interval:
            await self._refresh_shared()

    async def _refresh_shared(self) -> None:
        """One refresh at a time: concurrent requests and the loop wait for the same one."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh(), name="metrics scrape")
        await asyncio.shield(self._refreshing)

    async def run(self) -> None:
        """Scrape every interval while someone asked within ``active`` seconds; sleep otherwise."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._clock() - self._asked < self.active:
                try:
                    if self._clock() - self._refreshed >= self.interval:
                        await self._refresh_shared()
                except Exception:
                    log.exception("metrics: a scrape round failed")  # the next one, an interval on, may do better
                    await asyncio.sleep(self.interval)
                    continue
                await asyncio.sleep(max(0.05, self._refreshed + self.interval - self._clock()))

    async def close(self) -> None:
        if self._refreshing is not None:
            with contextlib.suppress(Exception):
                await cancel_and_wait(self._refreshing)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------------------ scraping

    async def _refresh(self) -> None:
        started = self._clock()
        page = await self._registry.list(self._nodes_rt, None)
        endpoints = {}
        for node in page.items:
            if _ready(node):
                with contextlib.suppress(errors.StatusError):
                    endpoints[node["metadata"]["name"]] = kubelet_endpoint(node)
        for gone in self._nodes.keys() - endpoints.keys():
            del self._nodes[gone]
        await self._scrape(endpoints)
        # a node whose previous scrape is old (nobody asked for a while) would report an average over
        # that long gap: scrape it again shortly for a current rate
        stale = {name: url for name, url in endpoints.items() if self._needs_second_look(name)}
        if stale:
            await asyncio.sleep(SHORT_WINDOW)
            await self._scrape(stale)
        self._refreshed = started
        self._recompute()

    def _needs_second_look(self, name: str) -> bool:
        state = self._nodes.get(name)
        if state is None or state.current is None:
            return False
        if state.previous is None:
            return True
        return _newest(state.current) - _newest(state.previous) > 2 * self.interval

    async def _scrape(self, endpoints: dict[str, str]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONCURRENCY, ssl=self._ssl),
                timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT),
            )
        session = self._session
        results = await asyncio.gather(*(self._scrape_one(session, name, url) for name, url in endpoints.items()))
        for name, scrape in zip(endpoints, results, strict=True):
            state = self._nodes.setdefault(name, _Node())
            if scrape is None:
                state.previous = state.current = None  # no current figure: the node is left out for now
                continue
            state.previous, state.current = state.current, scrape

    async def _scrape_one(self, session: aiohttp.ClientSession, name: str, url: str) -> m.NodeScrape | None:
        try:
            # the node's own serving certificate, or no figures: a scrape fails closed as a dial does
            async with session.get(f"{url}/stats/summary", server_hostname=name) as resp:
                if resp.status != 200:
                    log.info("metrics: node %s answered %s", name, resp.status)
                    return None
                return m.parse_summary(await resp.json())
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as e:
            log.info("metrics: cannot scrape node %s: %s", name, e or type(e).__name__)
            return None

    def _recompute(self) -> None:
        nodes: dict[str, m.Usage] = {}
        pods: m.PodUsages = {}
        for name, state in self._nodes.items():
            if state.previous is None or state.current is None:
                continue
            usage = m.usage_between(state.previous, state.current)
            if usage.node is not None:
                nodes[name] = usage.node
            pods.update(usage.pods)
        self.node_usage, self.pod_usage = nodes, pods
        size = max(1, round(self.history / self.interval))
        for name, node_usage in nodes.items():
            self._node_history.setdefault(name, m.History(size)).add(node_usage)
        for key, (uid, containers) in pods.items():
            seen = self._pod_history.get(key)
            if seen is None or seen[0] != uid:  # a new pod of the same name starts a new line
                seen = self._pod_history[key] = (uid, m.History(size))
            total = m.sum_usage(u for _, u in containers)
            if total is not None:
                seen[1].add(total)
        oldest = time.time() - self.history
        for name in [n for n, h in self._node_history.items() if not any(h.since(oldest))]:
            del self._node_history[name]
        for key in [k for k, (_, h) in self._pod_history.items() if not any(h.since(oldest))]:
            del self._pod_history[key]

    # ------------------------------------------------------------------------------ reading

    def node_samples(self, name: str, seconds: float | None = None) -> list[m.Usage]:
        """The samples of a node in the last ``seconds`` (all that are kept when None), oldest first:
        what the history path serves, for a caller in this process (the dashboard) as well."""
        history = self._node_history.get(name)
        return list(history.since(self._oldest(seconds))) if history is not None else []

    def pod_samples(self, namespace: str, name: str, uid: str, seconds: float | None = None) -> list[m.Usage]:
        """The samples of a pod (its containers summed), as :meth:`node_samples`; none for another
        pod that had the same name (``uid``)."""
        seen = self._pod_history.get((namespace, name))
        if seen is None or seen[0] != uid:
            return []
        return list(seen[1].since(self._oldest(seconds)))

    def _oldest(self, seconds: float | None) -> float:
        return time.time() - min(self.history, seconds if seconds is not None else self.history)

    # ------------------------------------------------------------------------------ HTTP

    async def _objects_for(
        self, rt: ResourceType, request: web.Request, namespace: str | None, name: str | None
    ) -> list[Obj]:
        """The named object (none when it does not exist), or those the request's selectors match."""
        if name is not None:
            try:
                return [await self._registry.get(rt, namespace, name)]
            except errors.StatusError as exc:
                if exc.code == 404:
                    return []
                raise
        labels, fields = parse_selectors(rt, request.query)
        return (await self._registry.list(rt, namespace, ListOptions(labels, fields))).items

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Everything under ``/apis/metrics.k8s.io/v1beta1``: get and list only."""
        if request.method != "GET":
            raise errors.method_not_allowed(request.method, request.path)
        segments = [s for s in request.match_info["tail"].split("/") if s]
        if not segments:
            return json_response(resource_list())
        namespace, kind, name = _parse(segments)
        if kind is None:
            raise errors.unknown_resource(request.path)
        await self.fresh()
        now = rfc3339()
        if kind == "nodes":
            items = m.node_metrics_items(
                await self._objects_for(self._nodes_rt, request, None, name), self.node_usage, now
            )
            return _answer(request, items, "NodeMetrics", "nodemetrics", name)
        items = m.pod_metrics_items(
            await self._objects_for(self._pods_rt, request, namespace, name), self.pod_usage, now
        )
        return _answer(request, items, "PodMetrics", "podmetrics", f"{namespace}/{name}" if name else None)

    async def serve_history(self, request: web.Request) -> web.StreamResponse:
        """Everything under ``/pykube/metrics/v1``: the samples of the last minutes, or of the last
        ``sinceSeconds`` (a chart that polls asks only for what is new)."""
        if request.method != "GET":
            raise errors.method_not_allowed(request.method, request.path)
        segments = [s for s in request.match_info["tail"].split("/") if s]
        namespace, kind, name = _parse(segments)
        if kind is None:
            raise errors.unknown_resource(request.path)
        seconds = _seconds(request.query.get("sinceSeconds"))
        await self.fresh()
        items: list[Obj] = []
        if kind == "nodes":
            for node in await self._objects_for(self._nodes_rt, request, None, name):
                md = node["metadata"]
                items.append(
                    {
                        "metadata": {"name": md["name"]},
                        "samples": m.history_points(self.node_samples(md["name"], seconds)),
                    }
                )
        else:
            for pod in await self._objects_for(self._pods_rt, request, namespace, name):
                md = pod["metadata"]
                samples = self.pod_samples(md.get("namespace", ""), md["name"], md.get("uid", ""), seconds)
                items.append(
                    {
                        "metadata": {"name": md["name"], "namespace": md.get("namespace", "")},
                        "samples": m.history_points(samples),
                    }
                )
        if name is not None and not items:
            raise _not_found(
                "nodemetrics" if kind == "nodes" else "podmetrics", name if kind == "nodes" else f"{namespace}/{name}"
            )
        return json_response(
            {
                "kind": "MetricsHistory",
                "apiVersion": "pykube.io/v1",
                "interval": m.go_duration(self.interval),
                "period": m.go_duration(self.history),
                "items": items,
            }
        )


def resource_list() -> Obj:
    """Discovery of ``metrics.k8s.io/v1beta1``, as metrics-server's APIService answers it."""
    return api_resource_list(
        m.API_VERSION,
        [
            api_resource("nodes", "NodeMetrics", False, ["get", "list"]),
            api_resource("pods", "PodMetrics", True, ["get", "list"]),
        ],
    )


def _parse(segments: list[str]) -> tuple[str | None, str | None, str | None]:
    """(namespace, "nodes" | "pods" | None when the path names neither, name)."""
    namespace = None
    if len(segments) >= 3 and segments[0] == "namespaces":
        namespace, segments = segments[1], segments[2:]
        if segments[0] != "pods":
            return None, None, None
    if not segments or segments[0] not in ("nodes", "pods") or len(segments) > 2:
        return None, None, None
    return namespace, segments[0], segments[1] if len(segments) == 2 else None


def _seconds(raw: str | None) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        seconds = int(raw)
    except ValueError:
        raise errors.bad_request(f"sinceSeconds: invalid integer {raw!r}") from None
    if seconds <= 0:
        raise errors.bad_request("sinceSeconds: must be greater than 0")
    return seconds


def _ready(node: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def _newest(scrape: m.NodeScrape) -> float:
    stamps = [r.micros for r in (scrape.node, *scrape.system.values()) if r is not None]
    stamps += [r.micros for p in scrape.pods.values() for r in p.containers.values()]
    return max(stamps, default=0) / 10**6


def _not_found(resource: str, name: str) -> errors.StatusError:
    return errors.StatusError(
        404, "NotFound", f'{resource}.{m.GROUP} "{name}" not found', {"name": name, "group": m.GROUP, "kind": resource}
    )


def _answer(request: web.Request, items: list[Obj], kind: str, resource: str, name: str | None) -> web.Response:
    if name is not None and not items:
        raise _not_found(resource, name)
    if wants_table(request):
        return json_response(_table(items))
    return json_response(m.metrics_list(kind, items) if name is None else items[0])


def _table(items: list[Obj]) -> Obj:
    """``kubectl get podmetrics|nodemetrics``: metrics-server's columns (name, cpu, memory, window),
    a pod's usage summed over its containers, each row carrying its object."""
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource", "priority": 0}
    ]
    columns += [
        {"name": name, "type": "string", "format": "quantity", "description": "", "priority": 0}
        for name in ("cpu", "memory")
    ]
    columns.append({"name": "Window", "type": "string", "format": "duration", "description": "", "priority": 0})
    rows = []
    for item in items:
        if "usage" in item:
            usage = item["usage"]
        else:
            usage = {
                resource: format_quantity(
                    sum((parse_quantity(c["usage"][resource]) for c in item["containers"]), Fraction(0)),
                    Format.BINARY_SI if resource == "memory" else None,
                )
                for resource in ("cpu", "memory")
            }
        rows.append(
            {"cells": [item["metadata"]["name"], usage["cpu"], usage["memory"], item["window"]], "object": item}
        )
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows}


def metrics_context(metrics: ResourceMetrics) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's cleanup context: the sampling loop runs with the app and stops with it."""

    async def context(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(metrics.run(), name="metrics sampling")
        yield
        await cancel_and_wait(task)
        await metrics.close()

    return context
