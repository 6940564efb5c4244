"""pykube's ingress controller (``pykube.io/ingress``), run by every agent on its node's ports.

An HTTP/1.1 reverse proxy on asyncio (aiohttp on both sides): informers keep Ingresses, classes,
Services, EndpointSlices and TLS Secrets; every change rebuilds the routing table
(:mod:`minikube_py.model.ingressroutes`, pure) and swaps it in with one assignment, so a request in
flight keeps the table it started with and none is dropped by a change. Backends are a Service
port's ready endpoints (pod IP and target port), taken round-robin over keep-alive connections;
a connection that cannot be made is retried on the next endpoint. WebSocket upgrades are relayed
message by message, bodies stream both ways, and ``X-Forwarded-For/Proto/Host/Port`` tell the pod
who asked. HTTPS picks each name's certificate from the Ingresses' ``kubernetes.io/tls`` Secrets by
SNI, and a self-signed one otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import logging
import os
import random
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from minikube_py.client.informer import Informer
from minikube_py.client.rest import ApiClient
from minikube_py.model.ingress import CONTROLLER, class_of
from minikube_py.model.ingressroutes import Backend, RoutingTable, TlsSecret, build_table
from minikube_py.netproxy.services import Endpoint, ServiceTable
from minikube_py.pki import self_signed_serving_cert

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: changes arriving within this window make one new routing table
MIN_SYNC_INTERVAL = 0.05
#: how often a port that could not be opened is tried again
RETRY_LISTEN_SECONDS = 5.0
#: headers that belong to one connection, not to the request (RFC 9110 7.6.1)
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "proxy-connection"})
#: bodies up to this size are read whole and sent with their length; larger ones stream
SMALL_BODY = 64 * 1024


@dataclass(frozen=True)
class IngressOptions:
    node_name: str
    http_port: int = 80  # 0: no plain HTTP listener
    https_port: int = 443  # 0: no TLS listener
    address: str = "0.0.0.0"


def _page(status: int, title: str, detail: str) -> web.Response:
    """The page a request gets when the controller, not a pod, answers."""
    body = (f"<!DOCTYPE html>\n<html><head><title>{status} {html.escape(title)}</title></head>\n"
            f"<body><h1>{status} {html.escape(title)}</h1>\n<p>{html.escape(detail)}</p>\n"
            f"<hr><p>pykube ingress ({CONTROLLER})</p></body></html>\n")
    return web.Response(status=status, text=body, content_type="text/html")


def _forward_headers(request: web.BaseRequest, scheme: str, port: int) -> dict[str, str]:
    """The request's end-to-end headers, with the ``X-Forwarded-*`` a proxy adds."""
    connection = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in HOP_BY_HOP and k.lower() not in connection}
    peer = request.remote or ""
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers["X-Forwarded-Proto"] = scheme
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Port"] = str(port)
    headers["X-Real-IP"] = peer
    return headers


def _response_headers(upstream: aiohttp.ClientResponse) -> list[tuple[str, str]]:
    connection = {t.strip().lower() for t in upstream.headers.get("Connection", "").split(",")}
    return [(k, v) for k, v in upstream.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() not in connection and k.lower() != "content-length"]


class IngressController:
    """The ingress controller of one node; :meth:`run` serves until cancelled."""

    def __init__(self, client: ApiClient, options: IngressOptions, *,
                 on_problem: Callable[[str | None], None] | None = None, rng: random.Random | None = None) -> None:
        """``on_problem(message)`` hears when a listener cannot open its port, and None once all are open."""
        self.options = options
        self._on_problem = on_problem or _log_problem
        self._rng = rng or random.Random()
        self.table = RoutingTable()
        self.services = ServiceTable()
        self._changed = asyncio.Event()
        self._ingresses = Informer(client, "/apis/networking.k8s.io/v1/ingresses")
        self._classes = Informer(client, "/apis/networking.k8s.io/v1/ingressclasses")
        self._services = Informer(client, "/api/v1/services")
        self._slices = Informer(client, "/apis/discovery.k8s.io/v1/endpointslices")
        self._secrets = Informer(client, "/api/v1/secrets", field_selector="type=kubernetes.io/tls")
        for informer in (self._ingresses, self._classes, self._secrets):
            informer.add_handler(self._wake)
        self._services.add_handler(self.services.on_service)
        self._slices.add_handler(self.services.on_slice)
        self._next: dict[Backend, int] = {}  # round-robin position per backend
        self._contexts: dict[TlsSecret, tuple[str, ssl.SSLContext]] = {}  # by secret, with its resourceVersion
        self._session: aiohttp.ClientSession | None = None
        self.synced = asyncio.Event()  # set once the first table is in place

    def _wake(self, _old: Any, _new: Any) -> None:
        self._changed.set()

    # ------------------------------------------------------------------------------ state

    def _served(self) -> list[Obj]:
        """The Ingresses whose class names this controller."""
        ours = {c["metadata"]["name"] for c in self._classes.items()
                if (c.get("spec") or {}).get("controller") == CONTROLLER}
        return [i for i in self._ingresses.items() if class_of(i) in ours]

    def rebuild(self) -> None:
        table = build_table(self._served())
        self._refresh_contexts(table)
        self.table = table  # one assignment: a request sees the old table or the new one

    def endpoints(self, backend: Backend) -> tuple[Endpoint, ...]:
        for port in self.services.ports_of(backend.namespace, backend.service):
            if port.protocol == "TCP" and backend.port in (port.port, port.name.port):
                return port.endpoints
        return ()

    def _pick(self, backend: Backend) -> int:
        """The round-robin position of the backend's next request."""
        start = self._next.get(backend, 0)
        self._next[backend] = start + 1
        return start

    # ------------------------------------------------------------------------------ TLS

    def _refresh_contexts(self, table: RoutingTable) -> None:
        """A server context per TLS Secret the table names, remade when the Secret changes."""
        wanted = table.secrets()
        for secret in list(self._contexts):
            if secret not in wanted:
                del self._contexts[secret]
        for secret in wanted:
            obj = self._secrets.get(f"{secret.namespace}/{secret.name}")
            if obj is None:
                self._contexts.pop(secret, None)
                continue
            version = obj["metadata"].get("resourceVersion", "")
            known = self._contexts.get(secret)
            if known is not None and known[0] == version:
                continue
            data = obj.get("data") or {}
            try:
                context = _server_context(base64.b64decode(data.get("tls.crt", "")),
                                          base64.b64decode(data.get("tls.key", "")))
            except (ssl.SSLError, ValueError, OSError) as e:
                log.warning("ingress: TLS secret %s/%s is not a usable certificate: %s", secret.namespace,
                            secret.name, e)
                self._contexts.pop(secret, None)
                continue
            self._contexts[secret] = (version, context)

    def _sni(self, sslobj: ssl.SSLObject, server_name: str | None, _default: ssl.SSLContext) -> None:
        secret = self.table.tls_secret(server_name) if server_name else None
        known = self._contexts.get(secret) if secret is not None else None
        if known is not None:
            sslobj.context = known[1]

    def _default_context(self) -> ssl.SSLContext:
        cert, key = self_signed_serving_cert("pykube ingress default certificate", ["ingress.local"])
        context = _server_context(cert, key)
        context.sni_callback = self._sni  # type: ignore[assignment]
        return context

    # ------------------------------------------------------------------------------ serving

    async def run(self) -> None:
        opts = self.options
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        try:
            async with asyncio.TaskGroup() as tasks:
                for informer in (self._ingresses, self._classes, self._services, self._slices, self._secrets):
                    tasks.create_task(informer.run(), name=f"ingress informer {informer.path}")
                tasks.create_task(self._sync_loop(), name="ingress sync")
                await asyncio.gather(*(i.synced.wait() for i in (self._ingresses, self._classes, self._secrets)))
                listeners = []
                if opts.http_port:
                    listeners.append((opts.http_port, None))
                if opts.https_port:
                    listeners.append((opts.https_port, self._default_context()))
                tasks.create_task(self._listen(listeners), name="ingress listeners")
        finally:
            await self._session.close()

    async def _sync_loop(self) -> None:
        await asyncio.gather(*(i.synced.wait() for i in (self._ingresses, self._classes, self._secrets)))
        while True:
            self._changed.clear()
            self.rebuild()
            self.synced.set()
            await self._changed.wait()
            await asyncio.sleep(MIN_SYNC_INTERVAL)

    async def _listen(self, listeners: list[tuple[int, ssl.SSLContext | None]]) -> None:
        """Open every listener, retrying the ports another program holds; serve until cancelled."""
        runners: list[web.ServerRunner] = []
        pending = list(listeners)
        try:
            while True:
                failed = []
                for port, context in pending:
                    server = web.Server(self._handler("https" if context else "http", port))
                    runner = web.ServerRunner(server, access_log=None)
                    await runner.setup()
                    try:
                        await web.TCPSite(runner, self.options.address, port, ssl_context=context,
                                          reuse_address=True).start()
                    except OSError as e:
                        await runner.cleanup()
                        failed.append((port, context, e))
                        continue
                    runners.append(runner)
                if failed:
                    self._on_problem("; ".join(f"cannot listen on port {p}: {e.strerror or e}" for p, _, e in failed))
                else:
                    self._on_problem(None)
                pending = [(p, c) for p, c, _ in failed]
                if not pending:
                    await asyncio.Event().wait()
                await asyncio.sleep(RETRY_LISTEN_SECONDS)
        finally:
            for runner in runners:
                await runner.cleanup()

    def _handler(self, scheme: str, port: int) -> Callable[[web.BaseRequest], Any]:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            return await self._proxy(request, scheme, port)
        return handle

    async def _proxy(self, request: web.BaseRequest, scheme: str, port: int) -> web.StreamResponse:
        table = self.table
        headers_lower = {k.lower(): v for k, v in request.headers.items()}
        backend = table.backend(request.host, request.path, headers_lower, request.cookies, self._rng)
        if backend is None:
            return _page(404, "Not Found", f"No Ingress rule matches {request.host}{request.path}.")
        endpoints = self.endpoints(backend)
        if not endpoints:
            return _page(503, "Service Unavailable",
                         f"Service {backend.namespace}/{backend.service} (port {backend.port}) has no ready "
                         "endpoint: no pod behind it is ready to serve.")
        headers = _forward_headers(request, scheme, port)
        start = self._pick(backend)
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        last_error: Exception | None = None
        for attempt in range(len(endpoints)):
            endpoint = endpoints[(start + attempt) % len(endpoints)]
            url = f"http://{_host_port(endpoint)}{request.raw_path}"
            try:
                if websocket:
                    return await self._relay_websocket(request, url, headers)
                return await self._forward(request, url, headers)
            except aiohttp.ClientConnectorError as e:  # nothing was sent: the next endpoint may answer
                last_error = e
        return _page(502, "Bad Gateway", f"No endpoint of Service {backend.namespace}/{backend.service} "
                                         f"accepted the connection: {last_error}")

    async def _forward(self, request: web.BaseRequest, url: str, headers: dict[str, str]) -> web.StreamResponse:
        assert self._session is not None
        body: Any = request.content if request.body_exists else None
        async with self._session.request(request.method, url, headers=headers, data=body, allow_redirects=False,
                                         skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type")
                                         ) as upstream:
            length = upstream.content_length
            if length is not None and length <= SMALL_BODY:
                response = web.Response(status=upstream.status, reason=upstream.reason,
                                        body=await upstream.read())
                response.headers.extend(_response_headers(upstream))
                return response
            stream = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            stream.headers.extend(_response_headers(upstream))
            if length is not None:
                stream.content_length = length
            await stream.prepare(request)
            async for chunk in upstream.content.iter_any():
                await stream.write(chunk)
            await stream.write_eof()
            return stream

    async def _relay_websocket(self, request: web.BaseRequest, url: str,
                               headers: dict[str, str]) -> web.StreamResponse:
        """Upgrade to the pod first, then to the client, and relay messages both ways until either
        side closes."""
        assert self._session is not None
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        sent = {k: v for k, v in headers.items() if not k.lower().startswith("sec-websocket")}
        async with self._session.ws_connect(url, headers=sent, protocols=protocols, autoping=False) as upstream:
            downstream = web.WebSocketResponse(protocols=protocols, autoping=False)
            await downstream.prepare(request)  # type: ignore[arg-type]

            async def pump(source: Any, sink: Any) -> None:
                async for message in source:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        await sink.send_str(message.data)
                    elif message.type == aiohttp.WSMsgType.BINARY:
                        await sink.send_bytes(message.data)
                    elif message.type == aiohttp.WSMsgType.PING:
                        await sink.ping(message.data)
                    elif message.type == aiohttp.WSMsgType.PONG:
                        await sink.pong(message.data)
                await sink.close()

            relays = [asyncio.create_task(pump(upstream, downstream)), asyncio.create_task(pump(downstream, upstream))]
            try:
                await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in relays:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            return downstream


def _host_port(endpoint: Endpoint) -> str:
    return f"[{endpoint.ip}]:{endpoint.port}" if ":" in endpoint.ip else f"{endpoint.ip}:{endpoint.port}"


def _server_context(cert: bytes, key: bytes) -> ssl.SSLContext:
    """A TLS server context from PEM data (the ssl module loads chains from files only)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="pykube-ingress-") as directory:
        path = os.path.join(directory, "tls.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(cert.rstrip(b"\n") + b"\n" + key)
        context.load_cert_chain(path)
    return context


def _log_problem(message: str | None) -> None:
    if message is not None:
        log.warning("ingress controller: %s", message)

