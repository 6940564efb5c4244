"""Turns a REST path into the resource, namespace, name and subresource it addresses.

One catch-all route per API root is parsed here instead of many aiohttp routes, because Kubernetes
paths are ambiguous by shape alone: ``/api/v1/namespaces/x/status`` is the status of namespace ``x``
while ``/api/v1/namespaces/x/pods`` lists pods in it. Only the kind table can tell them apart.
"""

from __future__ import annotations

from typing import NamedTuple

from aiohttp import web

from minikube_py.model import kinds
from minikube_py.model.kinds import ResourceType


class Target(NamedTuple):
    """What a resource path addresses (a tuple: every API request makes one, and a NamedTuple is
    built in a fraction of a frozen dataclass's time)."""

    rt: ResourceType
    namespace: str | None  # None: every namespace (collection of a namespaced kind) or cluster-scoped
    name: str | None
    subresource: str | None


#: a request's target, resolved once by the metrics middleware and used again by the resource handlers
ROUTE = web.RequestKey("route", Target)


class NoRoute(Exception):
    """The path names no resource pykube serves (answered with 404)."""


def parse(group: str, version: str, segments: list[str]) -> Target:
    """Resolve the segments after ``/api/v1`` or ``/apis/<group>/<version>``."""
    if segments and segments[0] == "watch":
        raise NoRoute("the deprecated /watch/ paths are not served; use ?watch=true")
    namespace: str | None = None
    rest = segments
    rt: ResourceType | None = None
    if len(segments) >= 3 and segments[0] == "namespaces":
        candidate = kinds.by_plural(group, version, segments[2])
        is_ns_subresource = len(segments) == 3 and _namespace_subresource(group, version, segments[2])
        if candidate is not None and candidate.namespaced and not is_ns_subresource:
            namespace, rest, rt = segments[1], segments[2:], candidate
    if not rest or (len(rest) > 3 and rest[2] != "proxy"):  # a proxy's path goes on to the backend's
        raise NoRoute("/".join(segments))
    if rt is None:
        rt = kinds.by_plural(group, version, rest[0])
        if rt is None:
            raise NoRoute(rest[0])
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in rt.subresources:
        raise NoRoute(f"{rest[0]}/{sub}")
    if name == "":
        raise NoRoute("/".join(segments))
    return Target(rt, namespace, name, sub)


def parse_path(path: str) -> Target | None:
    """The target of a whole request path, None when it names no served resource (discovery,
    /version, an unknown resource...)."""
    if path.startswith("/api/v1/"):
        group, version, tail = "", "v1", path[8:]
    elif path.startswith("/apis/"):
        parts = path[6:].split("/", 2)
        if len(parts) < 3:
            return None
        group, version, tail = parts
    else:
        return None
    segments = tail.split("/")
    if "" in segments:
        segments = [s for s in segments if s]
    try:
        return parse(group, version, segments)
    except NoRoute:
        return None


def _namespace_subresource(group: str, version: str, segment: str) -> bool:
    ns = kinds.by_plural(group, version, "namespaces")
    return ns is not None and segment in ns.subresources
