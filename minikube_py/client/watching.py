"""Watching a collection, in three stacked generators, each adding one kind of resilience:

``stream_watch``
    One HTTP watch request: newline-delimited ``{"type", "object"}`` events until the server ends
    the stream. A 410 (as HTTP status or ERROR event) raises :class:`GoneError`.
``list_and_watch``
    A :class:`Listing` of the whole collection, then its changes. When a stream ends it watches again
    from the last resourceVersion seen (bookmarks included), so nothing is missed or repeated; when
    that version has been compacted (410) it lists again and yields a fresh :class:`Listing`.
``watch_forever``
    Survives connection failures and server errors (restarts, overload) by reconnecting with
    exponential back-off, resuming from the last resourceVersion. This is what informers consume.

The consumer's contract (what an informer does): on a :class:`Listing`, replace the cache with its
items (objects missing from it were deleted while nobody watched); on a :class:`WatchEvent`, apply
ADDED / MODIFIED / DELETED to the cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, Unpack

import aiohttp
import orjson

from minikube_py.client.errors import ApiError, GoneError, error_from_status
from minikube_py.client.rest import ApiClient, Obj

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
EVENT_TYPES = frozenset(("ADDED", "MODIFIED", "DELETED", "BOOKMARK"))


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change. BOOKMARK events carry only ``metadata.resourceVersion``; only the two lower
    generators yield them."""

    type: EventType
    object: Obj

    @property
    def resource_version(self) -> str | None:
        return (self.object.get("metadata") or {}).get("resourceVersion")


@dataclass(frozen=True, slots=True)
class Listing:
    """The complete state of the watched collection at ``resource_version``."""

    items: list[Obj]
    resource_version: str


class WatchOptions(TypedDict, total=False):
    """What narrows a watch, handed down the generators to :func:`stream_watch` (see there)."""

    label_selector: str | None
    field_selector: str | None
    timeout_seconds: int | None


async def stream_watch(
    client: ApiClient,
    path: str,
    resource_version: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout_seconds: int | None = None,
) -> AsyncIterator[WatchEvent]:
    """Yield the events of one watch request on the collection ``path``, starting after
    ``resource_version``. Returns when the server ends the stream (e.g. after ``timeout_seconds``).
    An ERROR event raises the matching :class:`ApiError` (410: :class:`GoneError`)."""
    params = {
        "watch": True,
        "allowWatchBookmarks": True,
        "resourceVersion": resource_version,
        "labelSelector": label_selector,
        "fieldSelector": field_selector,
        "timeoutSeconds": timeout_seconds,
    }
    async with client.stream("GET", path, params=params, endless=True) as resp:
        lines = LineSplitter()
        async for chunk in resp.content.iter_any():
            for line in lines.feed(chunk):
                yield parse_event(line)
        if lines.rest.strip():
            yield parse_event(lines.rest)


class LineSplitter:
    """Reassembles newline-terminated lines from chunks that split them anywhere. aiohttp's own
    readline refuses lines beyond its buffer size, and one line holds a whole object, which can be
    a megabyte."""

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        *complete, self.rest = (self.rest + chunk).split(b"\n")
        return [line for line in complete if line.strip()]


def parse_event(line: bytes) -> WatchEvent:
    """Decode one watch line; ERROR events become exceptions right here so no consumer can miss one."""
    try:
        raw: Any = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"malformed watch event: {line[:200]!r}") from e
    if not isinstance(raw, dict) or not isinstance(raw.get("object"), dict):
        raise ValueError(f"malformed watch event: {line[:200]!r}")
    if raw.get("type") == "ERROR":
        raise error_from_status(raw["object"])
    if raw.get("type") not in EVENT_TYPES:
        raise ValueError(f"unknown watch event type {raw.get('type')!r}")
    return WatchEvent(raw["type"], raw["object"])


async def list_all(
    client: ApiClient,
    path: str,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    page_size: int = 500,
) -> Listing:
    """List the collection page by page (bounded responses, as client-go's pager does). The pages
    form one snapshot; its resourceVersion is where a following watch starts."""
    items: list[Obj] = []
    token: str | None = None
    while True:
        page = await client.list(
            path, label_selector=label_selector, field_selector=field_selector, limit=page_size, continue_=token
        )
        kind = str(page.get("kind", "")).removesuffix("List")
        api_version = page.get("apiVersion")
        for item in page.get("items") or []:
            # The real server leaves kind and apiVersion out of list items; consumers want them.
            if kind:
                item.setdefault("kind", kind)
            if api_version:
                item.setdefault("apiVersion", api_version)
            items.append(item)
        metadata = page.get("metadata") or {}
        token = metadata.get("continue")
        if not token:
            return Listing(items, str(metadata.get("resourceVersion", "")))


async def list_and_watch(
    client: ApiClient, path: str, *, resume_from: str | None = None, **options: Unpack[WatchOptions]
) -> AsyncIterator[Listing | WatchEvent]:
    """A :class:`Listing`, then every change, indefinitely; BOOKMARK events included so that the
    layer above can track the resume point. With ``resume_from`` the first listing is skipped and
    watching starts at that resourceVersion (falling back to a listing if it is compacted)."""
    resource_version = resume_from
    while True:
        if resource_version is None:
            try:
                listing = await list_all(
                    client,
                    path,
                    label_selector=options.get("label_selector"),
                    field_selector=options.get("field_selector"),
                )
            except GoneError:  # the continue token expired between pages: start over
                continue
            yield listing
            resource_version = listing.resource_version
        try:
            async for event in stream_watch(client, path, resource_version, **options):
                resource_version = event.resource_version or resource_version
                yield event
        except GoneError:
            log.info("watch of %s: resourceVersion %s is gone, listing again", path, resource_version)
            resource_version = None


async def watch_forever(
    client: ApiClient,
    path: str,
    *,
    initial_delay: float = 0.5,
    max_delay: float = 30.0,
    **options: Unpack[WatchOptions],
) -> AsyncIterator[Listing | WatchEvent]:
    """:func:`list_and_watch` that outlives connection failures, garbled streams, 5xx answers and 429s, waiting
    ``initial_delay`` doubling up to ``max_delay`` between attempts, reset by any progress. Yields
    no bookmarks. Client errors (401, 403, 404, ...) are not retried: they would only repeat."""
    resource_version: str | None = None
    delay = initial_delay
    while True:
        try:
            async for item in list_and_watch(client, path, resume_from=resource_version, **options):
                delay = initial_delay
                if isinstance(item, Listing):
                    resource_version = item.resource_version
                else:
                    resource_version = item.resource_version or resource_version
                    if item.type == "BOOKMARK":
                        continue
                yield item
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            log.warning("watch of %s failed (%s); retrying in %.1fs", path, e, delay)
        except ApiError as e:
            if not (e.code >= 500 or e.code == 429):
                raise
            log.warning("watch of %s: server answered %s %s; retrying in %.1fs", path, e.code, e.reason, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
