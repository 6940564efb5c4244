"""Watch streams: newline-delimited ``{"type": ..., "object": ...}`` lines over a chunked response.

Selectors are applied to both the new and the previous state of each change, so a watcher sees an
object *enter* its selection as ADDED and *leave* it as DELETED, exactly as kube-apiserver reports
it. History that has been compacted ends the stream with an ERROR event carrying a 410 Status, which
makes reflector-based clients re-list.

Serving many watchers is cheap per watcher: an event's line is encoded once for every watcher that
renders it the same way (:class:`_SharedLines`), and lines that are already queued go out in one
write, so a burst of events costs one TLS record per watcher rather than one per event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import Counter

from minikube_py import metrics
from minikube_py.api.body import dumps
from minikube_py.api.registry import Registry
from minikube_py.api.strategies import strategy_for
from minikube_py.guard import cancel_and_wait
from minikube_py.model import errors
from minikube_py.model.kinds import ResourceType, stored_version
from minikube_py.store.base import Compacted, Event, Obj
from minikube_py.store.plan import typed_head

#: a watch without timeoutSeconds still ends eventually, so clients re-establish it and servers
#: shed idle connections (kube-apiserver picks 30-60 minutes)
DEFAULT_TIMEOUT = 1800.0
BOOKMARK_INTERVAL = 60.0
#: buffered bytes that are written at once even while more events are queued
FLUSH_BYTES = 64 * 1024
#: encoded event lines kept for sharing; a burst's events are shared while it is being sent
SHARED_LINES = 2048


@dataclass(frozen=True)
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    name: str | None  # from fieldSelector=metadata.name=x: narrows the store prefix
    #: whether an object is among those the selectors choose; None: every object (no selectors)
    matches: Callable[[Obj], bool] | None
    resource_version: str | None
    timeout: float
    bookmarks: bool
    #: (object, first event) -> what goes into "object"; None sends the object as stored, which lets
    #: every such watcher share the encoded line
    render: Callable[[Obj, bool], Obj] | None = None


#: how long a request for a revision the store has not reached waits for it, as kube-apiserver's
#: watch cache does, before it answers "Too large resource version"
FRESHNESS_WAIT = 3.0


async def serve(request: web.Request, registry: Registry, watch: WatchRequest) -> web.StreamResponse:
    requested = requested_revision(watch.resource_version)  # a bad one is a 400 before the stream starts
    if requested is not None:
        await wait_for_revision(registry, requested)
    response = web.StreamResponse(
        status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
    )
    await response.prepare(request)
    kind = (watch.rt.group, watch.rt.version, watch.rt.kind)
    with metrics.WATCHERS.labels(*kind).track_inprogress():
        stream = _Stream(response, watch, metrics.WATCH_EVENTS.labels(*kind))
        start = requested if requested is not None else await _initial_state(registry, watch, stream)
        prefix = watch.rt.key(watch.namespace, watch.name) if watch.name else watch.rt.prefix(watch.namespace)
        queue: asyncio.Queue[Event | BaseException] = asyncio.Queue(maxsize=1024)
        pump = asyncio.create_task(_pump(registry, prefix, start, queue))
        last_revision = start
        try:
            async with asyncio.timeout(watch.timeout):
                while True:
                    if queue.empty():
                        await stream.flush()  # nothing more is ready: what is buffered goes out now
                        try:
                            item = await asyncio.wait_for(queue.get(), BOOKMARK_INTERVAL)
                        except TimeoutError:
                            if watch.bookmarks:
                                await stream.bookmark(last_revision)
                            continue
                    else:
                        item = queue.get_nowait()
                    if isinstance(item, Compacted):
                        await stream.send(
                            "ERROR", errors.gone(f"too old resource version: {item.requested} ({item.oldest})").status()
                        )
                        break
                    if isinstance(item, BaseException):
                        raise item
                    last_revision = item.revision
                    stream.change(item)
                    if stream.buffered >= FLUSH_BYTES:
                        await stream.flush()
        except TimeoutError:
            pass
        except (ConnectionResetError, asyncio.CancelledError):
            pump.cancel()
            raise
        finally:
            with contextlib.suppress(Exception):
                await cancel_and_wait(pump)
        with contextlib.suppress(ConnectionResetError):
            await stream.flush()
            await response.write_eof()
    return response


def requested_revision(rv: str | None) -> int | None:
    """The revision a list or watch asks for (a watch resumes after it); None for the current state.
    400 for one that is not a revision, as kube-apiserver answers."""
    if rv in (None, "", "0"):
        return None
    assert rv is not None
    if not rv.isdigit() or len(rv) > 19:  # 19 digits: past that it is no 64-bit revision
        raise errors.bad_request(f"invalid resourceVersion {rv!r}: must be a non-negative 64-bit integer")
    return int(rv)


async def wait_for_revision(registry: Registry, requested: int, wait: float = FRESHNESS_WAIT) -> None:
    """Return once the store has reached ``requested``; a revision it does not reach within ``wait``
    seconds (a client's typo or another cluster's resourceVersion) is answered, as kube-apiserver
    does, with 504 "Too large resource version" instead of a watch that waits forever."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        current = await registry.store.current_revision()
        if current >= requested:
            return
        if asyncio.get_running_loop().time() >= deadline:
            raise errors.StatusError(
                504,
                "Timeout",
                f"Timeout: Too large resource version: {requested}, current: {current}",
                {
                    "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1,
                },
            )
        await asyncio.sleep(0.05)


async def _initial_state(registry: Registry, watch: WatchRequest, stream: _Stream) -> int:
    """Without a resourceVersion (or with "0") a watch starts with the current objects as ADDED.
    They are listed as stored, as store events come: the stream types (and converts) both alike."""
    page = await registry.list(stored_version(watch.rt), watch.namespace)
    for obj in page.items:
        if watch.matches is None or watch.matches(obj):
            stream.add("ADDED", obj)
            if stream.buffered >= FLUSH_BYTES:
                await stream.flush()
    await stream.flush()
    return page.revision


async def _pump(registry: Registry, prefix: str, start: int, queue: asyncio.Queue[Event | BaseException]) -> None:
    """Moves store events into a queue so the stream loop can wait with a timeout for bookmarks
    without cancelling (and so closing) the store's async iterator."""
    try:
        async for event in registry.store.watch(prefix, start):
            await queue.put(event)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # forwarded to the stream loop, which reports it
        await queue.put(exc)


class _SharedLines:
    """Encoded event lines, shared by the watchers that send the stored object as is.

    Events are shared read-only by every watcher of a store, so for one event, line type and
    resource type the line is the same bytes for all of them: encoding it once instead of once per
    watcher is what makes 50 watchers of one resource cost little more than one. When the event's
    stored text already names the resource's version and kind, the line is made around that text,
    without decoding or encoding the object at all. Entries are keyed by the identity of what the
    line is made of: that stored text, else the event; as an entry holds it, that identity cannot be
    reused while the entry lives, and holding the text rather than the event leaves the objects its
    watchers decoded free to go. The oldest entries go first, so memory stays bounded."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lines: dict[tuple[int, str, str, str], tuple[str | Event, bytes]] = {}

    def line(self, kind: str, event: Event, rt: ResourceType) -> bytes:
        text = event.text
        plain = text is not None and rt.custom is None and text.startswith(typed_head(rt.api_version, rt.kind))
        source: str | Event = text if plain and text is not None else event
        key = (id(source), kind, rt.api_version, rt.kind)
        hit = self._lines.get(key)
        if hit is not None and hit[0] is source:
            return hit[1]
        if isinstance(source, str):
            encoded = b'{"type":"%s","object":%s}\n' % (kind.encode(), source.encode())
        else:
            encoded = _line(kind, _with_type(event.value, rt))
        if len(self._lines) >= self._size:
            del self._lines[next(iter(self._lines))]
        self._lines[key] = (source, encoded)
        return encoded


_SHARED = _SharedLines(SHARED_LINES)


class _Stream:
    """Buffers a watcher's lines; :meth:`flush` writes them in one go."""

    def __init__(self, response: web.StreamResponse, watch: WatchRequest, sent: Counter) -> None:
        self._response = response
        self._watch = watch
        self._sent = sent  # apiserver_watch_events_total of the watched kind
        self._first = True
        self._pending: list[bytes] = []
        self.buffered = 0

    def change(self, event: Event) -> None:
        matches = self._watch.matches
        if matches is None:  # no selectors: the change is sent as it happened, nothing decoded to decide
            self._event(event.type, event)
            return
        now = matches(event.value) if event.type != "DELETED" else False
        before = event.prev is not None and matches(event.prev)
        if event.type == "DELETED":
            before = before or matches(event.value)
        if now and (event.type == "ADDED" or not before):
            self._event("ADDED", event)
        elif now:
            self._event("MODIFIED", event)
        elif before:
            self._event("DELETED", event)

    def _event(self, kind: str, event: Event) -> None:
        """A change to a shared event: encoded once for all plain watchers."""
        if self._watch.render is None:
            self._buffer(_SHARED.line(kind, event, self._watch.rt))
        else:
            self.add(kind, event.value)

    def add(self, kind: str, obj: Obj) -> None:
        """Buffer an object event; ``obj`` is never modified (event values are shared)."""
        typed = _with_type(obj, self._watch.rt)
        if self._watch.render is not None:
            typed = self._watch.render(typed, self._first)
        self._first = False
        self._buffer(_line(kind, typed))

    async def send(self, kind: str, obj: Obj) -> None:
        """Send a line now, after what is buffered."""
        self._buffer(_line(kind, obj))
        await self.flush()

    async def bookmark(self, revision: int) -> None:
        rt = self._watch.rt
        await self.send(
            "BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {"resourceVersion": str(revision)}}
        )

    def _buffer(self, line: bytes) -> None:
        self._pending.append(line)
        self.buffered += len(line)

    async def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._sent.inc(len(self._pending))  # counted per write, not per line: one lock for a burst
        self._pending.clear()  # before the write, so a cancelled write never sends a line twice
        self.buffered = 0
        await self._response.write(data)


def _with_type(obj: Obj, rt: ResourceType) -> Obj:
    """The event's object as ``rt`` answers it: of its version, and a custom resource defaulted as
    on every read, a built-in kind's other version converted (a copy: event values are shared)."""
    if rt.conversion is not None:
        return rt.conversion.from_stored(obj)
    if rt.custom is not None:
        obj = strategy_for(rt).read(obj)
    return {**obj, "apiVersion": rt.api_version, "kind": rt.kind}


def _line(kind: str, obj: Obj) -> bytes:
    return dumps({"type": kind, "object": obj}) + b"\n"
