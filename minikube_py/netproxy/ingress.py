"""pykube's ingress controller (``pykube.io/ingress``), run by every agent on its node's ports.

An HTTP/1.1 reverse proxy on asyncio streams (:mod:`.http1` frames the messages; bodies are copied
as they arrive, so streaming bodies stream): informers keep Ingresses, classes, Services,
EndpointSlices and TLS Secrets; every change rebuilds the routing table
(:mod:`minikube_py.model.ingressroutes`, pure) and swaps it in with one assignment, so a request in
flight keeps the table it started with and none is dropped by a change. Backends are a Service
port's ready endpoints (pod IP and target port), taken round-robin over keep-alive connections; a
pod that does not accept the connection is skipped for the next one. An upgrade (WebSocket) becomes
a byte splice both ways once the pod answers 101; ``X-Forwarded-For/Proto/Host/Port`` tell the pod
who asked. HTTPS picks each name's certificate from the Ingresses' ``kubernetes.io/tls`` Secrets by
SNI, and a self-signed one otherwise.

Raw streams rather than aiohttp's server and client: the proxy parses heads only; with aiohttp on
both sides bench/ingress.py measured about 600 requests/s, with streams about 1,800 on the same host.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import html
import logging
import os
import random
import ssl
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from minikube_py.client.informer import Informer
from minikube_py.client.referenced import ReferencedObjects
from minikube_py.client.rest import ApiClient
from minikube_py.model.ingress import CONTROLLER, class_of
from minikube_py.model.ingressroutes import Backend, RoutingTable, TlsSecret, build_table
from minikube_py.model.nodegraph import ingress_tls_secrets
from minikube_py.netproxy import http1
from minikube_py.netproxy.services import Endpoint, ServiceTable
from minikube_py.pki import self_signed_serving_cert

log = logging.getLogger(__name__)

Obj = dict[str, Any]
#: the type of the Secrets whose certificates the controller serves
TLS_SECRET_TYPE = "kubernetes.io/tls"

#: changes arriving within this window make one new routing table
MIN_SYNC_INTERVAL = 0.05
#: how often a port that could not be opened is tried again
RETRY_LISTEN_SECONDS = 5.0
#: how often idle connections to endpoints that are gone are closed
PRUNE_INTERVAL = 30.0
#: a client connection with no request for this long is closed (nginx's keepalive_timeout)
IDLE_SECONDS = 75.0
#: a pod that does not accept a connection within this long counts as failed; the next one is tried
CONNECT_TIMEOUT = 5.0
#: methods a proxy may send to a second pod after the first failed them (RFC 9110 9.2.2)
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
#: how long a connection the pod announced it closes is left for the pod to close first
CLOSE_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class IngressOptions:
    http_port: int = 80  # 0: no plain HTTP listener
    https_port: int = 443  # 0: no TLS listener
    address: str = "0.0.0.0"


class IngressController:
    """The ingress controller of one node; :meth:`run` serves until cancelled."""

    def __init__(
        self,
        client: ApiClient,
        options: IngressOptions,
        *,
        on_problem: Callable[[str | None], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
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
        # each TLS Secret an Ingress names, by a watch of its own (a node may read those, not every Secret)
        self._secrets = ReferencedObjects(client, "secrets", _tls_secrets)
        self._ingresses.add_handler(self._secrets.referrer_changed)
        for source in (self._ingresses, self._classes, self._secrets):
            source.add_handler(self._wake)
        self._services.add_handler(self.services.on_service)
        self._slices.add_handler(self.services.on_slice)
        self._next: dict[Backend, int] = {}  # round-robin position per backend
        self._contexts: dict[TlsSecret, tuple[str, ssl.SSLContext]] = {}  # by secret, with its resourceVersion
        self._pool = ConnectionPool()
        self._closing: set[asyncio.Task[None]] = set()  # connections the pod is closing (see _close_after_pod)

    def _wake(self, _old: Any, _new: Any) -> None:
        self._changed.set()

    # ------------------------------------------------------------------------------ state

    def _served(self) -> list[Obj]:
        """The Ingresses whose class names this controller."""
        ours = {
            c["metadata"]["name"]
            for c in self._classes.items()
            if (c.get("spec") or {}).get("controller") == CONTROLLER
        }
        return [i for i in self._ingresses.items() if class_of(i) in ours]

    def rebuild(self) -> None:
        table = build_table(self._served())
        self._refresh_contexts(table)
        self.table = table  # one assignment: a request sees the old table or the new one

    def endpoints(self, backend: Backend) -> tuple[Endpoint, ...]:
        return self.services.endpoints_of(backend.namespace, backend.service, backend.port)

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
            if obj is None or obj.get("type") != TLS_SECRET_TYPE:
                self._contexts.pop(secret, None)
                continue
            version = obj["metadata"].get("resourceVersion", "")
            known = self._contexts.get(secret)
            if known is not None and known[0] == version:
                continue
            data = obj.get("data") or {}
            try:
                context = _server_context(
                    base64.b64decode(data.get("tls.crt", "")), base64.b64decode(data.get("tls.key", ""))
                )
            except (ssl.SSLError, ValueError, OSError) as e:
                log.warning(
                    "ingress: TLS secret %s/%s is not a usable certificate: %s", secret.namespace, secret.name, e
                )
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
        try:
            async with asyncio.TaskGroup() as tasks:
                for informer in (self._ingresses, self._classes, self._services, self._slices):
                    tasks.create_task(informer.run(), name=f"ingress informer {informer.path}")
                tasks.create_task(self._sync_loop(), name="ingress sync")
                await self._synced()
                listeners: list[tuple[int, ssl.SSLContext | None]] = []
                if opts.http_port:
                    listeners.append((opts.http_port, None))
                if opts.https_port:
                    listeners.append((opts.https_port, self._default_context()))
                tasks.create_task(self._listen(listeners), name="ingress listeners")
        finally:
            self._secrets.close()
            self._pool.close()

    async def _synced(self) -> None:
        """Until the Ingresses and classes are listed and the TLS Secrets they name fetched once."""
        await asyncio.gather(*(i.synced.wait() for i in (self._ingresses, self._classes)))
        await self._secrets.wait_synced()

    async def _sync_loop(self) -> None:
        await self._synced()
        while True:
            self._changed.clear()
            self.rebuild()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result of a wait that
            # completes as a cancellation arrives and drops the cancellation, so the agent would not stop
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PRUNE_INTERVAL):
                    await self._changed.wait()
            self._pool.retain({e for port in self.services.ports() for e in port.endpoints})
            await asyncio.sleep(MIN_SYNC_INTERVAL)

    async def _listen(self, listeners: list[tuple[int, ssl.SSLContext | None]]) -> None:
        """Open every listener, retrying the ports another program holds; serve until cancelled."""
        servers: list[asyncio.Server] = []
        pending = list(listeners)
        try:
            while True:
                failed = []
                for port, context in pending:
                    scheme = "https" if context else "http"
                    try:
                        servers.append(
                            await asyncio.start_server(
                                functools.partial(self._connection, scheme, port),
                                self.options.address,
                                port,
                                ssl=context,
                                reuse_address=True,
                                limit=http1.MAX_HEAD,
                                backlog=1024,
                            )
                        )
                    except OSError as e:
                        failed.append((port, context, e))
                self._on_problem(
                    "; ".join(f"cannot listen on port {p}: {e.strerror or e}" for p, _, e in failed) if failed else None
                )
                pending = [(p, c) for p, c, _ in failed]
                if not pending:
                    await asyncio.Event().wait()
                await asyncio.sleep(RETRY_LISTEN_SECONDS)
        finally:
            for server in servers:
                server.close()

    async def _connection(
        self, scheme: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One client connection: requests one after the other while both sides keep it open."""
        peer = (writer.get_extra_info("peername") or ("",))[0]
        try:
            while True:
                async with asyncio.timeout(IDLE_SECONDS):
                    head = await http1.read_head(reader)
                if head is None or not await self._exchange(head, reader, writer, Client(scheme, port, peer)):
                    break
        except http1.BadMessage as e:
            with contextlib.suppress(OSError, RuntimeError):
                writer.write(_page(400, "Bad Request", str(e), keep_alive=False))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass  # the client went away or idled out
        finally:
            writer.close()

    def _choose(self, head: http1.Head) -> tuple[Backend | None, str, str]:
        """The backend a request goes to, with the host and path it was routed by."""
        host = (head.get(b"host") or b"").decode("latin-1")
        target = head.first[1].decode("latin-1")
        if "://" in target:  # absolute form: the authority is the host
            host, _, rest = target.partition("://")[2].partition("/")
            target = "/" + rest
        path = target.partition("?")[0] or "/"
        return self.table.backend(host, path, _Headers(head), _Cookies(head), self._rng), host, path

    async def _exchange(
        self, head: http1.Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: Client
    ) -> bool:
        """Answer one request (from a pod, or with the controller's own page); whether the client
        connection may carry another."""
        method = head.first[0]
        length = http1.body_length(head, request=True)
        backend, host, path = self._choose(head)
        if backend is None:
            return await self._answer(writer, head, length, 404, "Not Found", f"No Ingress rule matches {host}{path}.")
        endpoints = self.endpoints(backend)
        if not endpoints:
            return await self._answer(
                writer,
                head,
                length,
                503,
                "Service Unavailable",
                f"Service {backend.namespace}/{backend.service} (port {backend.port}) has no "
                "ready endpoint: no pod behind it is ready to serve.",
            )
        upgrade = head.get(b"upgrade") if b"upgrade" in head.tokens(b"connection") else None
        sent = _upstream_head(head, client, length, upgrade)
        if length and (head.get(b"expect") or b"").lower() == b"100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the body goes on as it comes, as nginx does
        start = self._pick(backend)
        failures: list[str] = []
        for attempt in range(len(endpoints)):
            address = endpoints[(start + attempt) % len(endpoints)]
            try:
                upstream = await self._send(address, sent, reader, length, fresh=length != 0 or upgrade is not None)
            except NotConnected as e:  # nothing reached the pod: the next endpoint may answer
                failures.append(f"{_host_port(address)}: {_reason(e)}")
                continue
            except (OSError, asyncio.IncompleteReadError, http1.BadMessage) as e:
                # the pod failed the request: only one that may safely be repeated goes to the next
                failures.append(f"{_host_port(address)}: {_reason(e)}")
                if length == 0 and method in IDEMPOTENT:
                    continue
                break
            return await self._respond(head, method, reader, writer, address, upstream, upgrade is not None)
        return await self._answer(
            writer,
            head,
            length,
            502,
            "Bad Gateway",
            f"No endpoint of Service {backend.namespace}/{backend.service} answered ({'; '.join(failures)}).",
        )

    async def _send(
        self, address: Endpoint, sent: bytes, reader: asyncio.StreamReader, length: int, *, fresh: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, http1.Head]:
        """Send the request to one endpoint and read the response head. A pooled connection the pod
        closed meanwhile is replaced by a new one; only a bodiless request goes on a pooled one, so
        nothing of the client's is lost by the retry."""
        while True:
            up_reader, up_writer, reused = await self._pool.get(address, fresh=fresh)
            try:
                up_writer.write(sent)
                if length:
                    await http1.relay_body(reader, up_writer, length)
                else:
                    await up_writer.drain()
                response = await http1.read_head(up_reader)
                while response is not None and response.first[1] == b"100":  # Continue: we send the body anyway
                    response = await http1.read_head(up_reader)
            except (OSError, asyncio.IncompleteReadError, http1.BadMessage):
                up_writer.close()
                if reused:
                    fresh = True
                    continue
                raise
            if response is None:
                up_writer.close()
                if reused:
                    fresh = True
                    continue
                raise ConnectionResetError("the pod closed the connection without answering")
            return up_reader, up_writer, response

    async def _respond(
        self,
        head: http1.Head,
        method: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        address: Endpoint,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter, http1.Head],
        upgrade: bool,
    ) -> bool:
        up_reader, up_writer, response = upstream
        try:
            status = int(response.first[1])
            length = http1.body_length(response, request=False, method=method, status=status)
        except (ValueError, http1.BadMessage) as e:
            up_writer.close()
            writer.write(
                _page(
                    502,
                    "Bad Gateway",
                    f"The pod at {_host_port(address)} answered a malformed response: {e}.",
                    keep_alive=False,
                )
            )
            return False
        if status == 101 and upgrade:  # a WebSocket (or other upgrade): from here on bytes both ways
            writer.write(http1.render_head(response.first, response.headers))
            await asyncio.gather(
                http1.splice(reader, up_writer), http1.splice(up_reader, writer), return_exceptions=True
            )
            up_writer.close()
            return False
        keep = head.keep_alive() and length is not None
        headers = response.end_to_end()
        if length == -1:
            headers.append((b"Transfer-Encoding", b"chunked"))
        if not keep:
            headers.append((b"Connection", b"close"))
        elif head.version != b"HTTP/1.1":
            headers.append((b"Connection", b"keep-alive"))
        try:
            await http1.relay_body(
                up_reader,
                writer,
                length,
                http1.render_head((b"HTTP/1.1", response.first[1], response.first[2]), headers),
            )
        except BaseException:
            up_writer.close()
            raise
        if response.keep_alive() and length is not None:
            self._pool.put(address, up_reader, up_writer)
        else:
            task = asyncio.create_task(_close_after_pod(up_reader, up_writer))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return keep

    async def _answer(
        self, writer: asyncio.StreamWriter, head: http1.Head, length: int, status: int, title: str, detail: str
    ) -> bool:
        """The controller's own page; a request body it did not read ends the connection after it."""
        keep = head.keep_alive() and length == 0
        writer.write(_page(status, title, detail, keep_alive=keep))
        await writer.drain()
        return keep


class _Headers(Mapping[str, str]):
    """A request's headers by lower-case name, decoded only when a canary rule asks for one."""

    def __init__(self, head: http1.Head) -> None:
        self._lower = head.lower

    def __getitem__(self, name: str) -> str:
        return self._lower[name.encode("latin-1")].decode("latin-1")

    def __iter__(self) -> Iterator[str]:
        return (k.decode("latin-1") for k in self._lower)

    def __len__(self) -> int:
        return len(self._lower)


class _Cookies(Mapping[str, str]):
    """A request's cookies, parsed only when a canary rule asks for one."""

    def __init__(self, head: http1.Head) -> None:
        self._head = head

    @functools.cached_property
    def _parsed(self) -> dict[str, str]:
        cookie = (self._head.get(b"cookie") or b"").decode("latin-1")
        return dict(p.strip().partition("=")[::2] for p in cookie.split(";") if "=" in p)

    def __getitem__(self, name: str) -> str:
        return self._parsed[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed)

    def __len__(self) -> int:
        return len(self._parsed)


@dataclass(frozen=True)
class Client:
    """Where a request came in: for the ``X-Forwarded-*`` headers."""

    scheme: str
    port: int
    peer: str


def _upstream_head(head: http1.Head, client: Client, length: int, upgrade: bytes | None) -> bytes:
    """The request head as the pod gets it: HTTP/1.1, end-to-end headers, the ``X-Forwarded-*``
    of a proxy, and the upgrade it asked for."""
    headers = [
        (k, v)
        for k, v in head.end_to_end()
        if not k.lower().startswith(b"x-forwarded-") and k.lower() not in (b"x-real-ip", b"expect")
    ]
    peer = client.peer.encode()
    prior = head.get(b"x-forwarded-for")
    headers += [
        (b"X-Forwarded-For", prior + b", " + peer if prior else peer),
        (b"X-Forwarded-Proto", client.scheme.encode()),
        (b"X-Forwarded-Host", head.get(b"host") or b""),
        (b"X-Forwarded-Port", str(client.port).encode()),
        (b"X-Real-IP", peer),
    ]
    if length == -1:
        headers.append((b"Transfer-Encoding", b"chunked"))
    if upgrade is not None:
        headers += [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade)]
    return http1.render_head((head.first[0], head.first[1], b"HTTP/1.1"), headers)


def _reason(e: BaseException) -> str:
    """Why an endpoint failed, in the system's words for its errno ("Connection refused", as nginx
    says), which asyncio's and uvloop's transports word differently; else what the error says."""
    errno = getattr(e, "errno", None)
    if errno:
        return os.strerror(errno)
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


class NotConnected(OSError):
    """No connection to the pod could be made: nothing of the request reached it."""


class ConnectionPool:
    """Idle keep-alive connections to pods, by endpoint; a connection the pod closed is noticed when
    it is taken (its reader is at EOF) or when the request on it fails."""

    def __init__(self, per_endpoint: int = 64) -> None:
        self._idle: dict[Endpoint, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self._per_endpoint = per_endpoint

    async def get(
        self, address: Endpoint, *, fresh: bool = False
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """A connection to ``address`` and whether it was pooled."""
        idle = self._idle.get(address)
        while idle and not fresh:
            reader, writer = idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer, True
            writer.close()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(address.ip, address.port, limit=http1.MAX_HEAD)
        except OSError as e:
            raise NotConnected(e.errno, e.strerror or str(e) or "connection timed out") from e
        return reader, writer, False

    def put(self, address: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        idle = self._idle.setdefault(address, [])
        if len(idle) >= self._per_endpoint:
            writer.close()
        else:
            idle.append((reader, writer))

    def retain(self, live: set[Endpoint]) -> None:
        """Close the idle connections to endpoints that are gone (a pod deleted with its network
        namespace sends no FIN, so they would never read as closed)."""
        for address in [a for a in self._idle if a not in live]:
            for _, writer in self._idle.pop(address):
                writer.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for _, writer in idle:
                writer.close()
        self._idle.clear()


def _tls_secrets(ingress: Obj) -> set[tuple[str, str]]:
    namespace = (ingress.get("metadata") or {}).get("namespace") or ""
    return {(namespace, name) for name in ingress_tls_secrets(ingress)}


def _page(status: int, title: str, detail: str, *, keep_alive: bool) -> bytes:
    """The response the controller itself gives (no rule, no endpoint, a bad request)."""
    body = (
        f"<!DOCTYPE html>\n<html><head><title>{status} {html.escape(title)}</title></head>\n"
        f"<body><h1>{status} {html.escape(title)}</h1>\n<p>{html.escape(detail)}</p>\n"
        f"<hr><p>pykube ingress ({CONTROLLER})</p></body></html>\n"
    ).encode()
    return (
        f"HTTP/1.1 {status} {title}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}"
        "\r\n"
    ).encode() + body


async def _close_after_pod(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close a connection the pod said it closes once the pod has: the side that closes first keeps
    the connection's TIME_WAIT, and on the proxy's side those would collide with the next
    connections to the same pod port (SYNs unanswered for a second)."""
    try:
        async with asyncio.timeout(CLOSE_WAIT_SECONDS):
            while await reader.read(http1.COPY_CHUNK):
                pass
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()


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
