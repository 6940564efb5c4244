"""The API aggregation layer (kube-aggregator's part of kube-apiserver): APIServices that hand a
group version to an extension API server in the cluster.

:class:`Aggregator` follows the stored APIServices (:class:`~.follower.PrefixFollower`), so a
request for ``/apis/<group>/<version>/...`` learns from memory whether a Service answers it. Such a
request is authenticated and authorized here as any other (RBAC sees the extension's resource),
then proxied to one of the Service's ready endpoints (as ``--enable-aggregator-routing`` does: the
API server needs no service proxy of its own) over TLS verified by the APIService's ``caBundle``,
presenting the front-proxy client certificate and the user's identity in ``X-Remote-*`` headers
(what a client sends in those is dropped). An APIService that is not Available answers 503
``service unavailable``, as kube-aggregator does.

The availability checks of kube-aggregator's controllers run here too: a Local APIService is always
available; one with a Service is checked (the Service, its port, its endpoints, then a discovery
``GET /apis/<group>/<version>`` as ``system:kube-aggregator`` in ``system:masters``) when it
changes, when its Service or Endpoints change, every 30 seconds, and 5 seconds after a failed check.
The discovery answer is kept for aggregated discovery (``/apis`` as ``APIGroupDiscoveryList``), so
``kubectl`` learns the extension's resources with the built-in ones; a passing check also reads the
extension's ``/openapi/v3`` index and, when its document of the group version changed, the document,
which ``/openapi/v3`` then publishes beside the built-in ones (``kubectl explain`` of the extension's
kinds), as kube-aggregator's OpenAPI v3 aggregation does. The Local APIServices of the
group versions this server serves are registered as kube-apiserver's autoregistration does
(:func:`~minikube_py.model.apiservices.local_changes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

from minikube_py.api.follower import PrefixFollower
from minikube_py.api.proxy import ApiProxy
from minikube_py.api.registry import DeleteOptions, Registry
from minikube_py.guard import cancel_and_wait
from minikube_py.model import errors
from minikube_py.model.apiservices import (
    GROUP,
    LOCAL,
    PASSED,
    Remote,
    Verdict,
    failed_discovery,
    local_changes,
    openapi_path,
    ordered,
    proxy_headers,
    remote_of,
    service_verdict,
    with_verdict,
)
from minikube_py.model.kinds import by_plural, custom_types
from minikube_py.model.proxy import Backend, pick_service_endpoint
from minikube_py.model.rbac import UserInfo
from minikube_py.model.times import rfc3339
from minikube_py.pki import FrontProxy
from minikube_py.store.base import Event, KeyNotFound, Obj

log = logging.getLogger(__name__)

API_SERVICES = by_plural(GROUP, "v1", "apiservices")
_SERVICES, _ENDPOINTS = by_plural("", "v1", "services"), by_plural("", "v1", "endpoints")
assert API_SERVICES is not None and _SERVICES is not None and _ENDPOINTS is not None

#: kube-aggregator's resync of every APIService, and how soon a failed check runs again
RESYNC, RETRY = 30.0, 5.0
#: the discovery check's bound (kube-aggregator's client timeout)
CHECK_TIMEOUT = 5.0
#: who the discovery checks are made as: always allowed by the extension server
_CHECKER = UserInfo("system:kube-aggregator", ("system:masters",))


def service_unavailable() -> web.Response:
    """kube-aggregator's answer for an APIService that is not available: plain text, which kubectl
    words as "the server is currently unable to handle the request"."""
    return web.Response(status=503, text="service unavailable\n")


class Aggregator:
    """APIServices in memory, their availability, their discovery, and the proxy to their servers.
    ``builtin`` lists the group versions this server serves itself (their Local APIServices)."""

    def __init__(
        self, registry: Registry, identity: FrontProxy, proxy: ApiProxy, builtin: Sequence[tuple[str, str]]
    ) -> None:
        assert API_SERVICES is not None and _SERVICES is not None and _ENDPOINTS is not None
        self._registry, self._store = registry, registry.store
        self._identity, self._proxy, self._builtin = identity, proxy, builtin
        self._objects: dict[str, Obj] = {}
        self._remote: dict[tuple[str, str], Remote] = {}
        self._discovered: dict[tuple[str, str], Obj] = {}
        #: each extension's OpenAPI v3 document of its group version, by the URL its index named it at
        self._openapi: dict[tuple[str, str], tuple[str, Obj]] = {}
        self._contexts: dict[tuple[str, bytes, bool], ssl.SSLContext] = {}
        self._follower = PrefixFollower(
            self._store, API_SERVICES.prefix(), what="APIServices", load=self._load, apply=self._apply
        )
        # the Services and Endpoints are only watched for changes that concern an APIService
        self._backends = [
            PrefixFollower(
                self._store, rt.prefix(), what=f"{rt.plural} of APIServices", load=self._now, apply=self._nudge
            )
            for rt in (_SERVICES, _ENDPOINTS)
        ]
        self._pending: set[str] = set()
        self._failing: set[str] = set()
        self._local_due = True
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self._follower.start()
        for follower in self._backends:
            await follower.start()
        await self._sync_local(starting=True)
        self._task = asyncio.create_task(self._run(), name="apiservice availability")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        for follower in (*self._backends, self._follower):
            await follower.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def caught_up(self, obj: Obj) -> None:
        """Until the routing reflects an APIService this server just wrote (or deleted)."""
        await self._follower.caught_up(obj)

    def definitions_changed(self) -> None:
        """The CRDs changed: their Local APIServices may have to follow."""
        self._local_due = True
        self._wake.set()

    # ------------------------------------------------------------------------------ reading

    def claims(self, group: str, version: str) -> Remote | None:
        """The APIService that sends this group version to a Service, if one does."""
        return self._remote.get((group, version))

    def remote_groups(self) -> list[tuple[str, list[Remote]]]:
        """The group versions extension servers answer, by group in discovery's order."""
        return ordered(self._remote.values())

    def discovered(self, group: str, version: str) -> Obj | None:
        """The extension server's last ``APIResourceList`` for this group version."""
        return self._discovered.get((group, version))

    def openapi_documents(self) -> dict[tuple[str, str], Obj]:
        """The extension servers' OpenAPI v3 documents of the group versions they answer."""
        return {gv: document for gv, (_, document) in self._openapi.items() if gv in self._remote}

    async def _load(self) -> int:
        assert API_SERVICES is not None
        listing = await self._store.list(API_SERVICES.prefix())
        self._objects = {obj["metadata"]["name"]: obj for obj in listing.items}
        self._reindex()
        self._pending |= set(self._objects)
        self._wake.set()
        return listing.revision

    def _apply(self, event: Event) -> None:
        name = event.value["metadata"]["name"]
        if event.type == "DELETED":
            self._objects.pop(name, None)
        else:
            self._objects[name] = event.value
        self._reindex()
        self._pending.add(name)
        self._wake.set()

    def _reindex(self) -> None:
        remotes = [r for r in map(remote_of, self._objects.values()) if r is not None]
        self._remote = {(r.group, r.version): r for r in remotes}
        self._discovered = {gv: found for gv, found in self._discovered.items() if gv in self._remote}
        self._openapi = {gv: found for gv, found in self._openapi.items() if gv in self._remote}
        self._contexts = {key: context for key, context in self._contexts.items() if key[0] in self._objects}

    async def _now(self) -> int:
        return await self._store.current_revision()

    def _nudge(self, event: Event) -> None:
        # the key names the object (``/<group>/<plural>/<namespace>/<name>``): no event is decoded
        where = tuple(event.key.rsplit("/", 2)[1:])
        for remote in self._remote.values():
            if (remote.namespace, remote.service) == where:
                self._pending.add(remote.name)
                self._wake.set()

    # ------------------------------------------------------------------------------ availability

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        resync_at = loop.time() + RESYNC
        while True:
            wait = resync_at - loop.time()
            if self._failing:
                wait = min(wait, RETRY)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.0)):
                    await self._wake.wait()
            self._wake.clear()
            if self._local_due:
                await self._sync_local(starting=False)
            due, self._pending = self._pending, set()
            if not due:  # nothing changed: the failing ones again, and every one each period
                due = set(self._failing)
                if loop.time() >= resync_at:
                    due, resync_at = set(self._objects), loop.time() + RESYNC
            for name in sorted(due):
                try:
                    await self._check(name)
                except Exception:  # one APIService's trouble must not end the checks of the others
                    log.exception("checking APIService %s failed", name)
                    self._failing.add(name)

    async def _check(self, name: str) -> None:
        obj = self._objects.get(name)
        if obj is None:
            self._failing.discard(name)
            return
        remote = remote_of(obj)
        verdict = LOCAL if remote is None else await self._probe(remote)
        if verdict.status == "True":
            self._failing.discard(name)
        else:
            self._failing.add(name)
        if await self._record(obj, verdict) and verdict is not LOCAL:
            log.info("APIService %s: Available=%s (%s) %s", name, verdict.status, verdict.reason, verdict.message)

    async def _record(self, obj: Obj, verdict: Verdict) -> bool:
        """Write ``verdict`` into the APIService's status unless it says so already; whether it wrote."""
        assert API_SERVICES is not None
        status = with_verdict(obj, verdict, rfc3339())
        if status is None:
            return False
        try:
            await self._registry.update(
                API_SERVICES, None, obj["metadata"]["name"], {**obj, "status": status}, subresource="status"
            )
        except errors.StatusError as exc:  # changed or deleted meanwhile: its event queues it again
            if exc.code not in (404, 409):
                raise
            return False
        return True

    async def _probe(self, remote: Remote) -> Verdict:
        """kube-aggregator's remote availability check; a passing one keeps the discovery answer."""
        try:
            backend = await self._backend(remote)
        except _Refused as exc:
            self._discovered.pop((remote.group, remote.version), None)
            return exc.verdict
        url = f"{backend.base_url}/apis/{remote.group}/{remote.version}"
        try:
            status, found = await self._get_json(remote, url)
        except TimeoutError:
            return failed_discovery(f"timed out waiting for {url}")
        except (aiohttp.ClientError, ValueError, OSError) as exc:
            return failed_discovery(f'failing or missing response from {url}: Get "{url}": {exc}')
        if not 200 <= status < 300:
            return failed_discovery(f"failing or missing response from {url}: bad status from {url}: {status}")
        if isinstance(found, dict) and isinstance(found.get("resources"), list):
            self._discovered[(remote.group, remote.version)] = found
        await self._read_openapi(remote, backend)
        return PASSED

    async def _get_json(self, remote: Remote, url: str) -> tuple[int, Any]:
        """GET ``url`` of the extension server as kube-aggregator; the status, and the decoded body of
        a 2xx answer (None otherwise). Raises what the connection or the decoding raise."""
        headers = [*proxy_headers(_CHECKER), ("Accept", "application/json")]
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with self._session.get(
                url, headers=headers, ssl=self._context(remote), server_hostname=remote.host_name
            ) as response:
                if not 200 <= response.status < 300:
                    return response.status, None
                return response.status, await response.json(content_type=None)

    async def _read_openapi(self, remote: Remote, backend: Backend) -> None:
        """The extension's OpenAPI v3 document of the APIService's group version, read again only
        when its index names it at another URL (the URL carries the content's hash); a server
        without one, or one that fails, keeps what was read before, as kube-aggregator does."""
        gv = (remote.group, remote.version)
        try:
            status, index = await self._get_json(remote, f"{backend.base_url}/openapi/v3")
            path = openapi_path(index, remote.group, remote.version) if status == 200 else None
            if path is None or (gv in self._openapi and self._openapi[gv][0] == path):
                return
            status, document = await self._get_json(remote, f"{backend.base_url}{path}")
        except (TimeoutError, aiohttp.ClientError, ValueError, OSError) as exc:
            log.debug("APIService %s: no OpenAPI v3 document: %s", remote.name, exc)
            return
        if status == 200 and isinstance(document, dict):
            self._openapi[gv] = (path, document)

    async def _backend(self, remote: Remote) -> Backend:
        """Where the APIService's Service is answered: a ready endpoint of its port, or the name of an
        ExternalName Service. :class:`_Refused` with the verdict when there is none."""
        assert _SERVICES is not None and _ENDPOINTS is not None
        service = await self._get(_SERVICES.key(remote.namespace, remote.service))
        endpoints = await self._get(_ENDPOINTS.key(remote.namespace, remote.service))
        checked = service_verdict(remote, service, endpoints)
        if isinstance(checked, Verdict):
            raise _Refused(checked)
        assert service is not None
        external = (service.get("spec") or {}).get("externalName")
        if (service.get("spec") or {}).get("type") == "ExternalName" and external:
            return Backend("https", str(external), remote.port)
        return pick_service_endpoint(endpoints, checked, "https", remote.service)

    async def _get(self, key: str) -> Obj | None:
        try:
            return await self._store.get(key)
        except KeyNotFound:
            return None

    def _context(self, remote: Remote) -> ssl.SSLContext:
        key = (remote.name, remote.ca_bundle, remote.insecure)
        if key not in self._contexts:
            self._contexts = {k: v for k, v in self._contexts.items() if k[0] != remote.name}
            self._contexts[key] = self._identity.client_context(remote.ca_bundle or None, verify=not remote.insecure)
        return self._contexts[key]

    # ------------------------------------------------------------------------------ local APIServices

    async def _sync_local(self, *, starting: bool) -> None:
        """Create and delete the Local APIServices as the served group versions say; a write another
        server made first, or a concurrent deletion, is no failure."""
        assert API_SERVICES is not None
        self._local_due = False
        custom = list(dict.fromkeys((r.group, r.version) for r in custom_types()))
        creates, deletes = local_changes(self._objects, self._builtin, custom, starting=starting)
        # at once, so the store commits them together (a first start registers ~20)
        await asyncio.gather(*map(self._register, creates), *map(self._unregister, deletes))

    async def _register(self, obj: Obj) -> None:
        """Create a Local APIService, available from its first answer: a local one needs no check."""
        assert API_SERVICES is not None
        with contextlib.suppress(errors.StatusError):
            await self._record(await self._registry.create(API_SERVICES, None, obj), LOCAL)

    async def _unregister(self, name: str) -> None:
        assert API_SERVICES is not None
        with contextlib.suppress(errors.StatusError):
            await self._registry.delete(API_SERVICES, None, name, DeleteOptions())

    # ------------------------------------------------------------------------------ proxying

    async def serve(self, request: web.Request, remote: Remote, user: UserInfo) -> web.StreamResponse:
        """Proxy ``request`` to the extension server of ``remote``'s APIService as ``user``."""
        if not remote.available:
            return service_unavailable()
        try:
            backend = await self._backend(remote)
        except (_Refused, errors.StatusError):
            return service_unavailable()
        return await self._proxy.aggregated(
            request, backend, self._context(remote), remote.host_name, proxy_headers(user)
        )


class _Refused(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict
