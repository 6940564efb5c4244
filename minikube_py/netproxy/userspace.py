"""The userspace proxier: local listeners that iptables REDIRECTs service traffic to, relaying it to endpoints.

One listener per service port, on ``bind_host:0``; the proxy glue points iptables at the port that
``sync`` returns. REDIRECT keeps the source address, so an accepted socket's peer is the real client
(which session affinity keys on).

TCP. Each accepted connection gets an endpoint from the balancer; a connect that fails or times out
moves on to the next endpoint (excluding the failed ones) and, when none is left, the client is
closed with a reset (SO_LINGER 0) so it sees a refusal at once instead of a connection that hangs or
ends cleanly with no answer. Then both directions are spliced until each side has sent its EOF; an
EOF is passed on as a half-close (``shutdown(SHUT_WR)``) so request/response protocols that close
their sending side still get their reply. A read or write error on either side resets both: a peer
should see that the stream broke, not a clean end of a truncated one.

Throughput is the point of this module's shape. A connection is not a pair of asyncio streams
(every byte would be copied into Python objects twice) but two pumps driven by readiness callbacks
(``loop.add_reader``/``add_writer`` on the raw non-blocking fds, which both the default loop and
uvloop support) that move data with ``os.splice`` through a pipe per direction: socket → pipe → socket
moves page references inside the kernel, so the proxy never touches the payload. A pump has one read
in flight at most: it reads, writes all of it, and only when the destination is full swaps its read
interest for write interest until the pipe is empty again, so level-triggered readiness can never
spin and a slow receiver back-pressures the sender through TCP. Where ``os.splice`` is missing the
pumps copy through one large buffer instead (``recv_into``/``send``). No thread per connection.
(bench/splice.py: the proxier spends about 0.23 CPU seconds per GB with splice, nearly all of it the
kernel's TCP work for the second connection, against 0.5 when copying.)

Established connections belong to the proxier, not to their listener: a ``sync`` that changes a
service's endpoints, or removes the service port altogether (closing its listener), lets them run to
their end, as Kubernetes' userspace proxy did; ``close`` ends them all.

UDP. One socket per service port; each client address gets a session: its own socket connected to
the endpoint chosen when the session opened (so a client's datagrams stick to one endpoint for the
session's life), whose replies go back to the client from the listening socket. Sessions idle (no
datagram either way) for ``udp_idle_timeout`` are closed, as are sessions whose endpoint left the
service (there is no established stream to protect, and a removed pod would black-hole the client
until the timeout). A datagram arriving while there is no endpoint is dropped. Replies leave from the
listening socket, from the address the client sent to (:mod:`.udp`), so that conntrack undoes the
REDIRECT and the client sees the service address answer.

Errors of one connection or datagram are logged at debug level and touch nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import struct
from collections.abc import Callable, Mapping

from minikube_py.metrics import PROXY_CONNECTIONS
from minikube_py.netproxy.balancer import BackendSet, Endpoint, LoadBalancer, ServicePortName
from minikube_py.netproxy.udp import enable_pktinfo, receive, reply_from

log = logging.getLogger(__name__)

#: splice(2) moves page references instead of copying; NONBLOCK so a full pipe or socket returns EAGAIN
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
#: pipe capacity asked for: a large pipe means few syscalls per megabyte, and costs no memory up front (it
#: holds references to the sockets' pages, and only while data is in flight); the kernel may grant less
PIPE_SIZE = 1 << 20
#: buffer per direction of the copying fallback (allocated for the connection's life, so not too big)
COPY_BUFFER = 1 << 17
#: reads one readiness event may do before the loop serves other connections
_READS_PER_EVENT = 8
_ACCEPTS_PER_EVENT = 64
_DATAGRAMS_PER_EVENT = 64
_CONNECTED, _FAILED = PROXY_CONNECTIONS.labels("connected"), PROXY_CONNECTIONS.labels("failed")
_ACCEPT_PAUSE = 0.1  # after accept fails (out of fds): the pending connection keeps the listener readable
_MAX_DATAGRAM = 65535
_LINGER_RESET = struct.pack("ii", 1, 0)


def splice_supported() -> bool:
    """Whether this platform has splice(2) (Linux with Python ≥ 3.10)."""
    return hasattr(os, "splice")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN: the peer's connect/recv fails at once."""
    if sock.fileno() >= 0:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()


def _set_nodelay(sock: socket.socket) -> None:
    """The proxy passes segments on as they come; Nagle on its sockets would hold back the second small
    write of a request until the first is acknowledged (a delayed-ACK stall the client never asked for)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# --- TCP ---------------------------------------------------------------------------------------------


class _Interest:
    """The event loop's interest in one fd's readiness (readable or writable), held or not: it is added
    and removed on a change only (adding twice would replace the callback, removing twice is a
    wasted call into the loop)."""

    __slots__ = ("_add", "_callback", "_fd", "_remove", "held")

    def __init__(
        self, add: Callable[..., object], remove: Callable[[int], object], fd: int, callback: Callable[[], None]
    ) -> None:
        self._add, self._remove, self._fd, self._callback = add, remove, fd, callback
        self.held = False

    def want(self) -> None:
        if not self.held:
            self._add(self._fd, self._callback)
            self.held = True

    def drop(self) -> None:
        if self.held:
            self._remove(self._fd)
            self.held = False


class _Pump:
    """One direction of a connection, src → dst, driven by readiness callbacks: read, write it all; if dst
    is full, wait for it writable (not reading meanwhile), then read again. Subclasses move the bytes."""

    def __init__(self, conn: _Connection, src: socket.socket, dst: socket.socket) -> None:
        self._conn = conn
        self._loop = conn.loop
        self._src, self._dst = src, dst
        self._src_fd, self._dst_fd = src.fileno(), dst.fileno()
        self._reading = _Interest(self._loop.add_reader, self._loop.remove_reader, self._src_fd, self._on_readable)
        self._writing = _Interest(self._loop.add_writer, self._loop.remove_writer, self._dst_fd, self._on_writable)
        self.done = False

    # moving bytes: _read returns bytes now pending (0 at EOF, -1 when nothing is ready); _flush
    # writes pending bytes, returning False when dst is full with some still pending
    def _read(self) -> int:
        raise NotImplementedError

    def _flush(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self._reading.want()

    def _on_readable(self) -> None:
        try:
            for _ in range(_READS_PER_EVENT):
                n = self._read()
                if n < 0:
                    return
                if n == 0:
                    self._eof()
                    return
                if not self._flush():
                    self._reading.drop()
                    self._writing.want()
                    return
        except Exception as exc:
            self._conn.abort(exc)

    def _on_writable(self) -> None:
        try:
            if self._flush():
                self._writing.drop()
                self._reading.want()
        except Exception as exc:
            self._conn.abort(exc)

    def _eof(self) -> None:
        self._reading.drop()
        self.done = True
        self._dst.shutdown(socket.SHUT_WR)
        self._conn.pump_done()

    def stop(self) -> None:
        """Drop readiness interest; must happen before the sockets are closed (a closed fd's number is
        soon reused, and the event loop would watch the wrong file)."""
        self._reading.drop()
        self._writing.drop()

    def close(self) -> None:
        self.stop()


class _SplicePump(_Pump):
    """Zero-copy: socket → pipe → socket with splice(2)."""

    def __init__(self, conn: _Connection, src: socket.socket, dst: socket.socket) -> None:
        super().__init__(conn, src, dst)
        self._pipe_r, self._pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # may exceed /proc/sys/fs/pipe-max-size or the user's pipe quota: the default pipe still works
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._pipe_w, _F_SETPIPE_SZ, PIPE_SIZE)
        self._pending = 0

    def _read(self) -> int:
        try:
            self._pending = os.splice(self._src_fd, self._pipe_w, PIPE_SIZE, flags=_SPLICE_FLAGS)
        except (BlockingIOError, InterruptedError):
            return -1
        return self._pending

    def _flush(self) -> bool:
        while self._pending:
            try:
                self._pending -= os.splice(self._pipe_r, self._dst_fd, self._pending, flags=_SPLICE_FLAGS)
            except (BlockingIOError, InterruptedError):
                return False
        return True

    def close(self) -> None:
        super().close()
        if self._pipe_r >= 0:
            os.close(self._pipe_r)
            os.close(self._pipe_w)
            self._pipe_r = self._pipe_w = -1


class _CopyPump(_Pump):
    """Fallback without splice(2): one large buffer, recv_into and send."""

    def __init__(self, conn: _Connection, src: socket.socket, dst: socket.socket) -> None:
        super().__init__(conn, src, dst)
        self._buffer = memoryview(bytearray(COPY_BUFFER))
        self._start = self._end = 0

    def _read(self) -> int:
        try:
            n = self._src.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return -1
        self._start, self._end = 0, n
        return n

    def _flush(self) -> bool:
        while self._start < self._end:
            try:
                self._start += self._dst.send(self._buffer[self._start : self._end])
            except (BlockingIOError, InterruptedError):
                return False
        return True


class _Connection:
    """A client socket and a backend socket joined by two pumps; ``run`` returns once both directions
    have ended (True) or one of them failed (False)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: socket.socket, backend: socket.socket, use_splice: bool
    ) -> None:
        self.loop = loop
        self._finished: asyncio.Future[bool] = loop.create_future()
        pump = _SplicePump if use_splice else _CopyPump
        upstream = pump(self, client, backend)
        try:
            downstream = pump(self, backend, client)
        except BaseException:
            upstream.close()
            raise
        self._pumps = (upstream, downstream)

    async def run(self) -> bool:
        try:
            for pump in self._pumps:
                pump.start()
            return await self._finished
        finally:
            for pump in self._pumps:
                pump.close()

    def pump_done(self) -> None:
        if all(pump.done for pump in self._pumps) and not self._finished.done():
            self._finished.set_result(True)

    def abort(self, exc: BaseException) -> None:
        log.debug("connection broken: %r", exc)
        for pump in self._pumps:
            pump.stop()
        if not self._finished.done():
            self._finished.set_result(False)


def _service_socket(bind_host: str, kind: socket.SocketKind) -> socket.socket:
    """The socket a service port's listener serves on: non-blocking, on an ephemeral port of
    ``bind_host``; a stream socket listening, a datagram socket told each datagram's destination
    (its replies must come from the address the client sent to). Closed again if a step fails."""
    sock = socket.socket(_family(bind_host), kind)
    try:
        sock.setblocking(False)
        if kind == socket.SOCK_DGRAM:
            enable_pktinfo(sock)
        sock.bind((bind_host, 0))
        if kind == socket.SOCK_STREAM:
            sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


class _TcpListener:
    """Accepts on a service port's local port and hands each connection to the proxier."""

    def __init__(self, proxier: UserspaceProxier, service: ServicePortName, bind_host: str) -> None:
        self.service = service
        self._proxier = proxier
        self._loop = asyncio.get_running_loop()
        self._sock = _service_socket(bind_host, socket.SOCK_STREAM)
        self.port: int = self._sock.getsockname()[1]
        self._fd = self._sock.fileno()
        self._paused: asyncio.TimerHandle | None = None
        self._loop.add_reader(self._fd, self._on_acceptable)

    def update(self, backends: BackendSet) -> None:
        """Nothing to do: new connections ask the balancer; established ones keep their endpoint."""

    def _on_acceptable(self) -> None:
        for _ in range(_ACCEPTS_PER_EVENT):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # reset by the client while still queued
            except OSError as exc:
                log.warning("%s: accept failed, pausing: %s", self.service, exc)
                self._loop.remove_reader(self._fd)
                self._paused = self._loop.call_later(_ACCEPT_PAUSE, self._resume)
                return
            self._proxier._spawn_tcp(self.service, conn)

    def _resume(self) -> None:
        self._paused = None
        self._loop.add_reader(self._fd, self._on_acceptable)

    def close(self) -> None:
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        else:
            self._loop.remove_reader(self._fd)
        self._sock.close()


# --- UDP ---------------------------------------------------------------------------------------------


class _UdpSession:
    """One client address's datagrams, to and from the endpoint chosen when it opened."""

    def __init__(self, listener: _UdpListener, client: tuple, endpoint: Endpoint, local: bytes) -> None:
        self.client, self.endpoint = client, endpoint
        self.local = local  # the address the client sent to: replies must come from it
        self._listener = listener
        self._loop = listener.loop
        self._sock = socket.socket(_family(endpoint[0]), socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._sock.connect(endpoint)
        except BaseException:
            self._sock.close()
            raise
        self._fd = self._sock.fileno()
        self.last_active = self._loop.time()
        self._loop.add_reader(self._fd, self._on_replies)

    def forward(self, datagram: memoryview) -> None:
        self.last_active = self._loop.time()
        try:
            self._sock.send(datagram)
        except (BlockingIOError, InterruptedError):
            pass  # a full send queue drops the datagram, as the network would
        except OSError as exc:  # e.g. ECONNREFUSED reported by an earlier ICMP port unreachable
            log.debug("%s: udp to %s failed: %s", self._listener.service, self.endpoint, exc)
            self._listener.end_session(self)

    def _on_replies(self) -> None:
        buffer = self._listener.buffer
        for _ in range(_DATAGRAMS_PER_EVENT):
            try:
                n = self._sock.recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("%s: udp from %s failed: %s", self._listener.service, self.endpoint, exc)
                self._listener.end_session(self)
                return
            self.last_active = self._loop.time()
            self._listener.reply(self, buffer[:n])

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._fd)
            self._sock.close()


class _UdpListener:
    """A service port's datagram socket and its client sessions."""

    def __init__(
        self, proxier: UserspaceProxier, service: ServicePortName, bind_host: str, idle_timeout: float
    ) -> None:
        self.service = service
        self.loop = asyncio.get_running_loop()
        self.buffer = memoryview(bytearray(_MAX_DATAGRAM))
        self._balancer = proxier.balancer
        self._idle = idle_timeout
        self._sessions: dict[tuple, _UdpSession] = {}
        self._sock = _service_socket(bind_host, socket.SOCK_DGRAM)
        self.port: int = self._sock.getsockname()[1]
        self._fd = self._sock.fileno()
        self.loop.add_reader(self._fd, self._on_datagrams)
        # sessions end between idle and idle + period after their last datagram; one timer per listener
        # instead of one rescheduled per datagram
        self._sweep_period = max(min(idle_timeout / 4, 5.0), 0.01)
        self._sweeper = self.loop.call_later(self._sweep_period, self._sweep)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def update(self, backends: BackendSet) -> None:
        current = set(backends.endpoints)
        for session in [s for s in self._sessions.values() if s.endpoint not in current]:
            self.end_session(session)

    def _on_datagrams(self) -> None:
        for _ in range(_DATAGRAMS_PER_EVENT):
            try:
                n, client, local = receive(self._sock, self.buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("%s: udp receive failed: %s", self.service, exc)
                return
            session = self._sessions.get(client) or self._open(client, local)
            if session is not None:
                session.forward(self.buffer[:n])

    def _open(self, client: tuple, local: bytes) -> _UdpSession | None:
        endpoint = self._balancer.next_endpoint(self.service, client[0])
        if endpoint is None:
            log.debug("%s: no endpoint, dropping a datagram from %s", self.service, client)
            return None
        try:
            session = _UdpSession(self, client, endpoint, local)
        except OSError as exc:
            log.debug("%s: udp session to %s failed: %s", self.service, endpoint, exc)
            return None
        self._sessions[client] = session
        return session

    def reply(self, session: _UdpSession, datagram: memoryview) -> None:
        try:
            reply_from(self._sock, datagram, session.client, session.local)
        except OSError as exc:
            log.debug("%s: udp reply to %s failed: %s", self.service, session.client, exc)

    def end_session(self, session: _UdpSession) -> None:
        if self._sessions.get(session.client) is session:
            del self._sessions[session.client]
        session.close()

    def _sweep(self) -> None:
        deadline = self.loop.time() - self._idle
        for session in [s for s in self._sessions.values() if s.last_active <= deadline]:
            self.end_session(session)
        self._sweeper = self.loop.call_later(self._sweep_period, self._sweep)

    def close(self) -> None:
        """Sessions end with their listener: replies could no longer reach their clients."""
        self._sweeper.cancel()
        for session in list(self._sessions.values()):
            self.end_session(session)
        self.loop.remove_reader(self._fd)
        self._sock.close()


# --- the proxier -------------------------------------------------------------------------------------


class UserspaceProxier:
    """Listeners for service ports, kept matching the desired set by ``sync``."""

    def __init__(
        self,
        balancer: LoadBalancer | None = None,
        *,
        bind_host: str = "0.0.0.0",
        connect_timeout: float = 2.0,
        udp_idle_timeout: float = 30.0,
    ) -> None:
        self.balancer = balancer if balancer is not None else LoadBalancer()
        self.bind_host = bind_host
        self.connect_timeout = connect_timeout
        self.udp_idle_timeout = udp_idle_timeout
        #: zero-copy pumps; tests set it False to exercise the copying fallback
        self.use_splice = splice_supported()
        self._listeners: dict[ServicePortName, _TcpListener | _UdpListener] = {}
        self._connections: set[asyncio.Task[None]] = set()
        self._unsupported: set[ServicePortName] = set()  # warned about once, not at every sync
        self._closed = False

    @property
    def active_connections(self) -> int:
        """TCP connections being connected or spliced (including those of removed service ports)."""
        return len(self._connections)

    def udp_sessions(self, service: ServicePortName) -> int:
        """Live UDP sessions of a service port (0 when it has no UDP listener)."""
        listener = self._listeners.get(service)
        return listener.session_count if isinstance(listener, _UdpListener) else 0

    async def sync(self, services: Mapping[ServicePortName, BackendSet]) -> dict[ServicePortName, int]:
        """Make the listeners match: open one (TCP or UDP by protocol) on bind_host:0 per new service port,
        close those gone, update backends of the others; return the local port of every service port.
        Idempotent; a service port keeps its local port across syncs (iptables rules point at it).

        A listener that cannot be opened (out of fds, an unsupported protocol) is logged and left out
        of the result; the next sync tries again."""
        if self._closed:
            raise RuntimeError("proxier is closed")
        for service in [s for s in self._listeners if s not in services]:
            log.debug("%s: closing listener on port %d", service, self._listeners[service].port)
            self._listeners.pop(service).close()
            self.balancer.remove(service)
        self._unsupported.intersection_update(services)
        ports: dict[ServicePortName, int] = {}
        for service, backends in services.items():
            self.balancer.update(service, backends)
            listener = self._listeners.get(service)
            if listener is None:
                try:
                    listener = self._open(service)
                except (OSError, ValueError) as exc:
                    if service not in self._unsupported:
                        log.warning("%s: cannot listen: %s", service, exc)
                    if isinstance(exc, ValueError):
                        self._unsupported.add(service)
                    continue
                log.debug("%s: listening on port %d", service, listener.port)
                self._listeners[service] = listener
            else:
                listener.update(backends)
            ports[service] = listener.port
        return ports

    def _open(self, service: ServicePortName) -> _TcpListener | _UdpListener:
        if service.protocol == "TCP":
            return _TcpListener(self, service, self.bind_host)
        if service.protocol == "UDP":
            return _UdpListener(self, service, self.bind_host, self.udp_idle_timeout)
        raise ValueError(f"protocol {service.protocol} is not supported in userspace mode")

    async def close(self) -> None:
        """Close every listener and every live connection and session."""
        self._closed = True
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    def _spawn_tcp(self, service: ServicePortName, client: socket.socket) -> None:
        task = asyncio.get_running_loop().create_task(self._serve_tcp(service, client))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve_tcp(self, service: ServicePortName, client: socket.socket) -> None:
        backend: socket.socket | None = None
        clean = False
        try:
            client.setblocking(False)
            client_ip = client.getpeername()[0]
            backend = await self._connect(service, client_ip)
            if backend is None:
                _FAILED.inc()
                log.debug("%s: no endpoint for %s, resetting", service, client_ip)
                return
            _CONNECTED.inc()
            _set_nodelay(client)
            _set_nodelay(backend)
            clean = await _Connection(asyncio.get_running_loop(), client, backend, self.use_splice).run()
        except asyncio.CancelledError:
            clean = True  # the proxier is closing: end the streams normally
            raise
        except Exception as exc:
            log.debug("%s: connection failed: %r", service, exc)
        finally:
            for sock in (client, backend):
                if sock is not None:
                    if clean:
                        sock.close()
                    else:
                        _reset(sock)

    async def _connect(self, service: ServicePortName, client_ip: str) -> socket.socket | None:
        """A connected socket to the first endpoint that accepts, or None when every one failed."""
        loop = asyncio.get_running_loop()
        failed: set[Endpoint] = set()
        while (endpoint := self.balancer.next_endpoint(service, client_ip, exclude=failed)) is not None:
            sock = socket.socket(_family(endpoint[0]), socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                async with asyncio.timeout(self.connect_timeout):
                    await loop.sock_connect(sock, endpoint)
            except (OSError, TimeoutError) as exc:
                sock.close()
                failed.add(endpoint)
                log.debug("%s: connect to %s:%d failed: %r", service, *endpoint, exc)
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        return None
