"""An async Kubernetes REST client on one aiohttp session: the seam through which the agent and the
CLI talk to any Kubernetes-compatible API server, pykube's own included.

It speaks JSON only and returns plain dicts, because everything pykube does with objects (merging,
diffing, storing) works on dicts anyway and a typed model would have to be kept in step with every
kind. Failures come back as the exceptions of :mod:`minikube_py.client.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypedDict, Unpack

import aiohttp
import orjson
from multidict import CIMultiDict

from minikube_py.client.errors import error_from_response
from minikube_py.client.kubeconfig import ClientConfig

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Params = Mapping[str, str | int | bool | None]
PatchType = Literal["merge", "strategic", "json", "apply"]


class RequestOptions(TypedDict, total=False):
    """What :meth:`ApiClient.request` hands on to :meth:`ApiClient.stream` (see there)."""

    params: Params | None
    body: Any
    content_type: str
    accept: str | None


PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    # Server-side apply takes YAML; JSON is YAML, so the body is sent as JSON text.
    "apply": "application/apply-patch+yaml",
}


def resource_path(
    api_version: str, plural: str, namespace: str | None = None, name: str | None = None, subresource: str | None = None
) -> str:
    """The REST path of a collection, an object or a subresource: ``/api/v1/namespaces/default/pods/x``,
    ``/apis/apps/v1/deployments``. The core group lives under /api, every other under /apis."""
    parts = ["api", api_version] if "/" not in api_version else ["apis", api_version]
    if namespace is not None:
        parts += ["namespaces", namespace]
    parts.append(plural)
    if name is not None:
        parts.append(name)
    if subresource is not None:
        if name is None:
            raise ValueError("a subresource needs an object name")
        parts.append(subresource)
    for part in (namespace, plural, name, subresource):
        if part is not None and (not part or "/" in part):
            raise ValueError(f"invalid path segment {part!r}")
    return "/" + "/".join(parts)


#: a request the server turned away before serving it (429 with Retry-After, its in-flight limit) is sent
#: again after that delay, up to this many times, as client-go does; a 429 without the header (an eviction
#: a disruption budget refuses) is the caller's to handle
THROTTLED_RETRIES = 10


def _retry_after(header: str | None) -> float:
    try:
        return min(max(float(header or 1), 0.0), 10.0)
    except ValueError:
        return 1.0


class ApiClient:
    """Use as ``async with ApiClient(config) as api:``; the session (and its connection pool) lives
    as long as the block.

    A caller that owns the transport hands it in: ``session`` (an aiohttp session, e.g. a test
    server's) is used as it is, or ``connector`` (e.g. one that dials an in-process server) carries a
    session of the client's own. Either stays open after the block, since its owner closes it: the
    client closes only what it made. The client's headers and timeout go with every request, so an
    injected session needs no defaults of its own.

    Like kubectl, credentials are only sent over https (or the server's own Unix socket): on a
    plain-http server they would travel in clear text, and pykube serves http only on loopback,
    anonymously.

    Several servers of one cluster can stand behind a client (:meth:`set_servers`), as k3s' agent
    load balancer does: requests go to the current one, and when it cannot be connected to, to the
    next, so a client rides out the death of its server. Only requests that never reached a server
    are retried elsewhere; one cut off mid-way fails as before (it may have taken effect), and its
    caller retries as it always did, which lands on the next server."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: float = 30.0,
        user_agent: str = "pykube",
        connections: int = 100,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        session: aiohttp.ClientSession | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        if session is not None and connector is not None:
            raise ValueError("pass a session or a connector, not both")
        self.config = config
        self._timeout = timeout
        #: the deadline of a whole request (a stream's is lifted, see :meth:`stream`)
        self._timeout_all = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections  # the pool's limit: requests beyond it wait for a connection
        #: request hooks, e.g. kubectl's ``-v=6`` log of each request
        self._trace_configs = list(trace_configs)
        self._session: aiohttp.ClientSession | None = None
        self._given_session = session
        self._given_connector = connector
        #: headers of every request, sent per request so that an injected session carries them too
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        if config.is_private and config.token:
            self._headers["Authorization"] = f"Bearer {config.token}"
        self._servers = [config.server]
        self._current = 0
        #: headers of every request: a view made by :meth:`impersonating` adds its identity's
        self._identity: tuple[tuple[str, str], ...] = ()

    def impersonating(self, user: str, groups: Sequence[str]) -> ApiClient:
        """A view of this client (same session and connections, so use it inside this client's block)
        whose requests act as ``user`` in ``groups`` (``Impersonate-User``/``-Group``, as ``kubectl
        --as``); the server checks that this client's own user may impersonate them."""
        view = copy.copy(self)
        view._identity = (("Impersonate-User", user), *(("Impersonate-Group", g) for g in groups))
        return view

    @property
    def server(self) -> str:
        """The server requests go to now."""
        return self._servers[self._current]

    def set_servers(self, servers: Sequence[str]) -> None:
        """The servers of the cluster (base URLs). The configured server stays among them as the last
        resort (it may be a load balancer's address); the current one stays current while listed."""
        current = self.server
        wanted = list(dict.fromkeys([*servers, self.config.server]))
        if wanted != self._servers:
            log.info("API servers: %s", ", ".join(wanted))
        self._servers = wanted
        self._current = wanted.index(current) if current in wanted else 0

    def _failed(self, server: str, exc: Exception) -> None:
        """Move on from ``server`` (unless a concurrent request already has)."""
        if self.server == server and len(self._servers) > 1:
            self._current = (self._current + 1) % len(self._servers)
            log.warning("API server %s unreachable (%s); switching to %s", server, exc, self.server)

    async def __aenter__(self) -> ApiClient:
        if self._given_session is not None:
            self._session = self._given_session
            return self
        connector = self._given_connector or self._own_connector()
        self._session = aiohttp.ClientSession(
            connector=connector,
            connector_owner=self._given_connector is None,
            timeout=self._timeout_all,
            trace_configs=self._trace_configs or None,
        )
        return self

    def _own_connector(self) -> aiohttp.BaseConnector:
        if self.config.unix_socket is not None:
            return aiohttp.UnixConnector(self.config.unix_socket, limit=self._connections)
        return aiohttp.TCPConnector(
            ssl=self.config.ssl_context() if self.config.is_tls else False, limit=self._connections
        )

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        if session is not None and session is not self._given_session:
            await session.close()

    async def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Obj:
        """Send one request and return the decoded JSON answer ({} for an empty one): :meth:`stream`,
        read to the end."""
        async with self.stream(method, path, **options) as resp:
            raw = await resp.read()
        return orjson.loads(raw) if raw.strip() else {}

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = "application/json",
        endless: bool = False,
        accept: str | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response of a successful request, unread, for long streams such as watches and logs.
        ``endless`` lifts the overall deadline (a watch lasts as long as the server keeps it); only
        connecting stays bounded. ``accept`` asks for another representation than the object itself,
        such as kubectl's Table."""
        if self._session is None:
            raise RuntimeError("ApiClient is used outside its 'async with' block")
        headers = CIMultiDict(self._headers)
        headers.extend(self._identity)
        if accept:
            headers["Accept"] = accept
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = content_type
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        # always explicit: an injected session's own default deadline is not the client's
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout) if endless else self._timeout_all
        for attempt in range(THROTTLED_RETRIES + 1):
            async with contextlib.AsyncExitStack() as stack:
                for tried in range(len(self._servers)):
                    server = self.server
                    try:
                        resp = await stack.enter_async_context(
                            self._session.request(
                                method, server + path, params=query, data=data, headers=headers, timeout=timeout
                            )
                        )
                        break
                    except aiohttp.ClientConnectorError as exc:  # never reached the server: safe to send elsewhere
                        self._failed(server, exc)
                        if tried == len(self._servers) - 1:
                            raise
                if resp.status == 429 and "Retry-After" in resp.headers and attempt < THROTTLED_RETRIES:
                    delay = _retry_after(resp.headers.get("Retry-After"))
                else:
                    if resp.status >= 400:
                        text = await resp.text(errors="replace")
                        raise error_from_response(resp.status, resp.reason or "", text)
                    yield resp
                    return
            await asyncio.sleep(delay)

    @contextlib.asynccontextmanager
    async def websocket(
        self, path: str, *, query: Sequence[tuple[str, str]] = (), protocols: Sequence[str] = ()
    ) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """A WebSocket on ``path`` (a pod's exec or attach), offering ``protocols`` in order. ``query``
        is a list of pairs, as exec repeats ``command``. A refused upgrade raises the ApiError of its
        HTTP status."""
        if self._session is None:
            raise RuntimeError("ApiClient is used outside its 'async with' block")
        try:
            ws = await self._session.ws_connect(
                self.server + path,
                params=list(query),
                headers=CIMultiDict([*self._headers.items(), *self._identity]),
                protocols=tuple(protocols),
                max_msg_size=0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise error_from_response(exc.status, exc.message, "") from None
        async with ws:
            yield ws

    async def get(self, path: str) -> Obj:
        return await self.request("GET", path)

    async def list(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> Obj:
        params = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit,
            "continue": continue_,
        }
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body=body)

    async def replace(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body=body)

    async def patch(
        self,
        path: str,
        body: Any,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        *,
        force: bool = False,
        dry_run: bool = False,
    ) -> Obj:
        """``body`` is a dict for merge, strategic and apply patches and a list of operations for a
        JSON patch. Server-side apply needs a ``field_manager`` (the server rejects it without one);
        ``force`` takes over fields owned by other managers; ``dry_run`` has the server check and answer
        the patch without storing it."""
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        params = {"fieldManager": field_manager, "force": True if force else None, "dryRun": "All" if dry_run else None}
        return await self.request("PATCH", path, params=params, body=body, content_type=PATCH_CONTENT_TYPES[patch_type])

    async def delete(
        self,
        path: str,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
    ) -> Obj:
        """Returns what the server answers: the object (when deletion is pending on finalizers or
        grace) or a Success Status. ``uid`` deletes only that incarnation of the name (409 otherwise)."""
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        return await self.request("DELETE", path, body=options)


def _param(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
