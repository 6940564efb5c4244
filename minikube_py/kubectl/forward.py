"""``port-forward``: local ports relayed to a pod's ports over the protocol kubectl v1.32 speaks, SPDY/3.1
carried in WebSocket binary messages (subprotocol ``SPDY/3.1+portforward.k8s.io``).

One WebSocket per command; per local connection two SPDY streams sharing a ``requestid``: an error
stream (half-closed at once; the server writes a failure there) and a data stream spliced to the
local socket. Header blocks share one compression context per direction, so a stream's opening frame
is compressed and sent under one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass
from typing import Any

import click

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.pods import pod_for
from minikube_py.kubectl.session import Session, klog, run

Obj = dict[str, Any]
PROTOCOL = "SPDY/3.1+portforward.k8s.io"


@dataclass(frozen=True)
class Mapping:
    local: int  # 0: any free port
    remote: int


def parse_port(spec: str) -> tuple[str, str]:
    """``8080``, ``8080:80``, ``:80`` into the local part ("" for a free port) and the remote part."""
    local, colon, remote = spec.partition(":")
    if not colon:
        return local, local
    if not remote:
        raise CommandError(f"Invalid port format '{spec}'")
    return local, remote


def _number(text: str, which: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise CommandError(
            f"Error parsing {which} port '{text}': strconv.ParseUint: parsing \"{text}\": invalid syntax"
        )
    return int(text)


def container_port(pod: Obj, name: str) -> int:
    """A named port of one of the pod's containers."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    raise CommandError(f"Pod '{pod['metadata']['name']}' does not have a named port '{name}'")


def mappings(specs: tuple[str, ...], pod: Obj, service: Obj | None) -> list[Mapping]:
    """The port pairs, with a service's ports turned into the pod ports they target and named ports
    into numbers, as kubectl does before it forwards."""
    out = []
    for spec in specs:
        local, remote = parse_port(spec)
        if service is not None:
            number = _number(remote, "remote")
            port = next((p for p in (service.get("spec") or {}).get("ports") or [] if p.get("port") == number), None)
            if port is None:
                raise CommandError(f"Service {service['metadata']['name']} does not have a service port {number}")
            target = port.get("targetPort", number)
            target = container_port(pod, target) if isinstance(target, str) else int(target)
        else:
            target = int(remote) if remote.isdigit() else container_port(pod, remote)
            if local == remote and not remote.isdigit():
                local = str(target)
        out.append(Mapping(_number(local, "local") if local else 0, target))
    return out


def listen_addresses(addresses: tuple[str, ...]) -> list[str]:
    """``--address`` values (comma lists allowed); ``localhost`` is both loopbacks, as in kubectl."""
    out: list[str] = []
    for value in addresses or ("localhost",):
        for address in value.split(","):
            for one in ["127.0.0.1", "::1"] if address == "localhost" else [address]:
                if one not in out:
                    out.append(one)
    return out


def shown(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class Tunnel:
    """The SPDY session to the pod: local connections become stream pairs on it."""

    def __init__(self, ws: Any) -> None:
        from minikube_py.agent.spdy import SpdySession

        self.ws = ws
        self.spdy = SpdySession()
        self.lock = asyncio.Lock()
        self.next_stream = 1
        self.next_request = 0
        self.writers: dict[int, asyncio.StreamWriter] = {}
        self.closed: dict[int, asyncio.Event] = {}
        #: error stream -> which forwarding it reports on ("LOCAL -> REMOTE") and what came so far
        self.errors: dict[int, tuple[str, bytearray]] = {}
        #: the local connections being served
        self.connections: set[asyncio.Task[Any]] = set()

    async def send(self, frame: bytes) -> None:
        async with self.lock:
            await self.ws.send_bytes(frame)

    async def _open(self, headers: dict[str, str]) -> int:
        async with self.lock:  # compressed header blocks must go out in the order they were made
            stream, self.next_stream = self.next_stream, self.next_stream + 2
            await self.ws.send_bytes(self.spdy.syn_stream(stream, headers))
        return stream

    async def receive(self) -> None:
        """Dispatch the pod side's frames until the WebSocket ends."""
        import aiohttp

        from minikube_py.agent.spdy import FLAG_FIN, PING, RST_STREAM

        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                continue
            for frame in self.spdy.feed(msg.data):
                if frame.kind == PING:
                    await self.send(self.spdy.ping(frame.data))
                elif frame.kind == 0 and frame.stream_id in self.errors:
                    self.errors[frame.stream_id][1].extend(frame.data)
                    if frame.flags & FLAG_FIN and self._error_done(frame.stream_id):
                        # as kubectl 1.32 (client-go closes the stream connection after a forwarding error):
                        # the command then ends with "lost connection to pod"
                        await self.ws.close()
                        return
                elif frame.kind == 0 and frame.stream_id in self.writers:
                    writer = self.writers[frame.stream_id]
                    if frame.data:
                        writer.write(frame.data)
                        with contextlib.suppress(ConnectionError):
                            await writer.drain()
                    if frame.flags & FLAG_FIN:
                        self.closed[frame.stream_id].set()
                elif frame.kind == RST_STREAM and frame.stream_id in self.closed:
                    self.closed[frame.stream_id].set()

    def _error_done(self, stream: int) -> bool:
        """The pod side's account of one connection is complete; True when it reports an error (logged
        as kubectl logs it)."""
        forwarding, text = self.errors.pop(stream)
        event = self.closed.pop(stream, None)
        if event is not None:
            event.set()
        if not text:
            return False
        message = f"an error occurred forwarding {forwarding}: {text.decode(errors='replace')}"
        klog("E", "portforward.go:424", f'"Unhandled Error" err={json.dumps(message)}')
        return True

    async def connection(
        self, mapping: Mapping, local: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One local connection: an error stream and a data stream for ``mapping.remote``."""
        click.echo(f"Handling connection for {local}")
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        request = str(self.next_request)
        self.next_request += 1
        headers = {"port": str(mapping.remote), "requestid": request}
        error = await self._open({"streamtype": "error", **headers})
        self.errors[error] = (f"{local} -> {mapping.remote}", bytearray())
        self.closed[error] = error_done = asyncio.Event()
        await self.send(self.spdy.data(error, b"", fin=True))
        data = await self._open({"streamtype": "data", **headers})
        self.writers[data] = writer
        self.closed[data] = remote_done = asyncio.Event()
        upload = asyncio.create_task(self._upload(reader, data))
        try:
            # as kubectl: the local connection ends when the pod's side has ended and said why
            await remote_done.wait()
            await error_done.wait()
        finally:
            upload.cancel()
            self.writers.pop(data, None)
            self.closed.pop(data, None)
            writer.close()
            self.connections.discard(task)  # type: ignore[arg-type]

    async def end(self) -> None:
        """The stream connection is gone: every local connection ends now, as kubectl's do (rather
        than being cancelled with the event loop, which asyncio's stream server reports as an error)."""
        for event in self.closed.values():
            event.set()
        await asyncio.gather(*self.connections, return_exceptions=True)

    async def _upload(self, reader: asyncio.StreamReader, stream: int) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                await self.send(self.spdy.data(stream, chunk))
            await self.send(self.spdy.data(stream, b"", fin=True))


async def _listen(tunnel: Tunnel, mapping: Mapping, addresses: list[str]) -> list[asyncio.Server]:
    """Listeners for one mapping on every address that can be bound (kubectl fails only when none can)."""
    servers: list[asyncio.Server] = []
    port = mapping.local
    failures = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await tunnel.connection(mapping, writer.get_extra_info("sockname")[1], reader, writer)

        try:
            server = await asyncio.start_server(accept, address, port, family=family, reuse_address=True)
        except OSError as exc:
            failures.append(
                f"unable to create listener: Error listen tcp{'6' if family == socket.AF_INET6 else '4'}:"
                f" {shown(address, port)}: bind: {exc.strerror}"
            )
            continue
        port = server.sockets[0].getsockname()[1]  # the free port chosen first serves every address
        click.echo(f"Forwarding from {shown(address, port)} -> {mapping.remote}")
        servers.append(server)
    if not servers:
        raise CommandError(
            f"Unable to listen on port {mapping.local}: Listeners failed to create with the following "
            f"errors: [{' '.join(failures)}]"
        )
    return servers


@click.command(name="port-forward")
@click.argument("target")
@click.argument("ports", nargs=-1, required=True)
@click.option(
    "--address",
    "addresses",
    multiple=True,
    help="Addresses to listen on (comma-separated); localhost (127.0.0.1 and ::1) by default.",
)
@click.option("--pod-running-timeout", default="1m0s", help="How long to wait for a running pod.")
def port_forward(target: str, ports: tuple[str, ...], addresses: tuple[str, ...], pod_running_timeout: str) -> None:
    """Forward one or more local ports to a pod (or to a pod of a deployment, service...)."""

    async def work(session: Session) -> int:
        picked = await pod_for(session, target)
        pod, service = picked.pod, picked.service
        pairs = mappings(ports, pod, service)
        phase = (pod.get("status") or {}).get("phase")
        if phase != "Running":
            raise CommandError(f"unable to forward port because pod is not running. Current status={phase}")
        path = f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/{pod['metadata']['name']}/portforward"
        async with session.api.websocket(path, protocols=(PROTOCOL,)) as ws:
            tunnel = Tunnel(ws)
            servers = [s for pair in pairs for s in await _listen(tunnel, pair, listen_addresses(addresses))]
            try:
                await tunnel.receive()
            finally:
                for server in servers:
                    server.close()
                await tunnel.end()
            raise CommandError("lost connection to pod")

    run(work)
