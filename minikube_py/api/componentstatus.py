"""``/api/v1/componentstatuses``: the control plane's health, checked when asked (see
:mod:`minikube_py.model.componentstatus`).

Each component is a check run on every request, all at once, as kube-apiserver probes its
components in parallel: ``scheduler`` and ``controller-manager`` report the guarded part of the
server that runs them (healthy while it runs, also while another server leads; unhealthy while it
waits out a crash's back-off), ``etcd-0`` the datastore's answer to a trivial query. Only get and
list are served; the answers carry the deprecation warning kube-apiserver sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from minikube_py.api import notes
from minikube_py.api.handlers import json_response, wants_table
from minikube_py.api.health import datastore_problem
from minikube_py.api.tables import render_table
from minikube_py.api.tables.core import COMPONENT_STATUS
from minikube_py.guard import Health
from minikube_py.model import componentstatus as cs
from minikube_py.model import errors
from minikube_py.model.selectors import parse_field_selector, parse_label_selector
from minikube_py.store.base import Store

PATH = "/api/v1/componentstatuses"

Check = Callable[[], Awaitable[cs.Probe]]


def part_check(health: Health) -> Check:
    """A component that is a guarded part of this server: ``ok`` while it runs."""

    async def check() -> cs.Probe:
        if health.problem:
            return cs.Probe(False, health.problem)
        return cs.Probe(True, "ok")

    return check


def datastore_check(store: Store) -> Check:
    """The datastore, in etcd's place: ``ok`` when it answers, its error when it does not."""

    async def check() -> cs.Probe:
        problem = await datastore_problem(store)
        return cs.Probe(True, "ok") if problem is None else cs.Probe(False, error=problem)

    return check


class ComponentStatuses:
    """The handler of both paths; ``checks`` by component name, in the order they are listed."""

    def __init__(self, checks: Mapping[str, Check]) -> None:
        self._checks = dict(checks)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", PATH, self.list)
        router.add_route("*", PATH + "/{name}", self.get)

    async def list(self, request: web.Request) -> web.Response:
        _only_get(request)
        q = request.query
        if q.get("watch", "").lower() in ("true", "1"):
            raise errors.method_not_allowed("watch", PATH)
        try:
            labels = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
            fields = parse_field_selector(q["fieldSelector"]) if q.get("fieldSelector") else None
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        unknown = cs.unknown_field_message(fields) if fields is not None else None
        if unknown is not None:
            raise errors.bad_request(unknown)
        probes = await asyncio.gather(*(check() for check in self._checks.values()))
        items = [cs.component_status(name, probe) for name, probe in zip(self._checks, probes, strict=True)]
        return _answer(request, cs.selected(items, labels, fields), listed=True)

    async def get(self, request: web.Request) -> web.Response:
        _only_get(request)
        name = request.match_info["name"]
        check = self._checks.get(name)
        if check is None:
            # kube-apiserver answers a plain error here, which becomes a 500 without a reason
            raise errors.StatusError(500, "", f"Component not found: {name}")
        return _answer(request, [cs.component_status(name, await check())], listed=False)


def _only_get(request: web.Request) -> None:
    notes.warn(cs.DEPRECATION)
    if request.method != "GET":
        raise errors.method_not_allowed(request.method, request.path)


def _answer(request: web.Request, items: list[cs.Obj], *, listed: bool) -> web.Response:
    if wants_table(request):
        include = request.query.get("includeObject", "Metadata")
        return json_response(render_table(cs.RESOURCE, items, include_object=include, printer=COMPONENT_STATUS))
    return json_response(cs.component_list(items) if listed else items[0])
