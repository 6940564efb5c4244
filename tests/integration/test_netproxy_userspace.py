"""The userspace proxier on real sockets (127.0.0.1 only), on both the default event loop and uvloop.

Backends are asyncio servers in the test's own loop. Each test runs its scenario in a fresh loop of
each kind through ``asyncio.Runner`` (pytest-asyncio's loop parametrization needs a conftest hook),
bounded by a timeout so a proxy that hangs fails the test instead of stalling the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, cast

import pytest
import uvloop
from prometheus_client import REGISTRY

from minikube_py.netproxy.balancer import BackendSet, ServicePortName
from minikube_py.netproxy.userspace import UserspaceProxier

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
WEB = ServicePortName("default", "web", "http", "TCP")
DNS = ServicePortName("default", "web", "dns", "UDP")
LOCAL = "127.0.0.1"

Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Run:
    factory = LOOPS[request.param]

    async def bounded(scenario: Coroutine[Any, Any, None]) -> None:
        async with asyncio.timeout(30):
            await scenario

    def runner(scenario: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=factory) as r:
            r.run(bounded(scenario))

    return runner


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Backend:
    """A TCP server speaking a line protocol: ``who`` → its name (repeatable); ``echo`` → echoes the
    rest of the stream and closes after EOF; ``sink`` → reads to EOF, then replies with the length and
    SHA-256 of what it read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Backend:
        self.server = await asyncio.start_server(self._handle, LOCAL, 0, backlog=1024)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def endpoint(self) -> tuple[str, int]:
        return (LOCAL, self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while command := (await reader.readline()).strip():
                if command == b"who":
                    writer.write(self.name.encode() + b"\n")
                elif command == b"echo":
                    while chunk := await reader.read(1 << 20):
                        writer.write(chunk)
                        await writer.drain()
                    break
                elif command == b"sink":
                    digest, total = hashlib.sha256(), 0
                    while chunk := await reader.read(1 << 20):
                        digest.update(chunk)
                        total += len(chunk)
                    writer.write(f"{total} {digest.hexdigest()}\n".encode())
                    break
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except ConnectionError:
            writer.close()
        finally:
            self._writers.discard(writer)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self._writers):
            writer.close()
        await self.server.wait_closed()


class UdpBackend(asyncio.DatagramProtocol):
    """Answers each datagram with its name and the source port it came from."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def start(self) -> UdpBackend:
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, local_addr=(LOCAL, 0))
        assert self.transport is not None
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(f"{self.name} {addr[1]} ".encode() + data, addr)

    @property
    def endpoint(self) -> tuple[str, int]:
        return (LOCAL, self.port)

    def stop(self) -> None:
        assert self.transport is not None
        self.transport.close()


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, port: int) -> UdpClient:
        client = cls()
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: client, remote_addr=(LOCAL, port))
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)

    async def ask(self, payload: bytes = b"ping") -> tuple[str, int, bytes]:
        """Send a datagram, return (backend name, the session's source port at the backend, payload)."""
        assert self.transport is not None
        self.transport.sendto(payload)
        async with asyncio.timeout(5):
            name, port, echoed = (await self.received.get()).split(b" ", 2)
        return name.decode(), int(port), echoed

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


@contextlib.asynccontextmanager
async def proxied(*names: str, **options: Any) -> AsyncIterator[tuple[UserspaceProxier, list[Backend]]]:
    """Backends of these names and a proxier on loopback, all stopped afterwards."""
    backends = [await Backend(name).start() for name in names]
    proxier = UserspaceProxier(bind_host=LOCAL, **options)
    try:
        yield proxier, backends
    finally:
        await proxier.close()
        for backend in backends:
            await backend.stop()


async def connect(port: int, source: str = LOCAL) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(LOCAL, port, local_addr=(source, 0))


async def who(port: int, source: str = LOCAL) -> str:
    reader, writer = await connect(port, source)
    try:
        writer.write(b"who\n")
        return (await reader.readline()).decode().strip()
    finally:
        writer.close()


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def refused_endpoint() -> tuple[socket.socket, tuple[str, int]]:
    """A bound socket that does not listen: connecting to its port is refused, and holding the socket
    keeps anyone else from taking the port meanwhile."""
    sock = socket.socket()
    sock.bind((LOCAL, 0))
    return sock, sock.getsockname()


async def until(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """Poll for an effect of the proxier's own timers (UDP idle expiry), for a bounded time."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def expect_reset_within(port: int, seconds: float) -> None:
    started = time.monotonic()
    reader, writer = await connect(port)
    try:
        writer.write(b"who\n")
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(seconds):
                if not await reader.read(100):
                    raise AssertionError("closed with a FIN, not a reset")
    finally:
        await close_writer(writer)
    assert time.monotonic() - started < seconds


# --- TCP ---------------------------------------------------------------------------------------------


def connections(result: str) -> float:
    """pykube_proxy_connections_total{result} so far."""
    return REGISTRY.get_sample_value("pykube_proxy_connections_total", {"result": result}) or 0.0


def test_connections_spread_over_backends_round_robin(run: Run) -> None:
    connected = connections("connected")

    async def scenario() -> None:
        async with proxied("a", "b") as (proxier, (a, b)):
            ports = await proxier.sync({WEB: BackendSet((a.endpoint, b.endpoint))})
            names = [await who(ports[WEB]) for _ in range(6)]
            assert set(names) == {"a", "b"}
            assert names == names[:2] * 3

    run(scenario())
    assert connections("connected") - connected == 6


def test_a_refusing_backend_is_skipped(run: Run) -> None:
    async def scenario() -> None:
        a = await Backend("a").start()
        dead, dead_endpoint = refused_endpoint()
        proxier = UserspaceProxier(bind_host=LOCAL)
        try:
            ports = await proxier.sync({WEB: BackendSet((dead_endpoint, a.endpoint))})
            assert [await who(ports[WEB]) for _ in range(4)] == ["a"] * 4
        finally:
            await proxier.close()
            await a.stop()
            dead.close()

    run(scenario())


def test_an_endpoint_that_does_not_answer_times_out_and_is_skipped(run: Run) -> None:
    async def scenario() -> None:
        a = await Backend("a").start()
        # a listener with a full accept queue drops further SYNs: connecting to it hangs
        silent = socket.socket()
        silent.bind((LOCAL, 0))
        silent.listen(0)
        queued = socket.create_connection(silent.getsockname())
        proxier = UserspaceProxier(bind_host=LOCAL, connect_timeout=0.3)
        try:
            ports = await proxier.sync({WEB: BackendSet((silent.getsockname(), a.endpoint))})
            started = time.monotonic()
            assert [await who(ports[WEB]) for _ in range(2)] == ["a", "a"]
            assert 0.3 <= time.monotonic() - started < 2.0
        finally:
            await proxier.close()
            await a.stop()
            queued.close()
            silent.close()

    run(scenario())


def test_no_endpoints_resets_the_client_at_once(run: Run) -> None:
    failed = connections("failed")

    async def scenario() -> None:
        dead, dead_endpoint = refused_endpoint()
        proxier = UserspaceProxier(bind_host=LOCAL)
        try:
            ports = await proxier.sync({WEB: BackendSet(())})
            await expect_reset_within(ports[WEB], 1.0)
            ports = await proxier.sync({WEB: BackendSet((dead_endpoint,))})  # all refuse: the same
            await expect_reset_within(ports[WEB], 1.0)
        finally:
            await proxier.close()
            dead.close()

    run(scenario())
    assert connections("failed") - failed == 2


@pytest.mark.parametrize("use_splice", [True, False], ids=["splice", "copy"])
def test_a_large_transfer_arrives_intact_both_ways(run: Run, use_splice: bool) -> None:
    size = 50 * 1024 * 1024
    chunk = 1 << 20

    async def scenario() -> None:
        async with proxied("a") as (proxier, (a,)):
            proxier.use_splice = use_splice
            ports = await proxier.sync({WEB: BackendSet((a.endpoint,))})
            reader, writer = await connect(ports[WEB])
            sent, received = hashlib.sha256(), hashlib.sha256()

            async def send() -> None:
                writer.write(b"echo\n")
                for i in range(size // chunk):
                    block = os.urandom(64) * (chunk // 64) if i % 2 else os.urandom(chunk)
                    sent.update(block)
                    writer.write(block)
                    await writer.drain()
                writer.write_eof()

            async def receive() -> int:
                total = 0
                while data := await reader.read(1 << 20):
                    received.update(data)
                    total += len(data)
                return total

            _, total = await asyncio.gather(send(), receive())
            await close_writer(writer)
            assert total == size
            assert received.hexdigest() == sent.hexdigest()

    run(scenario())


def test_many_concurrent_connections(run: Run) -> None:
    async def scenario() -> None:
        async with proxied("a", "b") as (proxier, (a, b)):
            ports = await proxier.sync({WEB: BackendSet((a.endpoint, b.endpoint))})

            async def echo(size: int) -> bool:
                reader, writer = await connect(ports[WEB])
                payload = os.urandom(size)
                writer.write(b"echo\n" + payload)
                writer.write_eof()
                answer = await reader.read()
                await close_writer(writer)
                return answer == payload

            assert all(await asyncio.gather(*(echo(i * 997 % 300_000) for i in range(200))))
            await until(lambda: proxier.active_connections == 0, "the proxied connections to end")

    run(scenario())


def test_half_close_still_gets_the_reply(run: Run) -> None:
    async def scenario() -> None:
        async with proxied("a") as (proxier, (a,)):
            ports = await proxier.sync({WEB: BackendSet((a.endpoint,))})
            reader, writer = await connect(ports[WEB])
            body = os.urandom(300_000)
            writer.write(b"sink\n" + body)
            writer.write_eof()  # shutdown(SHUT_WR): the backend sees EOF, then answers
            reply = await reader.read()
            await close_writer(writer)
            assert reply == f"{len(body)} {hashlib.sha256(body).hexdigest()}\n".encode()

    run(scenario())


def test_established_connection_outlives_its_endpoint_and_its_service(run: Run) -> None:
    async def scenario() -> None:
        async with proxied("a") as (proxier, (a,)):
            ports = await proxier.sync({WEB: BackendSet((a.endpoint,))})
            reader, writer = await connect(ports[WEB])
            writer.write(b"who\n")
            assert await reader.readline() == b"a\n"

            await proxier.sync({WEB: BackendSet(())})  # the endpoint leaves: new connections are refused
            await expect_reset_within(ports[WEB], 1.0)
            writer.write(b"who\n")
            assert await reader.readline() == b"a\n"

            assert await proxier.sync({}) == {}  # the service port goes: its listener closes
            with pytest.raises(ConnectionRefusedError):
                await connect(ports[WEB])
            writer.write(b"who\n")
            assert await reader.readline() == b"a\n"
            await until(lambda: proxier.active_connections == 1, "only the established connection to remain")

            writer.write_eof()
            assert await reader.read() == b""
            await close_writer(writer)

    run(scenario())


def test_client_ip_affinity(run: Run) -> None:
    async def scenario() -> None:
        async with proxied("a", "b") as (proxier, (a, b)):
            # REDIRECT keeps the client's address: clients on two loopback addresses are two clients
            ports = await proxier.sync({WEB: BackendSet((a.endpoint, b.endpoint), affinity_seconds=10800)})
            first = [await who(ports[WEB], "127.0.0.1") for _ in range(4)]
            second = [await who(ports[WEB], "127.0.0.2") for _ in range(4)]
            assert len(set(first)) == 1
            assert len(set(second)) == 1
            assert first[0] != second[0]

    run(scenario())


def test_sync_keeps_local_ports_and_listeners_survive_broken_connections(run: Run) -> None:
    async def scenario() -> None:
        async with proxied("a") as (proxier, (a,)):
            other = ServicePortName("other", "db", "", "TCP")
            sctp = ServicePortName("other", "db", "", "SCTP")
            first = await proxier.sync({WEB: BackendSet((a.endpoint,)), DNS: BackendSet(())})
            again = await proxier.sync(
                {
                    WEB: BackendSet((a.endpoint,)),
                    DNS: BackendSet(()),
                    other: BackendSet((a.endpoint,)),
                    sctp: BackendSet((a.endpoint,)),
                }
            )
            assert first[WEB] == again[WEB]
            assert first[DNS] == again[DNS]
            assert len(set(again.values())) == 3  # SCTP has no userspace listener: left out

            for _ in range(5):  # clients that vanish mid-stream with a reset
                reader, writer = await connect(again[WEB])
                writer.write(b"echo\n" + os.urandom(100_000))
                await reader.readexactly(10_000)
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                writer.transport.abort()
            assert await who(again[WEB]) == "a"
            assert await who(again[other]) == "a"

    run(scenario())


# --- UDP ---------------------------------------------------------------------------------------------


def test_udp_round_trip_session_reuse_and_idle_expiry(run: Run) -> None:
    async def scenario() -> None:
        a, b = await UdpBackend("a").start(), await UdpBackend("b").start()
        proxier = UserspaceProxier(bind_host=LOCAL, udp_idle_timeout=0.3)
        one = two = None
        try:
            ports = await proxier.sync({DNS: BackendSet((a.endpoint, b.endpoint))})
            one, two = await UdpClient.open(ports[DNS]), await UdpClient.open(ports[DNS])
            name1, port1, echoed = await one.ask(b"hello")
            assert echoed == b"hello"
            assert await one.ask() == (name1, port1, b"ping")  # same session: same endpoint, same socket
            name2, _, _ = await two.ask()
            assert name2 != name1  # a new client is a new session, chosen round robin
            assert proxier.udp_sessions(DNS) == 2

            await until(lambda: proxier.udp_sessions(DNS) == 0, "idle sessions to close")
            _, port3, _ = await one.ask()
            assert port3 != port1  # a new session after the idle one closed
            assert proxier.udp_sessions(DNS) == 1
        finally:
            for client in (one, two):
                if client is not None:
                    client.close()
            await proxier.close()
            a.stop()
            b.stop()

    run(scenario())


def test_udp_without_endpoints_drops_then_recovers(run: Run) -> None:
    async def scenario() -> None:
        a = await UdpBackend("a").start()
        proxier = UserspaceProxier(bind_host=LOCAL)
        client = None
        try:
            ports = await proxier.sync({DNS: BackendSet(())})
            client = await UdpClient.open(ports[DNS])
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await client.ask()
            assert proxier.udp_sessions(DNS) == 0
            await proxier.sync({DNS: BackendSet((a.endpoint,))})
            assert (await client.ask())[0] == "a"

            b = await UdpBackend("b").start()  # a's endpoint leaves: its sessions end with it
            await proxier.sync({DNS: BackendSet((b.endpoint,))})
            assert proxier.udp_sessions(DNS) == 0
            assert (await client.ask())[0] == "b"
            b.stop()
        finally:
            if client is not None:
                client.close()
            await proxier.close()
            a.stop()

    run(scenario())


# --- cleanliness -------------------------------------------------------------------------------------


def test_close_leaves_no_fds_or_tasks_behind(run: Run) -> None:
    async def scenario() -> None:
        a = await Backend("a").start()
        u = await UdpBackend("u").start()
        before = open_fds()
        proxier = UserspaceProxier(bind_host=LOCAL)
        ports = await proxier.sync({WEB: BackendSet((a.endpoint,)), DNS: BackendSet((u.endpoint,))})
        assert await who(ports[WEB]) == "a"
        live = [await connect(ports[WEB]) for _ in range(3)]
        for reader, writer in live:  # spliced, mid-stream
            writer.write(b"who\n")
            assert await reader.readline() == b"a\n"
        udp = await UdpClient.open(ports[DNS])
        assert (await udp.ask())[0] == "u"
        assert open_fds() > before

        await proxier.close()
        for reader, writer in live:
            assert await reader.read() == b""  # closed, and closed normally
            await close_writer(writer)
        udp.close()
        await asyncio.sleep(0)  # let the transports finish closing
        assert proxier.active_connections == 0
        assert open_fds() == before
        assert asyncio.all_tasks() == {asyncio.current_task()}
        await a.stop()
        u.stop()

    run(scenario())
