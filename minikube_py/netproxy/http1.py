"""Just enough HTTP/1.1 for a reverse proxy on asyncio streams: message heads, body framing, and the
relay of a body from one stream to another in whatever framing it came (RFC 9112).

A proxy built on this parses only heads; bodies are copied as they arrive, chunked ones chunk by chunk
with their framing kept, so a streaming body streams and a large one never sits in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

#: longest message head accepted (request line or status line plus headers)
MAX_HEAD = 64 * 1024
#: headers that belong to one connection, not to the message (RFC 9110 7.6.1)
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
    }
)
COPY_CHUNK = 64 * 1024


class BadMessage(Exception):
    """A head that does not parse: the connection cannot go on."""


@dataclass
class Head:
    """A request or response head: ``first`` is the request line's (method, target, version) or the
    status line's (version, code, reason); header names keep their case, ``lower`` is for lookups."""

    first: tuple[bytes, bytes, bytes]
    headers: list[tuple[bytes, bytes]]
    lower: dict[bytes, bytes] = field(default_factory=dict)

    def get(self, name: bytes) -> bytes | None:
        return self.lower.get(name)

    def tokens(self, name: bytes) -> set[bytes]:
        """The comma-separated tokens of a header, lower-cased (``Connection``, ``Transfer-Encoding``)."""
        return {t.strip().lower() for t in (self.get(name) or b"").split(b",") if t.strip()}

    @property
    def version(self) -> bytes:
        return self.first[0] if self.first[0].startswith(b"HTTP/") else self.first[2]

    def end_to_end(self) -> list[tuple[bytes, bytes]]:
        """The headers without the hop-by-hop ones (and those the ``Connection`` header names); a
        chunked message loses its ``Content-Length`` too, which chunking overrides (RFC 9112 6.3)."""
        named = self.tokens(b"connection")
        if b"chunked" in self.tokens(b"transfer-encoding"):
            named.add(b"content-length")
        return [(k, v) for k, v in self.headers if k.lower() not in HOP_BY_HOP and k.lower() not in named]

    def keep_alive(self) -> bool:
        """Whether the sender's connection stays open after this message (HTTP/1.1 unless it says
        close; HTTP/1.0 only if it asks)."""
        connection = self.tokens(b"connection")
        if self.version == b"HTTP/1.1":
            return b"close" not in connection
        return b"keep-alive" in connection


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """The next head on the stream; None when it ends cleanly before one starts."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise BadMessage("the connection ended inside a message head") from None
    except asyncio.LimitOverrunError:
        raise BadMessage("message head too large") from None
    lines = raw[:-4].split(b"\r\n")
    while lines and not lines[0]:  # a stray CRLF between messages is allowed (RFC 9112 2.2)
        lines.pop(0)
    first = lines[0].split(b" ", 2) if lines else []
    if len(first) < 2:
        raise BadMessage("malformed start line")
    if len(first) == 2:
        first.append(b"")
    headers: list[tuple[bytes, bytes]] = []
    lower: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise BadMessage("malformed header line")
        value = value.strip()
        headers.append((name, value))
        key = name.lower()
        lower[key] = lower[key] + b", " + value if key in lower else value
    return Head((first[0], first[1], first[2]), headers, lower)


def body_length(head: Head, *, request: bool, method: bytes = b"GET", status: int = 0) -> int | None:
    """How a message's body is framed: its byte count, -1 for chunked, None for "until the
    connection closes" (a response only; a request without a length has no body)."""
    if not request and (method == b"HEAD" or status in (204, 304) or 100 <= status < 200):
        return 0
    if b"chunked" in head.tokens(b"transfer-encoding"):
        return -1
    length = head.get(b"content-length")
    if length is not None:
        values = {v.strip() for v in length.split(b",")}
        if len(values) != 1 or not (count_text := values.pop()).isdigit():
            raise BadMessage("malformed Content-Length")  # differing values would let messages be smuggled
        return int(count_text)
    return 0 if request else None


async def relay_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int | None, head: bytes = b""
) -> None:
    """Copy one body from ``reader`` to ``writer`` in the framing ``length`` gives (see
    :func:`body_length`), keeping chunked framing as it is. ``head`` (the message's head) goes out
    with the first piece of the body: one send for a small message rather than two."""
    if length is not None and length >= 0:
        remaining = length
        while remaining:
            chunk = await reader.read(min(remaining, COPY_CHUNK))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(chunk)
            writer.write(head + chunk if head else chunk)
            head = b""
            await writer.drain()
        if head:
            writer.write(head)
            await writer.drain()
        return
    if head:
        writer.write(head)
    if length is None:
        while chunk := await reader.read(COPY_CHUNK):
            writer.write(chunk)
            await writer.drain()
        return
    while True:
        size_line = await reader.readuntil(b"\r\n")
        writer.write(size_line)
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise BadMessage("malformed chunk size") from None
        if size == 0:  # trailers, then the empty line
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                writer.write(line)
            writer.write(b"\r\n")
            await writer.drain()
            return
        await relay_body(reader, writer, size + 2)  # the chunk and its CRLF


def render_head(first: tuple[bytes, bytes, bytes], headers: list[tuple[bytes, bytes]]) -> bytes:
    return b" ".join(first) + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"


async def splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction of an upgraded connection until it ends, then end the other side's writing."""
    try:
        while chunk := await reader.read(COPY_CHUNK):
            writer.write(chunk)
            await writer.drain()
    finally:
        if writer.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()
