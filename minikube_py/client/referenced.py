"""The objects others name (the Secrets and ConfigMaps of a node's pods, the TLS Secrets of its
Ingresses), each kept current by a watch of that one object, as kubelet's watch-based secret and
configmap managers do.

A node may read only the objects its pods (or the Ingresses its controller serves) reference: the
Node authorizer refuses it a listing of every Secret, and a cluster's other thousand Secrets should
cost the node nothing. So the agent watches ``/api/v1/namespaces/<ns>/secrets?fieldSelector=
metadata.name=<name>`` for each object a referrer names, from the moment a referrer naming it
arrives until the last one is gone. The class offers what its users read of an
:class:`~minikube_py.client.informer.Informer`: ``get``, handlers called with (old, new) as the
objects change, and :meth:`ReferencedObjects.wait_synced` for a new referrer's objects, so that a pod
does not start with a Secret merely not yet fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable

from minikube_py.client.errors import ApiError
from minikube_py.client.informer import Handlers, Informer, Obj
from minikube_py.client.rest import ApiClient

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
#: the first and longest wait before a refused watch is tried again
RETRY_SECONDS, MAX_RETRY_SECONDS = 0.2, 10.0
#: how long a new pod waits for its objects' first listing before its worker starts anyway
SYNC_TIMEOUT = 10.0


class ReferencedObjects(Handlers):
    """``resource`` (``secrets`` or ``configmaps``) named by the referrers (pods, Ingresses) given to
    :meth:`referrer_changed`; ``references`` names those of one referrer."""

    def __init__(self, client: ApiClient, resource: str, references: Callable[[Obj], set[Key]]) -> None:
        super().__init__()
        self.path = f"/api/v1/{resource}"
        self._client = client
        self._resource = resource
        self._references = references
        self._counts: Counter[Key] = Counter()
        self._watches: dict[Key, tuple[Informer, asyncio.Task[None]]] = {}

    def get(self, key: str) -> Obj | None:
        namespace, _, name = key.partition("/")
        found = self._watches.get((namespace, name))
        return found[0].get(key) if found is not None else None

    def referrer_changed(self, old: Obj | None, new: Obj | None) -> None:
        """Informer handler for the referrers: watch what a new one names, stop what none names any more."""
        before = self._references(old) if old is not None else set()
        after = self._references(new) if new is not None else set()
        for key in after - before:
            self._counts[key] += 1
            if key not in self._watches:
                self._start(key)
        for key in before - after:
            self._counts[key] -= 1
            if self._counts[key] <= 0:
                del self._counts[key]
                self._stop(key)

    async def wait_synced(self, referrer: Obj | None = None) -> None:
        """Until the objects ``referrer`` names (by default: every object watched now) have been fetched
        once (found or not), or :data:`SYNC_TIMEOUT` passed (a pod worker then reports what is
        missing, and retries)."""
        keys = self._references(referrer) if referrer is not None else set(self._watches)
        waits = [self._watches[key][0].synced.wait() for key in keys if key in self._watches]
        if waits:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SYNC_TIMEOUT):
                    await asyncio.gather(*waits)

    def close(self) -> None:
        for key in list(self._watches):
            self._stop(key)
        self._counts.clear()

    def _start(self, key: Key) -> None:
        namespace, name = key
        informer = Informer(
            self._client, f"/api/v1/namespaces/{namespace}/{self._resource}", field_selector=f"metadata.name={name}"
        )
        informer.add_handler(self._notify)
        task = asyncio.create_task(_watch(informer), name=f"agent watch of {self._resource} {namespace}/{name}")
        self._watches[key] = informer, task

    def _stop(self, key: Key) -> None:
        found = self._watches.pop(key, None)
        if found is not None:
            found[1].cancel()

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            handler(old, new)


async def _watch(informer: Informer) -> None:
    """The informer, until cancelled. A refusal (403) is retried: a server's Node authorizer may not
    have seen the pod (or Ingress) that makes the object the node's yet."""
    delay = RETRY_SECONDS
    while True:
        try:
            await informer.run()
        except ApiError as e:
            log.info(
                "watch of %s (%s) refused: %s; retrying in %.1fs", informer.path, informer.field_selector, e, delay
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_SECONDS)
