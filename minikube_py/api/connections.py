"""Connection hygiene: how many requests run at once, and how long a connection may stay silent.

kube-apiserver bounds both: ``--max-requests-inflight`` and ``--max-mutating-requests-inflight``
(400 and 200) answer the excess with 429 and ``Retry-After``, which client-go and kubectl retry, so an
overload sheds requests instead of queueing them until memory runs out; long-running requests
(watches, logs, exec, port-forward) are not counted, as they hold a connection, not the server's work.
And its HTTP server closes a connection that has not sent its request headers within 32 s
(``ReadHeaderTimeout``), which is what makes a slowloris client harmless.

aiohttp closes idle keep-alive connections itself (``keepalive_timeout``), but only once a first
request has been answered; :class:`HeaderDeadline` closes the connections that never finish one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from minikube_py.api.body import dumps
from minikube_py.guard import cancel_and_wait
from minikube_py.model import errors
from minikube_py.model.proxy import PROXY_PATH

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: subresources that stream for as long as the client wants (kube-apiserver's long-running set)
STREAMING_SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward", "proxy"})
_STREAMING = tuple(f"/{sub}" for sub in STREAMING_SUBRESOURCES)


def long_running(request: web.Request) -> bool:
    """Whether a request is long-running in kube-apiserver's sense, and so not counted in flight."""
    if request.query.get("watch", "").lower() in ("true", "1") or request.path.startswith(
        ("/api/v1/watch/", "/apis/watch/")
    ):
        return True
    return request.path.endswith(_STREAMING) or PROXY_PATH.match(request.path) is not None


def too_many_requests() -> web.Response:
    status = errors.StatusError(
        429, "TooManyRequests", "Too many requests, please try again later.", {"retryAfterSeconds": 1}
    )
    return web.Response(
        body=dumps(status.status()), status=429, content_type="application/json", headers={"Retry-After": "1"}
    )


def inflight_middleware(
    readonly: int, mutating: int, running: dict[bool, int]
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Counts the requests being served in ``running``, read-only (False) and mutating (True) apart,
    where the metrics read them; past a limit (0: none) the request is answered 429 at once.
    Counting instead of queueing keeps the answer immediate, as kube-apiserver's max-in-flight
    filter does."""
    limits = {False: readonly, True: mutating}

    @web.middleware
    async def inflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        if long_running(request):
            return await handler(request)
        kind = request.method in _MUTATING
        if limits[kind] and running[kind] >= limits[kind]:
            return too_many_requests()
        running[kind] += 1
        try:
            return await handler(request)
        finally:
            running[kind] -= 1

    return inflight


class HeaderDeadline:
    """Closes connections whose first request's headers have not arrived within ``timeout`` seconds.

    The server's request factory (a public hook of ``web.Server``) is wrapped to note which
    connections have delivered a request; a sweep once a second closes the others once they are old
    enough. A sweep over a few thousand connections is a few milliseconds, cheaper than a timer
    per connection, and it needs nothing of aiohttp but its public connection list and request
    factory."""

    def __init__(self, server: web.Server, timeout: float) -> None:
        self._server = server
        self._timeout = timeout
        # RequestHandler has __slots__ without weak references: plain containers, pruned each sweep
        self._seen: dict[RequestHandler, float] = {}
        self._served: set[RequestHandler] = set()
        self._task: asyncio.Task[None] | None = None
        factory = server.request_factory

        def noting(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> web.BaseRequest:
            self._served.add(protocol)
            return factory(message, payload, protocol, writer, task)

        server.request_factory = noting

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep(), name="http header deadline")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        interval = min(1.0, self._timeout / 4)
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            current = set(self._server.connections)
            self._served &= current
            self._seen = {conn: first for conn, first in self._seen.items() if conn in current}
            for conn in current - self._served:
                first = self._seen.setdefault(conn, now)
                if now - first >= self._timeout:
                    conn.force_close()
                    if conn.transport is not None:
                        conn.transport.close()
