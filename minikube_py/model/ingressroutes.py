"""The routing decision of pykube's ingress controller, with no I/O: which backend a request goes to.

:func:`build_table` turns the Ingresses of pykube's classes into a :class:`RoutingTable`, rebuilt
whole on every change and swapped in at once by the controller, so a request sees either the old
table or the new one. A request is routed as the Ingress documentation says and ingress-nginx does:

- host: an exact rule host first, then a wildcard (``*.example.com`` matches one more label only),
  then the rules without a host;
- path, within a host: the longest rule path first, ``Exact`` before ``Prefix`` on a tie. ``Prefix``
  matches element-wise (``/foo`` matches ``/foo`` and ``/foo/bar``, not ``/foobar``; a trailing slash
  of the rule is ignored); ``ImplementationSpecific`` is ``Prefix`` here;
- nothing matches: the default backend of the oldest Ingress that has one, else nothing (404).

Two Ingresses with the same host and path: the older one serves it, unless the newer is a canary
(``nginx.ingress.kubernetes.io/canary: "true"``), which then takes a share of the route's requests,
decided by ingress-nginx's precedence: ``canary-by-header`` (with ``canary-by-header-value``, or the
values ``always``/``never``), then ``canary-by-cookie`` (``always``/``never``), then
``canary-weight`` out of ``canary-weight-total`` (100).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minikube_py.model.lenient import as_dict

Obj = dict[str, Any]

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
CANARY_WEIGHT_TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total"
CANARY_BY_HEADER = "nginx.ingress.kubernetes.io/canary-by-header"
CANARY_BY_HEADER_VALUE = "nginx.ingress.kubernetes.io/canary-by-header-value"
CANARY_BY_COOKIE = "nginx.ingress.kubernetes.io/canary-by-cookie"


@dataclass(frozen=True)
class Backend:
    """A Service port an Ingress sends to: ``port`` is its number or its name."""

    namespace: str
    service: str
    port: int | str


@dataclass(frozen=True)
class Canary:
    backend: Backend
    weight: int = 0
    weight_total: int = 100
    header: str = ""
    header_value: str = ""
    cookie: str = ""

    def takes(self, headers: Mapping[str, str], cookies: Mapping[str, str], rng: random.Random) -> bool:
        """Whether this request goes to the canary (ingress-nginx's order: header, cookie, weight).
        ``headers`` are looked up by lower-case name."""
        if self.header:
            value = headers.get(self.header.lower())
            if self.header_value:
                if value == self.header_value:
                    return True
            elif value == "always":
                return True
            elif value == "never":
                return False
        if self.cookie:
            value = cookies.get(self.cookie)
            if value == "always":
                return True
            if value == "never":
                return False
        return self.weight > 0 and rng.randrange(self.weight_total) < self.weight


@dataclass(frozen=True)
class Route:
    host: str  # "" for every host
    path: str
    path_type: str
    backend: Backend
    canary: Canary | None = None

    def matches(self, path: str) -> bool:
        if self.path_type == "Exact":
            return path == self.path
        prefix = self.path.rstrip("/")
        return not prefix or path == prefix or path.startswith(prefix + "/")

    def pick(self, headers: Mapping[str, str], cookies: Mapping[str, str], rng: random.Random) -> Backend:
        if self.canary is not None and self.canary.takes(headers, cookies, rng):
            return self.canary.backend
        return self.backend


@dataclass(frozen=True)
class TlsSecret:
    namespace: str
    name: str


def _order(route: Route) -> tuple[int, int]:
    return -len(route.path), 0 if route.path_type == "Exact" else 1


def normal_host(host: str) -> str:
    """A Host header or SNI name as rules name hosts: lower case, no port, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _wildcard_key(host: str) -> str | None:
    """``a.example.com`` -> ``example.com``, the suffix a ``*.example.com`` rule is stored under."""
    first, dot, rest = host.partition(".")
    return rest if dot and first else None


@dataclass(frozen=True)
class RoutingTable:
    exact: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)
    wildcard: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)  # by suffix
    any_host: tuple[Route, ...] = ()
    default: Backend | None = None
    tls_exact: Mapping[str, TlsSecret] = field(default_factory=dict)
    tls_wildcard: Mapping[str, TlsSecret] = field(default_factory=dict)

    def _by_host(self, host: str) -> Iterable[tuple[Route, ...]]:
        if host in self.exact:
            yield self.exact[host]
        key = _wildcard_key(host)
        if key is not None and key in self.wildcard:
            yield self.wildcard[key]
        yield self.any_host

    def route(self, host: str, path: str) -> Route | None:
        """The route serving ``path`` on ``host`` (None: the default backend, if any, serves it)."""
        host = normal_host(host)
        for routes in self._by_host(host):
            for route in routes:
                if route.matches(path):
                    return route
        return None

    def backend(
        self, host: str, path: str, headers: Mapping[str, str], cookies: Mapping[str, str], rng: random.Random
    ) -> Backend | None:
        """Where a request goes: its route's backend or canary, else the default backend; None: 404."""
        route = self.route(host, path)
        return route.pick(headers, cookies, rng) if route is not None else self.default

    def tls_secret(self, server_name: str) -> TlsSecret | None:
        """The certificate for an SNI name (None: the controller's default certificate)."""
        host = normal_host(server_name)
        if host in self.tls_exact:
            return self.tls_exact[host]
        key = _wildcard_key(host)
        return self.tls_wildcard.get(key) if key is not None else None

    def secrets(self) -> set[TlsSecret]:
        return {*self.tls_exact.values(), *self.tls_wildcard.values()}


def _backend(namespace: str, raw: Any) -> Backend | None:
    """A service backend (resource backends name objects this controller cannot send to)."""
    service = as_dict(as_dict(raw).get("service"))
    port = as_dict(service.get("port"))
    number, name = port.get("number"), port.get("name")
    if not service.get("name") or not (number or name):
        return None
    return Backend(namespace, str(service["name"]), int(number) if number else str(name))


def _int(text: Any, fallback: int) -> int:
    try:
        return int(str(text))
    except ValueError:
        return fallback


def _canary(annotations: Mapping[str, str], backend: Backend) -> Canary:
    total = max(1, _int(annotations.get(CANARY_WEIGHT_TOTAL), 100))
    return Canary(
        backend,
        weight=min(total, max(0, _int(annotations.get(CANARY_WEIGHT), 0))),
        weight_total=total,
        header=annotations.get(CANARY_BY_HEADER, ""),
        header_value=annotations.get(CANARY_BY_HEADER_VALUE, ""),
        cookie=annotations.get(CANARY_BY_COOKIE, ""),
    )


def _age(ingress: Obj) -> tuple[str, str, str]:
    md = ingress["metadata"]
    return str(md.get("creationTimestamp", "")), md.get("namespace", ""), md["name"]


def build_table(ingresses: Iterable[Obj]) -> RoutingTable:
    """The routing table of the given Ingresses (those of pykube's classes)."""
    ordered = sorted(ingresses, key=_age)
    mains: dict[tuple[str, str, str], Route] = {}
    canaries: dict[tuple[str, str], Canary] = {}
    default: Backend | None = None
    tls_exact: dict[str, TlsSecret] = {}
    tls_wildcard: dict[str, TlsSecret] = {}
    for ingress in ordered:
        md = ingress["metadata"]
        namespace = md.get("namespace", "default")
        annotations = as_dict(md.get("annotations"))
        is_canary = annotations.get(CANARY) == "true"
        spec = as_dict(ingress.get("spec"))
        if default is None and not is_canary:
            default = _backend(namespace, spec.get("defaultBackend"))
        for rule in spec.get("rules") or ():
            host = str(as_dict(rule).get("host") or "").lower()
            for entry in as_dict(as_dict(rule).get("http")).get("paths") or ():
                entry = as_dict(entry)
                backend = _backend(namespace, entry.get("backend"))
                if backend is None:
                    continue
                path, path_type = str(entry.get("path") or "/"), str(entry.get("pathType") or "Prefix")
                if is_canary:
                    canaries.setdefault((host, path), _canary(annotations, backend))
                elif (host, path, path_type) not in mains:
                    mains[host, path, path_type] = Route(host, path, path_type, backend)
        if not is_canary:
            for tls in spec.get("tls") or ():
                secret = as_dict(tls).get("secretName")
                if not secret:
                    continue
                for host in as_dict(tls).get("hosts") or ():
                    host = str(host).lower()
                    target, name = (tls_wildcard, host[2:]) if host.startswith("*.") else (tls_exact, host)
                    target.setdefault(name, TlsSecret(namespace, str(secret)))
    exact: dict[str, list[Route]] = {}
    wildcard: dict[str, list[Route]] = {}
    any_host: list[Route] = []
    for route in mains.values():
        canary = canaries.get((route.host, route.path))
        if canary is not None:
            route = Route(route.host, route.path, route.path_type, route.backend, canary)
        if not route.host:
            any_host.append(route)
        elif route.host.startswith("*."):
            wildcard.setdefault(route.host[2:], []).append(route)
        else:
            exact.setdefault(route.host, []).append(route)
    return RoutingTable(
        exact={h: tuple(sorted(rs, key=_order)) for h, rs in exact.items()},
        wildcard={h: tuple(sorted(rs, key=_order)) for h, rs in wildcard.items()},
        any_host=tuple(sorted(any_host, key=_order)),
        default=default,
        tls_exact=tls_exact,
        tls_wildcard=tls_wildcard,
    )
