"""Recording core/v1 Events the way Kubernetes components do.

Repeats of the same event (same object, reason and message) within the correlation window become
one Event whose ``count`` and ``lastTimestamp`` grow, as client-go's event correlator does, so a
pod failing to schedule every few seconds does not flood the store.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from minikube_py.client.errors import ApiError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.times import rfc3339

log = logging.getLogger(__name__)

#: repeats within this many seconds update the existing Event instead of creating a new one
CORRELATION_WINDOW = 600.0


def _now() -> str:
    return rfc3339()


class EventRecorder:
    def __init__(self, client: ApiClient, component: str, host: str | None = None) -> None:
        self._client = client
        self._source = {"component": component, **({"host": host} if host else {})}
        self._component = component
        #: (uid, reason, message) -> (namespace, event name, count, first seen monotonic)
        self._seen: dict[tuple[str, str, str], tuple[str, str, int, float]] = {}
        self._backlog: asyncio.Queue[tuple[Obj, str, str, str]] | None = None
        self._writer: asyncio.Task[None] | None = None

    def emit(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        """Record in the background, in order: for callers on a latency path (a pod start must not
        wait for three event writes to the API)."""
        if self._backlog is None:
            self._backlog = asyncio.Queue()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(self._backlog), name="event recorder")
        self._backlog.put_nowait((obj, event_type, reason, message))

    def close(self) -> None:
        """Stop writing in the background; what is still queued is dropped (its component stopped)."""
        if self._writer is not None:
            self._writer.cancel()
        self._writer = self._backlog = None

    async def _drain(self, backlog: asyncio.Queue[tuple[Obj, str, str, str]]) -> None:
        while True:
            await self.record(*await backlog.get())

    async def record(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        """Record an event about ``obj``; failures are logged, never raised, because an event
        that cannot be written must not fail the reconciliation that caused it."""
        try:
            await self._record(obj, event_type, reason, message)
        except ApiError as exc:
            log.warning("could not record event %s for %s: %s", reason, obj["metadata"].get("name"), exc)

    async def _record(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        md = obj["metadata"]
        namespace = md.get("namespace") or "default"
        key = (md.get("uid", ""), reason, message)
        seen = self._seen.get(key)
        now = _now()
        if seen is not None and time.monotonic() - seen[3] < CORRELATION_WINDOW:
            ns, name, count, first = seen
            try:
                await self._client.patch(
                    resource_path("v1", "events", ns, name), {"count": count + 1, "lastTimestamp": now}
                )
                self._seen[key] = (ns, name, count + 1, first)
                return
            except NotFoundError:
                pass
        # unique, not secret: the system's entropy per event costs a busy node (or a thousand fake ones) dearly
        name = f"{md['name']}.{random.getrandbits(64):016x}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "kind": obj.get("kind"),
                "apiVersion": obj.get("apiVersion"),
                "name": md["name"],
                "namespace": md.get("namespace", ""),
                "uid": md.get("uid"),
                "resourceVersion": md.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": self._source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self._component,
            "reportingInstance": self._source.get("host", ""),
        }
        await self._client.create(resource_path("v1", "events", namespace), event)
        self._seen[key] = (namespace, name, 1, time.monotonic())
        if len(self._seen) > 10_000:  # forget the oldest half rather than grow without bound
            for stale in sorted(self._seen, key=lambda k: self._seen[k][3])[:5_000]:
                del self._seen[stale]
