"""The pure half of the API server's proxy subresources (``services/proxy``, ``pods/proxy``,
``nodes/proxy``): which backend a request names and which headers cross the proxy.

``kubectl proxy``, ``kubectl cluster-info`` and dashboards address a backend by an API path whose
object name may carry a scheme and a port (``https:web:8443``), as kube-apiserver reads it; a
service's name resolves to one ready address of its Endpoints at random, as kube-apiserver picks.
Everything here is decided from objects already read, so the I/O half
(:mod:`minikube_py.api.proxy`) only reads, dials and relays.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple
from urllib.parse import unquote

from minikube_py.model import errors

Obj = dict[str, Any]

#: the schemes a proxied name may carry ("" is plain HTTP)
SCHEMES = frozenset({"", "http", "https"})

#: a proxy request's path: the object, then ``/proxy``, then the backend's own path
PROXY_PATH = re.compile(r"^/api/v1/(?:namespaces/[^/]+/(?:pods|services)|nodes)/[^/]+/proxy(?:/|$)")

#: hop-by-hop headers (RFC 9110 7.6.1), which describe one connection and never cross a proxy
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: what the API server consumed itself: the caller's credentials and impersonation never reach a
#: backend, as kube-apiserver drops them once it has authenticated the request; and ``Expect:
#: 100-continue``, which the API server answered already (forwarded, a backend that does not send
#: its own 100 would leave the body waiting for it)
CONSUMED = frozenset({"authorization", "impersonate-user", "impersonate-group", "impersonate-uid", "expect"})
_CONSUMED_PREFIX = "impersonate-extra-"
#: the headers a WebSocket client sends for the handshake, which the relay's own handshake makes anew
WEBSOCKET_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
    }
)

#: the agent's paths (see :mod:`minikube_py.agent.server`): ``nodes/proxy`` forwards only these,
#: since the agent trusts the API server's identity with everything it serves
_AGENT_PATHS = re.compile(
    r"^/(?:healthz|stats/summary|containerLogs/[^/]+/[^/]+/[^/]+|exec/[^/]+/[^/]+/[^/]+"
    r"|portForward/[^/]+/[^/]+)$"
)


class Backend(NamedTuple):
    """Where a proxied request goes: ``scheme://host:port``."""

    scheme: str
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class ProxyName(NamedTuple):
    """A proxied object's name as written in the path: ``[scheme:]name[:port]``."""

    scheme: str
    name: str
    port: str


def split_name(ident: str) -> ProxyName | None:
    """``name``, ``name:port`` or ``scheme:name:port`` (port a number or a port's name), None when
    malformed: more parts, an empty name or a scheme other than http/https."""
    parts = ident.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, (name, port) = "", parts
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return None
    if not name or scheme not in SCHEMES:
        return None
    return ProxyName(scheme, name, port)


def service_port_name(service: Obj, port: str) -> str:
    """The service port a request names, by the name its Endpoints use: a number is looked up among
    the service's ports (503 when it has none such), a name or "" (the unnamed port) stands as is."""
    if not port.isdigit():
        return port
    for entry in (service.get("spec") or {}).get("ports") or []:
        if entry.get("port") == int(port):
            return str(entry.get("name") or "")
    name = service["metadata"]["name"]
    raise unavailable(f'no service port {int(port)} found for service "{name}"')


def pick_service_endpoint(
    endpoints: Obj | None,
    port_name: str,
    scheme: str,
    service: str,
    choose: Callable[[Sequence[Any]], Any] = random.choice,
) -> Backend:
    """A ready address of the Endpoints subset serving ``port_name``, chosen by ``choose`` (random,
    as kube-apiserver spreads proxied requests); 503 with kube-apiserver's words when there is none."""
    subsets = [s for s in (endpoints or {}).get("subsets") or [] if s.get("addresses")]
    candidates = [
        (address["ip"], port["port"])
        for s in subsets
        for port in s.get("ports") or []
        if str(port.get("name") or "") == port_name
        for address in s["addresses"]
    ]
    if not candidates:
        raise unavailable(f'no endpoints available for service "{service}"')
    ip, number = choose(candidates)
    return Backend(scheme or "http", ip, int(number))


def pod_backend(pod: Obj, scheme: str, port: str) -> Backend:
    """A pod's IP and ``port``: a number, a container port's name, or "" for the first declared
    container port (else 80, as a URL without a port would reach)."""
    name = pod["metadata"]["name"]
    ports = [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]
    if port.isdigit():
        number = int(port)
    elif port:
        found = [p["containerPort"] for p in ports if p.get("name") == port]
        if not found:
            raise errors.bad_request(f'pod "{name}" has no container port named "{port}"')
        number = found[0]
    else:
        number = ports[0]["containerPort"] if ports else (443 if scheme == "https" else 80)
    if not 0 < number < 65536:
        raise errors.bad_request(f'invalid port {port} for pod "{name}"')
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        raise errors.bad_request(f'pod "{name}" has no IP address yet')
    return Backend(scheme or "http", ip, number)


def agent_path_allowed(raw_path: str) -> bool:
    """Whether ``nodes/proxy`` may forward to ``raw_path`` (as sent, percent-encoded): one of the
    agent's own paths, with no dot segments that a server could resolve to another."""
    segments = unquote(raw_path).split("/")
    return "." not in segments and ".." not in segments and _AGENT_PATHS.match(raw_path) is not None


def request_headers(
    headers: Iterable[tuple[str, str]], client: str | None, websocket: bool = False
) -> list[tuple[str, str]]:
    """The caller's headers as the backend gets them: less hop-by-hop ones (and those the caller's
    ``Connection`` names), less the API caller's credentials, with the caller's address appended to
    ``X-Forwarded-For``; ``websocket`` also drops the handshake's own headers, which the relay's
    handshake with the backend sends anew. ``Host`` is left to the client (the backend's address)."""
    items = list(headers)
    dropped = _connection_listed(items) | HOP_BY_HOP | CONSUMED | {"host"}
    if websocket:
        dropped |= WEBSOCKET_HANDSHAKE
    kept = [(k, v) for k, v in items if k.lower() not in dropped and not k.lower().startswith(_CONSUMED_PREFIX)]
    if client:
        prior = [v for k, v in kept if k.lower() == "x-forwarded-for"]
        kept = [(k, v) for k, v in kept if k.lower() != "x-forwarded-for"]
        kept.append(("X-Forwarded-For", ", ".join([*prior, client])))
    return kept


def response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The backend's answer headers as the caller gets them: all but hop-by-hop ones. ``Location``
    and bodies pointing at ``/`` pass unchanged, as modern kube-apiserver passes them."""
    items = list(headers)
    dropped = _connection_listed(items) | HOP_BY_HOP
    return [(k, v) for k, v in items if k.lower() not in dropped]


def _connection_listed(headers: list[tuple[str, str]]) -> set[str]:
    return {
        token.strip().lower()
        for k, v in headers
        if k.lower() == "connection"
        for token in v.split(",")
        if token.strip()
    }


def unavailable(message: str) -> errors.StatusError:
    return errors.StatusError(503, "ServiceUnavailable", message)
