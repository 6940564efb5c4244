"""``services/proxy``, ``pods/proxy`` and ``nodes/proxy``: the API server as a reverse proxy.

``kubectl proxy`` and the add-on URLs of ``kubectl cluster-info`` reach a Service, a pod or a node by
an API path, ``/api/v1/namespaces/NS/services/NAME[:PORT]/proxy/PATH``. The API server authorizes
the request (RBAC sees ``services/proxy`` with the HTTP verb), resolves the backend
(:mod:`minikube_py.model.proxy`), then forwards method, headers, query and body, streaming both
ways, and relays a WebSocket upgrade message by message. Pods are reached at their IP from the API
server's host (its embedded agent's Docker bridge, or the service proxy's routes to other nodes'
pod CIDRs); nodes at their agent's HTTPS endpoint with the API server's client identity, as
pods/log and exec are. Answers pass unchanged (no rewriting of ``Location`` or HTML), as modern
kube-apiserver passes them.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from minikube_py.api.registry import Registry
from minikube_py.api.streaming import kubelet_dial_error, kubelet_endpoint, relay
from minikube_py.model import errors
from minikube_py.model.apiservices import is_identity_header
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.model.proxy import (
    Backend,
    ProxyName,
    agent_path_allowed,
    pick_service_endpoint,
    pod_backend,
    request_headers,
    response_headers,
    service_port_name,
    split_name,
    unavailable,
)

log = logging.getLogger(__name__)

#: segments before the backend's path: ['', api, v1, namespaces, NS, services, NAME, proxy] and
#: ['', api, v1, nodes, NAME, proxy]
_NAMESPACED_SEGMENTS, _NODE_SEGMENTS = 8, 6
#: what the client sends on its own unless told not to: a proxy adds nothing the caller did not send
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


@dataclass(frozen=True)
class _Upstream:
    """Where a proxied request goes on and how: the backend's URL, the headers passed on, the TLS to
    dial with (False: plain, or https without verifying names) and the name the backend's serving
    certificate must carry (an agent's node, an extension server's Service)."""

    url: URL
    headers: list[tuple[str, str]]
    tls: ssl.SSLContext | bool
    server_name: str | None


def _kind(plural: str) -> ResourceType:
    rt = by_plural("", "v1", plural)
    assert rt is not None
    return rt


class ApiProxy:
    """The three proxy handlers. ``kubelet_ssl`` is the API server's client identity towards agents
    (``nodes/proxy`` needs it); pods and Services are dialled in plain HTTP, or HTTPS without
    verification for an ``https:`` name, as kube-apiserver's proxy transport does."""

    def __init__(self, registry: Registry, kubelet_ssl: ssl.SSLContext | None) -> None:
        self._registry = registry
        self._kubelet_ssl = kubelet_ssl
        self._services, self._endpoints = _kind("services"), _kind("endpoints")
        self._pods, self._nodes = _kind("pods"), _kind("nodes")
        self._session: aiohttp.ClientSession | None = None

    async def close(self, _: web.Application | None = None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        """One pooled session for every backend: keep-alive connections to the pods a dashboard hits
        again and again, with no cap on their number (aiohttp's default of 100 would hold the 101st
        WebSocket or stream until one ends). Bodies pass as sent (no decompression) and cookies are
        the caller's."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=_NO_AUTO_HEADERS,
            )
        return self._session

    async def service(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info["ns"]
        target = _split(request.match_info["name"], "service")
        service = await self._registry.get(self._services, ns, target.name)
        port_name = service_port_name(service, target.port)
        try:
            endpoints: dict[str, Any] | None = await self._registry.get(self._endpoints, ns, target.name)
        except errors.StatusError as exc:
            if exc.code != 404:
                raise
            endpoints = None
        backend = pick_service_endpoint(endpoints, port_name, target.scheme, target.name)
        return await self._forward(request, backend, _tail(request, _NAMESPACED_SEGMENTS), None)

    async def pod(self, request: web.Request) -> web.StreamResponse:
        target = _split(request.match_info["name"], "pod")
        pod = await self._registry.get(self._pods, request.match_info["ns"], target.name)
        backend = pod_backend(pod, target.scheme, target.port)
        return await self._forward(request, backend, _tail(request, _NAMESPACED_SEGMENTS), None)

    async def node(self, request: web.Request) -> web.StreamResponse:
        target = _split(request.match_info["name"], "node")
        node = await self._registry.get(self._nodes, None, target.name)
        if self._kubelet_ssl is None:
            raise unavailable("the API server has no client identity towards nodes")
        endpoint = URL(kubelet_endpoint(node))
        assert endpoint.host is not None and endpoint.port is not None
        if (target.port and target.port != str(endpoint.port)) or target.scheme == "http":
            raise errors.bad_request(f"nodes/proxy reaches only the node's agent at https port {endpoint.port}")
        tail = _tail(request, _NODE_SEGMENTS)
        if tail and not agent_path_allowed(tail):
            raise errors.StatusError(404, "NotFound", f'the agent of node "{target.name}" serves no path "{tail}"')
        return await self._forward(
            request, Backend("https", endpoint.host, endpoint.port), tail, self._kubelet_ssl, target.name
        )

    async def aggregated(
        self,
        request: web.Request,
        backend: Backend,
        tls: ssl.SSLContext,
        server_name: str,
        identity: list[tuple[str, str]],
    ) -> web.StreamResponse:
        """Relay a request of an aggregated API, its path unchanged, to its extension server, which
        must present a certificate for ``server_name``; ``identity`` (the ``X-Remote-*`` headers)
        replaces whatever the caller sent under those names."""
        return await self._forward(
            request, backend, request.rel_url.raw_path, tls, server_name=server_name, identity=identity
        )

    async def _forward(
        self,
        request: web.Request,
        backend: Backend,
        tail: str,
        tls: ssl.SSLContext | None,
        node: str | None = None,
        *,
        server_name: str | None = None,
        identity: list[tuple[str, str]] | None = None,
    ) -> web.StreamResponse:
        """Relay ``request`` to ``backend`` at ``tail``; for a ``node``'s agent, verifying that it presents
        that node's serving certificate (the dial fails closed otherwise, with a 500 that says why). An empty tail redirects to the path with a
        slash, as kube-apiserver does, so the backend's relative links resolve under the proxy (a
        WebSocket upgrade, which cannot follow a redirect, goes to ``/``)."""
        query = request.rel_url.raw_query_string
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if not tail and websocket:
            tail = "/"
        elif not tail:
            location = request.rel_url.raw_path + "/" + (f"?{query}" if query else "")
            return web.Response(status=301, headers={"Location": location})
        headers = request_headers(request.headers.items(), request.remote, websocket)
        if identity is not None:
            headers = [(k, v) for k, v in headers if not is_identity_header(k)] + identity
        upstream = _Upstream(
            URL(backend.base_url + tail + (f"?{query}" if query else ""), encoded=True),
            headers,
            tls if tls is not None else False,  # https: names are not verified
            server_name or node,
        )
        try:
            if websocket:
                return await self._relay_websocket(request, upstream)
            return await self._relay_http(request, upstream)
        except (aiohttp.ClientError, TimeoutError) as exc:  # refused, reset, or a malformed answer
            if node is not None and isinstance(exc, aiohttp.ClientConnectorError):
                raise kubelet_dial_error(node, backend.base_url, exc) from None
            raise unavailable(f"error trying to reach service: {_reason(exc)}") from None

    async def _relay_http(self, request: web.Request, to: _Upstream) -> web.StreamResponse:
        body = request.content if request.body_exists else None
        async with self._client().request(
            request.method,
            to.url,
            headers=to.headers,
            data=body,
            ssl=to.tls,
            server_hostname=to.server_name,
            allow_redirects=False,
        ) as upstream:
            answer = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in response_headers(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in upstream.raw_headers
            ):
                answer.headers.add(name, value)
            await answer.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await answer.write(chunk)
            except aiohttp.ClientError as exc:
                # too late for a Status: close the connection unfinished, so the caller sees a cut answer
                log.warning("%s %s: the backend broke off its answer: %s", request.method, request.path, _reason(exc))
                if request.transport is not None:
                    request.transport.close()
                return answer
            await answer.write_eof()
            return answer

    async def _relay_websocket(self, request: web.Request, to: _Upstream) -> web.StreamResponse:
        offered = tuple(p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip())
        upstream = await self._client().ws_connect(
            to.url,
            protocols=offered,
            headers=to.headers,
            ssl=to.tls,
            server_hostname=to.server_name,
            autoping=True,
            heartbeat=None,
            max_msg_size=0,
        )
        ws = web.WebSocketResponse(
            protocols=(upstream.protocol,) if upstream.protocol else (), autoping=True, heartbeat=None, max_msg_size=0
        )
        try:
            await ws.prepare(request)
            await relay(upstream, ws, linger=0.0)
        finally:
            await upstream.close()
            await ws.close()
        return ws


def _split(ident: str, what: str) -> ProxyName:
    target = split_name(ident)
    if target is None:
        raise errors.bad_request(f'invalid {what} request "{ident}"')
    return target


def _tail(request: web.Request, segments: int) -> str:
    """The backend's path, still percent-encoded as the caller sent it: what follows ``/proxy``."""
    parts = request.rel_url.raw_path.split("/", segments)
    return "/" + parts[segments] if len(parts) > segments else ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return str(exc.os_error) or str(exc)
    return str(exc) or type(exc).__name__
