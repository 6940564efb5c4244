"""Watch streams: newline-delimited ``{"type": ..., "object": ...}`` lines over a chunked response.

Selectors are applied to both the new and the previous state of each change, so a watcher sees an
object *enter* its selection as ADDED and *leave* it as DELETED, exactly as kube-apiserver reports
it. History that has been compacted ends the stream with an ERROR event carrying a 410 Status, which
makes reflector-based clients re-list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from minikube_py.api.body import dumps
from minikube_py.api.registry import Registry
from minikube_py.model import errors
from minikube_py.model.kinds import ResourceType
from minikube_py.store.base import Compacted, Event, Obj

#: a watch without timeoutSeconds still ends eventually, so clients re-establish it and servers
#: shed idle connections (kube-apiserver picks 30-60 minutes)
DEFAULT_TIMEOUT = 1800.0
BOOKMARK_INTERVAL = 60.0


@dataclass(frozen=True)
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    name: str | None  # from fieldSelector=metadata.name=x: narrows the store prefix
    matches: Callable[[Obj], bool]
    resource_version: str | None
    timeout: float
    bookmarks: bool
    render: Callable[[Obj, bool], Obj]  # (object, first event) -> what goes into "object"


async def serve(request: web.Request, registry: Registry, watch: WatchRequest) -> web.StreamResponse:
    requested = _requested_revision(watch.resource_version)  # a bad one is a 400 before the stream starts
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-cache, private"})
    await response.prepare(request)
    stream = _Stream(response, watch)
    start = requested if requested is not None else await _initial_state(registry, watch, stream)
    prefix = watch.rt.key(watch.namespace, watch.name) if watch.name else watch.rt.prefix(watch.namespace)
    queue: asyncio.Queue[Event | BaseException] = asyncio.Queue(maxsize=1024)
    pump = asyncio.create_task(_pump(registry, prefix, start, queue))
    last_revision = start
    try:
        async with asyncio.timeout(watch.timeout):
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), BOOKMARK_INTERVAL)
                except TimeoutError:
                    if watch.bookmarks:
                        await stream.bookmark(last_revision)
                    continue
                if isinstance(item, Compacted):
                    await stream.send("ERROR", errors.gone(
                        f"too old resource version: {item.requested} ({item.oldest})").status())
                    break
                if isinstance(item, BaseException):
                    raise item
                last_revision = item.revision
                await stream.change(item)
    except TimeoutError:
        pass
    except (ConnectionResetError, asyncio.CancelledError):
        pump.cancel()
        raise
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def _requested_revision(rv: str | None) -> int | None:
    """The revision to resume after; None when the watch starts from the current state."""
    if rv in (None, "", "0"):
        return None
    try:
        return int(rv)
    except ValueError:
        raise errors.bad_request(f"invalid resourceVersion {rv!r}") from None


async def _initial_state(registry: Registry, watch: WatchRequest, stream: _Stream) -> int:
    """Without a resourceVersion (or with "0") a watch starts with the current objects as ADDED."""
    page = await registry.list(watch.rt, watch.namespace)
    for obj in page.items:
        if watch.matches(obj):
            await stream.send("ADDED", obj)
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


class _Stream:
    def __init__(self, response: web.StreamResponse, watch: WatchRequest) -> None:
        self._response = response
        self._watch = watch
        self._first = True

    async def change(self, event: Event) -> None:
        now = self._watch.matches(event.value) if event.type != "DELETED" else False
        before = event.prev is not None and self._watch.matches(event.prev)
        if event.type == "DELETED":
            before = before or self._watch.matches(event.value)
        if now and (event.type == "ADDED" or not before):
            await self.send("ADDED", event.value)
        elif now:
            await self.send("MODIFIED", event.value)
        elif before:
            await self.send("DELETED", event.value)

    async def send(self, kind: str, obj: Obj) -> None:
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            # event values are shared by every watcher: never modify them in place
            obj = self._watch.render({**obj, "apiVersion": self._watch.rt.api_version, "kind": self._watch.rt.kind},
                                     self._first)
            self._first = False
        await self._response.write(dumps({"type": kind, "object": obj}) + b"\n")

    async def bookmark(self, revision: int) -> None:
        rt = self._watch.rt
        await self.send("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version,
                                     "metadata": {"resourceVersion": str(revision)}})
