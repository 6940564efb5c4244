"""Informers: in-memory copies of collections kept current by list+watch, shared per client.

They live in the client layer because every component that reacts to API state uses them: the
reconcilers, the node agent (pods bound to its node, the secrets and config maps they mount) and
the service proxy.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from minikube_py.client.rest import ApiClient, Obj
from minikube_py.client.watching import Listing, WatchEvent, watch_forever

log = logging.getLogger(__name__)

#: called with (old, new); old is None for an addition, new is None for a deletion
Handler = Callable[[Obj | None, Obj | None], None]


def object_key(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), as client-go's cache keys;
    interned, as every controller's indexes and queues keep keys (a dozen per Pod)."""
    md = obj.get("metadata") or {}
    return sys.intern(f"{md['namespace']}/{md['name']}") if md.get("namespace") else md["name"]


class Handlers:
    """The (old, new) handlers of a cache of objects, called in the order they were added: what an
    :class:`Informer` and the agent's :class:`~minikube_py.client.referenced.ReferencedObjects` offer
    their users alike."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def remove_handler(self, handler: Handler) -> None:
        self._handlers.remove(handler)


def trimmed(obj: Obj) -> Obj:
    """``obj`` (freshly decoded, owned by the caller) as an informer keeps it: without
    ``metadata.managedFields``, as kube-controller-manager's informers (no controller reads them, an
    update that leaves them out keeps the stored ones, and they are four tenths of a decoded Pod:
    8.6 of its 20.7 KB), and with its strings shared (see :func:`_share_strings`)."""
    md = obj.get("metadata")
    if isinstance(md, dict):
        md.pop("managedFields", None)
    _share_strings(obj)
    return obj


def metadata_only(obj: Obj) -> Obj:
    """What a metadata informer keeps of ``obj`` (client-go's PartialObjectMetadata): its type and
    metadata, trimmed."""
    return trimmed({name: obj[name] for name in ("apiVersion", "kind", "metadata") if name in obj})


def _share_strings(value: dict[str, Any] | list[Any]) -> None:
    """Replace each string inside ``value`` by the one interned copy of its text. Most strings of an
    object repeat across the collection (images, policies, condition types and statuses, node names,
    timestamps of one second): sharing them takes a decoded Pod from 12.0 to 8.9 KB, for 7 µs, less
    than decoding it. (orjson shares dict keys already.) Interned strings go when unused."""
    share = sys.intern
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        kind = type(item)
        if kind is str:
            value[key] = share(item)  # type: ignore[index]
        elif kind is dict or kind is list:
            _share_strings(item)


class Informer(Handlers):
    """A cache of one collection kept current by a watch. Cached objects (and those handed to the
    handlers) leave out ``metadata.managedFields`` and share their strings (see :func:`trimmed`); with
    ``metadata_only`` they are only their type and metadata, which is all the garbage collector
    and the quota controller's counts read of most kinds (kube-controller-manager's metadata
    informers): 30,000 Events of 10,000 pods then cost a few MiB instead of tens."""

    def __init__(
        self,
        client: ApiClient,
        path: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
    ) -> None:
        super().__init__()
        self.path = path
        self._client = client
        self._label_selector = label_selector
        self.field_selector = field_selector
        self.metadata_only = metadata_only
        self.started = False
        self.cache: dict[str, Obj] = {}
        self.synced = asyncio.Event()

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def items(self) -> list[Obj]:
        return list(self.cache.values())

    async def run(self) -> None:
        self.started = True
        trim = metadata_only if self.metadata_only else trimmed
        async for item in watch_forever(
            self._client, self.path, label_selector=self._label_selector, field_selector=self.field_selector
        ):
            if isinstance(item, Listing):
                self._replace([trim(obj) for obj in item.items])
                self.synced.set()
            else:
                self._apply(WatchEvent(item.type, trim(item.object)))

    def _replace(self, items: list[Obj]) -> None:
        fresh = {object_key(obj): obj for obj in items}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                self._notify(old, None)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            self.cache[key] = obj
            if old is None or old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._notify(old, obj)

    def _apply(self, event: WatchEvent) -> None:
        key = object_key(event.object)
        old = self.cache.get(key)
        if event.type == "DELETED":
            self.cache.pop(key, None)
            self._notify(old or event.object, None)
        else:
            self.cache[key] = event.object
            self._notify(old, event.object)

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            try:
                handler(old, new)
            except Exception:
                log.exception("informer handler for %s failed", self.path)


class SharedInformers:
    """One informer per collection for every controller on a client, as client-go's shared
    informer factory: eight controllers watching pods cost one watch, not eight. Cached objects
    are shared, so controllers must copy before they modify."""

    _by_client: WeakKeyDictionary[ApiClient, SharedInformers] = WeakKeyDictionary()

    def __init__(self, client: ApiClient) -> None:
        self._client = client
        self._informers: dict[tuple[str, str | None], Informer] = {}

    @classmethod
    def of(cls, client: ApiClient) -> SharedInformers:
        shared = cls._by_client.get(client)
        if shared is None:
            shared = cls._by_client[client] = cls(client)
        return shared

    def informer(self, path: str, *, label_selector: str | None = None, metadata_only: bool = False) -> Informer:
        """The informer of ``path``; ``metadata_only`` when its user reads nothing but metadata. One
        user that reads more makes it cache whole objects for all of them, which must be decided
        before it runs (a cache cannot grow back what it dropped)."""
        key = (path, label_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = self._informers[key] = Informer(
                self._client, path, label_selector=label_selector, metadata_only=metadata_only
            )
        elif informer.metadata_only and not metadata_only:
            if informer.started:
                raise RuntimeError(f"the informer of {path} already caches metadata only")
            informer.metadata_only = False
        return informer
