"""UDP replies that leave from the address the request was sent to.

iptables REDIRECT rewrites a datagram's destination to an address of this node: the incoming
interface's for traffic from pods, 127.0.0.1 for traffic the node sends itself. A socket bound to
0.0.0.0 that answers with ``sendto`` lets routing pick the reply's source, which for a client on this
very node is its own address, not 127.0.0.1; conntrack then sees no reply to the redirected flow,
does not undo the NAT, and the client (whose socket is connected to the service address) never gets
the answer. So the listeners read each datagram's destination with ``IP_PKTINFO`` and send the
reply from it, as DNS servers bound to a wildcard address do.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

#: Linux's value; the socket module names it only from Python 3.12 on
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
#: struct in_pktinfo: interface index, the source to send from (spec_dst), the header's destination
_PKTINFO = struct.Struct("=I4s4s")
_ANCILLARY = socket.CMSG_SPACE(_PKTINFO.size)
_ANY = b"\0\0\0\0"


def enable_pktinfo(sock: socket.socket) -> None:
    """Ask for each IPv4 datagram's destination address (nothing to do for other families)."""
    if sock.family == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)


def receive(sock: socket.socket, buffer: memoryview) -> tuple[int, Any, bytes]:
    """One datagram into ``buffer``: (size, client address, the address it was sent to, packed; empty
    when unknown). Raises BlockingIOError when none is waiting."""
    size, ancillary, _, client = sock.recvmsg_into([buffer], _ANCILLARY)
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _PKTINFO.size:
            return size, client, _PKTINFO.unpack_from(data)[2]
    return size, client, b""


def reply_from(sock: socket.socket, data: bytes | memoryview, client: Any, local: bytes) -> None:
    """Send ``data`` to ``client`` from ``local`` (as :func:`receive` gave it), or as routing picks."""
    if not local or local == _ANY:
        sock.sendto(data, client)
        return
    sock.sendmsg([data], [(socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.pack(0, local, _ANY))], 0, client)
