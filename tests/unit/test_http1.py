"""HTTP/1.1 message heads and body framing of the ingress proxy (minikube_py.netproxy.http1), on
in-memory streams."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from minikube_py.netproxy import http1


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=http1.MAX_HEAD)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


class _Sink:
    """A StreamWriter stand-in that keeps what is written."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> None:
        self.data += chunk

    async def drain(self) -> None:
        pass


async def _read(raw: bytes) -> http1.Head | None:
    return await http1.read_head(_reader(raw))


def _head(raw: bytes) -> http1.Head:
    head = asyncio.run(_read(raw))
    assert head is not None
    return head


async def _relay(data: bytes, *lengths: int | None) -> list[bytes]:
    """What each relay of ``lengths`` copies, one after the other, from one stream of ``data``."""
    reader, copied = _reader(data), []
    for length in lengths:
        sink = _Sink()
        await http1.relay_body(reader, sink, length)  # type: ignore[arg-type]
        copied.append(bytes(sink.data))
    return copied


def test_request_head_headers_and_keep_alive() -> None:
    head = _head(
        b"\r\nGET /a?b=1 HTTP/1.1\r\nHost: x.example.com\r\nConnection: Upgrade, X-Private\r\n"
        b"X-Private: 1\r\nAccept: a\r\naccept: b\r\nUpgrade: websocket\r\n\r\n"
    )
    assert head.first == (b"GET", b"/a?b=1", b"HTTP/1.1")
    assert head.get(b"accept") == b"a, b"
    assert head.keep_alive() and head.version == b"HTTP/1.1"
    assert [k for k, _ in head.end_to_end()] == [b"Host", b"Accept", b"accept"]
    old = _head(b"GET / HTTP/1.0\r\n\r\n")
    assert not old.keep_alive()
    assert _head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive()
    assert not _head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive()


def test_a_chunked_message_loses_its_content_length_and_lengths_must_agree() -> None:
    both = _head(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nX: 1\r\n\r\n")
    assert http1.body_length(both, request=True) == -1
    assert both.end_to_end() == [(b"X", b"1")]
    assert http1.body_length(_head(b"POST / HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\n"), request=True) == 4
    for bad in (b"4, 5", b"-1", b"x"):
        with pytest.raises(http1.BadMessage):
            http1.body_length(_head(b"POST / HTTP/1.1\r\nContent-Length: " + bad + b"\r\n\r\n"), request=True)


def test_a_clean_end_is_none_and_garbage_is_a_bad_message() -> None:
    assert asyncio.run(_read(b"")) is None
    with pytest.raises(http1.BadMessage):
        asyncio.run(_read(b"GET / HTTP/1.1\r\nHost"))
    with pytest.raises(http1.BadMessage):
        _head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n")


@pytest.mark.parametrize(
    ("raw", "kwargs", "expected"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", {"request": True}, 5),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", {"request": True}, -1),
        (b"GET / HTTP/1.1\r\n\r\n", {"request": True}, 0),
        (b"HTTP/1.0 200 OK\r\n\r\n", {"request": False}, None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", {"request": False, "method": b"HEAD", "status": 200}, 0),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", {"request": False, "status": 304}, 0),
    ],
)
def test_body_framing(raw: bytes, kwargs: dict[str, Any], expected: int | None) -> None:
    assert http1.body_length(_head(raw), **kwargs) == expected


def test_relay_keeps_chunked_framing_and_stops_at_the_end() -> None:
    body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n"
    assert asyncio.run(_relay(body + b"NEXT", -1, None)) == [body, b"NEXT"]


def test_relay_by_length_and_a_short_body() -> None:
    assert asyncio.run(_relay(b"hello world", 5)) == [b"hello"]
    with pytest.raises(asyncio.IncompleteReadError):
        asyncio.run(_relay(b"abc", 5))


def test_render_head() -> None:
    assert http1.render_head((b"HTTP/1.1", b"200", b"OK"), [(b"A", b"1")]) == b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n"


class _Writes(_Sink):
    """A sink that keeps each write apart, to see how many sends a message costs."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, chunk: bytes) -> None:
        self.writes.append(chunk)


async def _writes(data: bytes, length: int | None, head: bytes) -> list[bytes]:
    sink = _Writes()
    await http1.relay_body(_reader(data), sink, length, head)  # type: ignore[arg-type]
    return sink.writes


def test_the_head_goes_out_with_the_first_piece_of_the_body() -> None:
    assert asyncio.run(_writes(b"hello", 5, b"HEAD")) == [b"HEADhello"]
    assert asyncio.run(_writes(b"", 0, b"HEAD")) == [b"HEAD"]
    assert asyncio.run(_writes(b"0\r\n\r\n", -1, b"HEAD")) == [b"HEAD", b"0\r\n", b"\r\n"]
