"""Each server's Lease and the ``default/kubernetes`` Endpoints of the live servers (see
:mod:`minikube_py.model.apiserverleases`).

Every server runs this, leader or not, as kube-apiserver runs its endpoint reconciler: the Lease
says "I am alive at this address", and whichever server notices a change first rewrites the
Endpoints (conditionally on the resourceVersion it read, so two servers writing at once cannot
lose each other's news: the loser simply tries again next round).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from minikube_py.client.errors import AlreadyExistsError, ApiError, ConflictError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model.apiserverleases import (
    LEASE_LABEL,
    NAMESPACE,
    RENEW_SECONDS,
    endpoints_subsets,
    lease_name,
    live_servers,
    server_lease,
)
from minikube_py.model.times import rfc3339_micro

log = logging.getLogger(__name__)

_LEASES = resource_path("coordination.k8s.io/v1", "leases", NAMESPACE)
_ENDPOINTS = resource_path("v1", "endpoints", "default", "kubernetes")
_SLICE = resource_path("discovery.k8s.io/v1", "endpointslices", "default", "kubernetes")
#: what the two objects are made from when someone deleted them (kube-apiserver recreates them too)
_BLANK: dict[str, Obj] = {
    _ENDPOINTS: {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
    },
    _SLICE: {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "pykube"},
        },
    },
}
#: how long a server shutting down tries to take itself out of the Endpoints
WITHDRAW_TIMEOUT = 2.0


class ApiServerEndpoints:
    """This server's Lease and its share in keeping the Endpoints current."""

    def __init__(
        self,
        client: ApiClient,
        identity: str,
        ip: str,
        port: int,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self._now = now
        #: this server's Lease as of a renew time: its identity and address never change
        self._lease = functools.partial(server_lease, identity, ip, port)
        self._lease_path = resource_path("coordination.k8s.io/v1", "leases", NAMESPACE, lease_name(identity))

    async def run(self) -> None:
        """Renew and reconcile every :data:`RENEW_SECONDS` until cancelled, then withdraw: a server
        that stops cleanly leaves the Endpoints at once rather than when its Lease runs out."""
        try:
            while True:
                try:
                    await self.sync()
                except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("API server endpoints: %s; trying again in %.0fs", exc, RENEW_SECONDS)
                await asyncio.sleep(RENEW_SECONDS)
        finally:
            with contextlib.suppress(ApiError, aiohttp.ClientError, OSError, TimeoutError):
                await asyncio.wait_for(self._withdraw(), WITHDRAW_TIMEOUT)

    async def sync(self) -> None:
        """Renew this server's Lease, then make the Endpoints list the servers whose Leases are live."""
        lease = self._lease(rfc3339_micro(self._now()))
        try:
            # unconditional (no resourceVersion, so no read first): only this server writes its Lease
            await self.client.replace(self._lease_path, lease)
        except NotFoundError:
            with contextlib.suppress(AlreadyExistsError):
                await self.client.create(_LEASES, lease)
        await self._reconcile()

    async def _withdraw(self) -> None:
        with contextlib.suppress(NotFoundError):
            await self.client.delete(self._lease_path)
        await self._reconcile()

    async def _reconcile(self) -> None:
        leases = (await self.client.list(_LEASES, label_selector=f"{LEASE_LABEL}=true")).get("items") or []
        subsets = endpoints_subsets(live_servers(leases, self._now()))
        with contextlib.suppress(ConflictError):  # another server wrote news first: next round sees it
            await self._write(_ENDPOINTS, lambda obj: {**obj, "subsets": subsets})
            first = subsets[:1]
            await self._write(
                _SLICE,
                lambda obj: {
                    **obj,
                    "endpoints": [
                        {"addresses": [a["ip"]], "conditions": {"ready": True}}
                        for subset in first
                        for a in subset["addresses"]
                    ],
                    "ports": [port for subset in first for port in subset["ports"]] or obj.get("ports") or [],
                },
            )

    async def _write(self, path: str, change: Callable[[Obj], Obj]) -> None:
        """Replace the object at ``path`` with ``change(it)`` if that differs (conditionally on the
        resourceVersion read), or create it if it was deleted. The EndpointSlice carries one port list: it follows the Endpoints'
        first subset, which is all of them when the servers share a port, as they normally do."""
        try:
            live = await self.client.get(path)
        except NotFoundError:
            with contextlib.suppress(AlreadyExistsError):
                await self.client.create(path.rsplit("/", 1)[0], change(_BLANK[path]))
            return
        wanted = change(live)
        if wanted != live:
            await self.client.replace(path, wanted)
