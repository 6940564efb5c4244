"""The cluster DNS server: answers cluster names from a :class:`ClusterDns` table and forwards the rest
to the node's resolvers, over UDP and TCP on one port, as CoreDNS does for pods' ``/etc/resolv.conf``.

Why it is shaped this way:

- a repeated question is answered inside ``datagram_received`` from the table's cache of packed
  replies, with no parsing, no task and no await: the UDP path costs a dict lookup and a ``sendto``;
- only forwarding (and following an ExternalName's CNAME out of the cluster) needs a task; each
  forwarded query gets its own connected socket on a fresh ephemeral port, so an off-path spoofer must
  guess port and ID, and a reply is matched to its query by the kernel rather than by a table;
- upstreams are tried in turn within ``forward_timeout`` (each gets a fair share of what is left, and
  one that refuses at once hands over at once); when none answers the client gets SERVFAIL rather
  than silence, so its resolver moves on instead of waiting out its own timeout;
- nothing a client sends may stop the server: unreadable messages are dropped, or answered FORMERR when
  the header can be read; messages with the QR bit set (replies) are dropped, so that two servers
  pointed at each other cannot loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

from dnslib import RCODE, DNSHeader, DNSQuestion, DNSRecord

from minikube_py.metrics import DNS_FORWARDS, DNS_REQUESTS
from minikube_py.netproxy.dnsrecords import Chase, ClusterDns, MalformedQuery
from minikube_py.netproxy.udp import enable_pktinfo, receive, reply_from

__all__ = ["ClusterDns", "DnsServer", "upstream_resolvers"]

log = logging.getLogger(__name__)

#: the largest UDP payload; queries are far smaller, but a truncated read would corrupt one
_MAX_DATAGRAM = 65535
#: datagrams one readiness event reads before the loop serves others
_DATAGRAMS_PER_EVENT = 64

#: idle TCP connections are closed after this long (RFC 7766 asks servers not to hold them forever)
TCP_IDLE_TIMEOUT = 10.0
#: forwarded queries in flight at once; past this, SERVFAIL at once rather than piling up sockets
MAX_FORWARDS = 1024
#: bytes of queued UDP queries the kernel may hold for the server
UDP_RECEIVE_BUFFER = 4 << 20
_HEADER = 12
_UDP_REQUESTS, _TCP_REQUESTS = DNS_REQUESTS.labels("udp"), DNS_REQUESTS.labels("tcp")

Upstream = tuple[str, int]


def upstream_resolvers(path: str = "/etc/resolv.conf", exclude: Iterable[str] = ()) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf, in order, without duplicates, unparseable entries
    or the ``exclude``d ones (the cluster DNS's own addresses: forwarding to itself would loop)."""
    skipped = {_canonical(address) for address in exclude}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        address = fields[1]
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        if _canonical(address) not in skipped and address not in found:
            found.append(address)
    return found


def _canonical(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def _parse_upstream(text: str) -> Upstream:
    """``1.2.3.4``, ``1.2.3.4:5353``, ``::1`` or ``[::1]:5353`` as (host, port); port 53 by default."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53


def _error_reply(packet: bytes, rcode: int) -> bytes:
    """A bare reply (no sections) to a query whose question could not be read: its ID, opcode and RD."""
    flags = bytes([0x80 | (packet[2] & 0x79), 0x80 | rcode])
    return packet[:2] + flags + bytes(8)


def _servfail(packet: bytes) -> bytes:
    """SERVFAIL carrying the question when it parses."""
    try:
        reply = DNSRecord.parse(packet).reply(aa=0)
        reply.header.rcode = RCODE.SERVFAIL
        return bytes(reply.pack())
    except Exception:  # unreadable, or readable but not writable back (dnslib reads names it cannot write)
        return _error_reply(packet, RCODE.SERVFAIL)


class _Exchange(asyncio.DatagramProtocol):
    """One forwarded UDP query on its own connected socket: the first reply with the query's ID wins."""

    def __init__(self, query_id: bytes) -> None:
        self._id = query_id
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.reply.done() and len(data) >= _HEADER and data[:2] == self._id and data[2] & 0x80:
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():  # ICMP port unreachable: this upstream is not there, try the next now
            self.reply.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc or ConnectionResetError("closed"))


class _UdpServer:
    """The listening socket, read through readiness callbacks rather than a DatagramProtocol so that
    each query's destination address is known (IP_PKTINFO) and its reply leaves from that address:
    a query REDIRECTed from this node itself arrives at 127.0.0.1, and an answer from the node's own
    address would not be un-NATed back to the kube-dns ClusterIP (see :mod:`.udp`)."""

    def __init__(self, server: DnsServer, sock: socket.socket) -> None:
        self._server = server
        self._cached = server.records.cached
        self._sock = sock
        self._buffer = memoryview(bytearray(_MAX_DATAGRAM))
        self._loop = asyncio.get_running_loop()
        self.closed = False
        enable_pktinfo(sock)
        self._loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        _UDP_REQUESTS.inc(self._serve_waiting())  # counted once per readiness event, not per query

    def _serve_waiting(self) -> int:
        """Answer the queries waiting (a batch at most); how many datagrams were received."""
        for received in range(_DATAGRAMS_PER_EVENT):
            try:
                size, addr, local = receive(self._sock, self._buffer)
            except (BlockingIOError, InterruptedError):
                return received
            except OSError as exc:  # ICMP errors about clients that went away
                log.debug("DNS UDP socket: %s", exc)
                return received
            data = bytes(self._buffer[:size])
            answer = self._cached(data, True)
            if answer is not None:
                self.send(answer, addr, local)
                continue
            try:
                self._server._udp_query(data, addr, local, self)
            except Exception:  # a bug must cost one query, not the listener
                log.exception("DNS query from %s failed", addr)
        return _DATAGRAMS_PER_EVENT

    def send(self, data: bytes, addr: Any, local: bytes) -> None:
        if self.closed:
            return
        try:
            reply_from(self._sock, data, addr, local)
        except OSError as exc:
            log.debug("DNS reply to %s: %s", addr, exc)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()


class DnsServer:
    """Serves a :class:`ClusterDns` over UDP and TCP on one port, forwarding other names upstream."""

    def __init__(self, records: ClusterDns, upstreams: Sequence[str], *, forward_timeout: float = 2.0) -> None:
        self.records = records
        self.upstreams: list[Upstream] = [_parse_upstream(text) for text in upstreams]
        self.forward_timeout = forward_timeout
        self.port: int | None = None
        self._udp: _UdpServer | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._forwarding = 0

    async def start(self, host: str = "0.0.0.0", port: int = 0) -> int:
        """Bind UDP and TCP on the same port (port 0: pick a free one that is free for both) and return it."""
        udp_sock, tcp_sock = _bind_pair(host, port)
        try:
            self._udp = _UdpServer(self, udp_sock)
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock, backlog=128)
        except BaseException:
            if self._udp is not None:
                self._udp.close()
            udp_sock.close()
            tcp_sock.close()
            raise
        self.port = udp_sock.getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        self._udp = self._tcp = None

    # -------------------------------------------------------------------------- one query

    def _handle(self, packet: bytes, udp: bool) -> bytes | Coroutine[Any, Any, bytes] | None:
        """The reply at once (bytes), later (a coroutine to await), or never (None: drop)."""
        if len(packet) < _HEADER or packet[2] & 0x80:
            return None  # a runt, or a reply
        try:
            outcome = self.records.reply(packet, udp)
        except MalformedQuery:
            return _error_reply(packet, RCODE.FORMERR)
        except Exception:
            log.exception("DNS answer failed")
            return _servfail(packet)
        if isinstance(outcome, bytes):
            return outcome
        if self._forwarding >= MAX_FORWARDS:
            return _servfail(packet)
        if isinstance(outcome, Chase):
            return self._counted(self._chase(outcome))
        if not self.upstreams:
            return _servfail(packet)
        return self._counted(self._forward(packet, udp))

    def _counted(self, work: Coroutine[Any, Any, bytes]) -> Coroutine[Any, Any, bytes]:
        """Count upstream work from the moment it is decided, not from when its task first runs: a
        burst within one loop iteration must meet the limit too."""
        self._forwarding += 1
        DNS_FORWARDS.inc()

        async def counted() -> bytes:
            try:
                return await work
            finally:
                self._forwarding -= 1

        return counted()

    def _udp_query(self, packet: bytes, addr: Any, local: bytes, udp: _UdpServer) -> None:
        outcome = self._handle(packet, udp=True)
        if isinstance(outcome, bytes):
            udp.send(outcome, addr, local)
        elif outcome is not None:
            self._spawn(self._send_later(outcome, addr, local, udp))

    async def _send_later(self, answer: Coroutine[Any, Any, bytes], addr: Any, local: bytes, udp: _UdpServer) -> None:
        udp.send(await answer, addr, local)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("DNS forwarding failed", exc_info=task.exception())

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Length-prefixed queries, answered in order, until the client closes or idles out."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    packet = await reader.readexactly(size)
                _TCP_REQUESTS.inc()
                outcome = self._handle(packet, udp=False)
                if outcome is None:
                    continue
                wire = outcome if isinstance(outcome, bytes) else await outcome
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): end quietly, as 3.11's streams log a handler that ends cancelled as an error
        except Exception:
            log.exception("DNS TCP connection failed")
        finally:
            self._tasks.discard(task)
            writer.close()

    # -------------------------------------------------------------------------- upstream

    async def _forward(self, packet: bytes, udp: bool) -> bytes:
        reply = await self._exchange(packet, udp)
        return reply if reply is not None else _servfail(packet)

    async def _chase(self, chase: Chase) -> bytes:
        """Follow an ExternalName's CNAME upstream; the CNAME alone when no upstream answers."""
        upstream = None
        if self.upstreams:
            header = DNSHeader(id=int.from_bytes(os.urandom(2), "big"), rd=1)
            packet = bytes(DNSRecord(header, q=DNSQuestion(chase.target, chase.qtype)).pack())
            raw = await self._exchange(packet, udp=True)
            if raw is not None and raw[2] & 0x02:  # truncated: again over TCP
                raw = await self._exchange(packet, udp=False)
            with contextlib.suppress(Exception):
                upstream = DNSRecord.parse(raw) if raw is not None else None
        return chase.finish(upstream)

    async def _exchange(self, packet: bytes, udp: bool) -> bytes | None:
        """The first upstream reply, trying each upstream in turn within ``forward_timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.forward_timeout
        for index, upstream in enumerate(self.upstreams):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining / (len(self.upstreams) - index)):
                    return await (_ask_udp(upstream, packet) if udp else _ask_tcp(upstream, packet))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                log.debug("DNS upstream %s:%s: %r", *upstream, exc)
        return None


async def _ask_udp(upstream: Upstream, packet: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: _Exchange(packet[:2]), remote_addr=upstream)
    try:
        transport.sendto(packet)
        return await protocol.reply
    finally:
        transport.close()


async def _ask_tcp(upstream: Upstream, packet: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*upstream)
    try:
        writer.write(len(packet).to_bytes(2, "big") + packet)
        await writer.drain()
        while True:
            reply = await reader.readexactly(int.from_bytes(await reader.readexactly(2), "big"))
            if len(reply) >= _HEADER and reply[:2] == packet[:2]:
                return reply
    finally:
        writer.close()


def _grow_receive_buffer(sock: socket.socket) -> None:
    """Room for a few thousand queued queries: the default (~200 KB, a few hundred datagrams) overflows,
    and drops queries, whenever the loop is busy for a few tens of milliseconds (a burst of informer
    events, a garbage collection). Past ``net.core.rmem_max`` only root may go (SO_RCVBUFFORCE)."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, UDP_RECEIVE_BUFFER)
            return


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same port. With port 0 the kernel picks the UDP port, which
    may be taken for TCP: then pick again (a few times)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _attempt in range(1 if port else 20):
        udp_sock = socket.socket(family, socket.SOCK_DGRAM)
        tcp_sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp_sock.bind((host, port))
            tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp_sock.bind((host, udp_sock.getsockname()[1]))
        except OSError:
            udp_sock.close()
            tcp_sock.close()
            if port:
                raise
            continue
        _grow_receive_buffer(udp_sock)
        udp_sock.setblocking(False)
        tcp_sock.setblocking(False)
        return udp_sock, tcp_sock
    raise OSError(f"no port free for both UDP and TCP on {host}")
