"""The agent's HTTPS endpoint for the API server: container logs, exec, attach and port-forward, on
kubelet's paths (/containerLogs, /exec, /attach, /portForward), so that the API server only relays
bytes; and the node's resource usage at /stats/summary, which the API server reads for the metrics API.

Exec and attach speak the WebSocket channel protocol (v5/v4.channel.k8s.io: a channel byte before each message);
port-forward speaks SPDY/3.1 inside WebSocket messages, as kubectl 1.32 does by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from minikube_py.agent.context import NodeContext
from minikube_py.agent.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    SANDBOX_NAME,
    ContainerState,
    ExecSession,
    LogOptions,
    Runtime,
    RuntimeFailure,
    StreamSession,
)
from minikube_py.agent.spdy import FLAG_FIN, PING, RST_STREAM, SYN_STREAM, SpdySession
from minikube_py.agent.stats import NodeStats
from minikube_py.guard import cancel_and_wait
from minikube_py.model.times import instant

log = logging.getLogger(__name__)

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORT_FORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


async def _healthz(_: web.Request) -> web.Response:
    """The node endpoint's liveness (a coroutine: aiohttp deprecates plain functions as handlers)."""
    return web.Response(text="ok")


class KubeletServer:
    def __init__(
        self,
        runtime: Runtime,
        node: NodeContext,
        ssl_context: ssl.SSLContext | None,
        *,
        authorize: Callable[[web.Request], bool],
        stats: NodeStats,
    ) -> None:
        self._runtime = runtime
        self._stats = stats
        self._node = node
        self._ssl = ssl_context
        self._authorize = authorize
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        @web.middleware
        async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
            if not self._authorize(request):
                return _status(403, "Forbidden", "only the API server may use the node's endpoint")
            return await handler(request)

        app = web.Application(middlewares=[guard])
        app.router.add_get("/healthz", _healthz)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.logs)
        app.router.add_get("/stats/summary", self.summary)
        app.router.add_route("*", "/exec/{ns}/{pod}/{container}", self.exec)
        app.router.add_route("*", "/attach/{ns}/{pod}/{container}", self.attach)
        app.router.add_route("*", "/portForward/{ns}/{pod}", self.port_forward)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self._ssl, reuse_address=True)
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                return int(address[1])
        raise RuntimeError("the kubelet server is not listening")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _containers(self, ns: str, pod: str, name: str) -> list[ContainerState]:
        states = await self._runtime.list_containers(
            {LABEL_NODE: self._node.name, LABEL_POD_NAMESPACE: ns, LABEL_POD_NAME: pod, LABEL_CONTAINER_NAME: name}
        )
        return sorted(states, key=lambda s: int(s.labels.get(LABEL_ATTEMPT, "0")), reverse=True)

    async def summary(self, _: web.Request) -> web.Response:
        try:
            return web.json_response(await self._stats.summary())
        except RuntimeFailure as e:
            return _status(503, "ServiceUnavailable", f"cannot read container usage: {e.message}")

    async def logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod, name = (request.match_info[k] for k in ("ns", "pod", "container"))
        states = await self._containers(ns, pod, name)
        previous = _flag(request, "previous")
        if len(states) < (2 if previous else 1):
            what = "previous terminated container" if previous else "container"
            return _status(400, "BadRequest", f'{what} "{name}" in pod "{pod}" not found')
        state = states[1] if previous else states[0]
        since: float | None = None
        if request.query.get("sinceSeconds"):
            since = time.time() - int(request.query["sinceSeconds"])
        elif request.query.get("sinceTime"):
            since = instant(request.query["sinceTime"]).timestamp()
        tail = int(request.query["tailLines"]) if request.query.get("tailLines") else None
        limit = int(request.query["limitBytes"]) if request.query.get("limitBytes") else None
        follow = _flag(request, "follow") and not previous
        options = LogOptions(follow=follow, tail=tail, since=since, timestamps=_flag(request, "timestamps"))
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        sent = 0
        async for chunk in self._runtime.logs(state.id, options):
            if limit is not None:
                chunk = chunk[: max(0, limit - sent)]
            await resp.write(chunk)
            sent += len(chunk)
            if limit is not None and sent >= limit:
                break
        await resp.write_eof()
        return resp

    async def exec(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, attach=False)

    async def attach(self, request: web.Request) -> web.StreamResponse:
        """kubectl attach (and kubectl debug -i): the running container's own stdio."""
        return await self._stream(request, attach=True)

    async def _stream(self, request: web.Request, *, attach: bool) -> web.StreamResponse:
        """An exec of ``command`` in a running container, or an attach to it, over the channel
        protocol kubectl negotiated: stdin, stdout, stderr, resize and a final status on the error
        channel (an exec's exit code; an attach ends with the container, or when kubectl leaves)."""
        ns, pod, name = (request.match_info[k] for k in ("ns", "pod", "container"))
        states = await self._containers(ns, pod, name)
        if not states or not states[0].running:
            return _status(400, "BadRequest", f"container {name} is not valid for pod {pod}: not running")
        tty = _flag(request, "tty")
        stdin = _flag(request, "stdin")
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, autoping=True, heartbeat=None)
        await ws.prepare(request)
        execution: ExecSession | None = None
        try:
            if attach:
                session: StreamSession = await self._runtime.attach_session(states[0].id, stdin=stdin)
            else:
                command = request.query.getall("command", [])
                session = execution = await self._runtime.exec_session(states[0].id, command, tty=tty, stdin=stdin)
        except RuntimeFailure as e:
            await ws.send_bytes(
                bytes([ERROR])
                + json.dumps(
                    {"metadata": {}, "status": "Failure", "message": e.message, "reason": "InternalError"}
                ).encode()
            )
            await ws.close()
            return ws

        async def pump_out() -> None:
            while (chunk := await session.read()) is not None:
                stream, data = chunk
                await ws.send_bytes(bytes([STDOUT if tty or stream != 2 else STDERR]) + data)

        async def pump_in() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                channel, data = msg.data[0], msg.data[1:]
                if channel == STDIN:
                    await session.write_stdin(data)
                elif channel == RESIZE:
                    size = json.loads(data)
                    await session.resize(int(size.get("Width", 80)), int(size.get("Height", 24)))
                elif channel == CLOSE and data[:1] == bytes([STDIN]):
                    await session.close_stdin()

        reader = asyncio.create_task(pump_in())
        writer = asyncio.create_task(pump_out())
        try:
            # an exec ends with its command; an attach also when kubectl goes (the container runs on),
            # and reports no exit code, as the kubelet's: kubectl reads a container's from the pod
            await asyncio.wait((writer, reader) if attach else (writer,), return_when=asyncio.FIRST_COMPLETED)
            code = 0 if execution is None else await execution.exit_code()
        finally:
            for task in (reader, writer):
                with contextlib.suppress(Exception):
                    await cancel_and_wait(task)
            await session.close()
        if code == 0:
            status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        else:
            status = {
                "metadata": {},
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "message": f"command terminated with non-zero exit code: exit status {code}",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        if not ws.closed:
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
            await ws.close()
        return ws

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["ns"], request.match_info["pod"]
        sandboxes = await self._containers(ns, pod, SANDBOX_NAME)
        if not sandboxes or not sandboxes[0].running:
            return _status(400, "BadRequest", f"pod {pod} has no running sandbox")
        pod_ip = sandboxes[0].ip or "127.0.0.1"
        ws = web.WebSocketResponse(protocols=(PORT_FORWARD_PROTOCOL,), autoping=True, heartbeat=None)
        await ws.prepare(request)
        await _PortForward(ws, pod_ip).run()
        return ws


class _PortForward:
    """One kubectl port-forward session: per local connection kubectl opens an error stream and a data
    stream (same requestid); the data stream is spliced to the pod's port."""

    def __init__(self, ws: web.WebSocketResponse, pod_ip: str) -> None:
        self._ws = ws
        self._pod_ip = pod_ip
        self._session = SpdySession()
        self._lock = asyncio.Lock()
        self._error_streams: dict[str, int] = {}
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _send(self, frame: bytes) -> None:
        async with self._lock:
            if not self._ws.closed:
                await self._ws.send_bytes(frame)

    async def run(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                for frame in self._session.feed(msg.data):
                    await self._handle(frame)
        finally:
            for task in self._tasks:
                task.cancel()
            for writer in self._writers.values():
                writer.close()

    async def _handle(self, frame: Any) -> None:
        if frame.kind == SYN_STREAM:
            async with self._lock:  # the reply's header block must go out in compression order
                await self._ws.send_bytes(self._session.syn_reply(frame.stream_id))
            kind = frame.headers.get("streamtype")
            request_id = frame.headers.get("requestid", "")
            if kind == "error":
                self._error_streams[request_id] = frame.stream_id
            elif kind == "data":
                await self._connect(frame.stream_id, int(frame.headers.get("port", "0")), request_id)
        elif frame.kind == 0:
            writer = self._writers.get(frame.stream_id)
            if writer is not None:
                if frame.data:
                    writer.write(frame.data)
                    await writer.drain()
                if frame.flags & FLAG_FIN and writer.can_write_eof():
                    writer.write_eof()
        elif frame.kind == PING:
            await self._send(self._session.ping(frame.data))
        elif frame.kind == RST_STREAM:
            writer = self._writers.pop(frame.stream_id, None)
            if writer is not None:
                writer.close()

    async def _connect(self, stream_id: int, port: int, request_id: str) -> None:
        error_stream = self._error_streams.get(request_id)
        try:
            reader, writer = await asyncio.open_connection(self._pod_ip, port)
        except OSError as e:
            if error_stream is not None:
                message = f"error forwarding port {port} to pod {self._pod_ip}: {e.strerror or e}"
                await self._send(self._session.data(error_stream, message.encode(), fin=True))
            await self._send(self._session.data(stream_id, b"", fin=True))
            return
        self._writers[stream_id] = writer
        task = asyncio.create_task(self._pump(reader, stream_id, request_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, stream_id: int, request_id: str) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._send(self._session.data(stream_id, data))
        await self._send(self._session.data(stream_id, b"", fin=True))
        error_stream = self._error_streams.pop(request_id, None)
        if error_stream is not None:
            await self._send(self._session.data(error_stream, b"", fin=True))
        writer = self._writers.pop(stream_id, None)
        if writer is not None:
            writer.close()
