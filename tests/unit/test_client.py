"""The client against a small in-process API on 127.0.0.1 that speaks Kubernetes' wire protocol:
Status errors, paginated lists and scripted watch streams (chunks split anywhere, bookmarks, ERROR
events, streams that end or break)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from minikube_py.client import (
    AlreadyExistsError,
    ApiClient,
    ApiError,
    ClientConfig,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    Listing,
    NotFoundError,
    UnauthorizedError,
    WatchEvent,
    list_and_watch,
    resource_path,
    stream_watch,
    watch_forever,
)
from minikube_py.client.informer import Informer, SharedInformers
from minikube_py.client.rest import Obj
from minikube_py.client.watching import LineSplitter
from minikube_py.pki import ensure_pki, issue_client_cert
from minikube_py.testing import free_port

PODS = "/api/v1/namespaces/default/pods"
DROP = "drop"  # abort the connection in the middle of the stream
HANG = "hang"  # keep the stream open until the test ends


@dataclass
class Respond:
    """Answer a watch request with this status and body instead of a stream."""

    code: int
    body: str


def line(etype: str, rv: int | str, name: str = "p") -> bytes:
    meta = {"resourceVersion": str(rv)} if etype == "BOOKMARK" else {"name": name, "resourceVersion": str(rv)}
    return json.dumps({"type": etype, "object": {"kind": "Pod", "apiVersion": "v1", "metadata": meta}}).encode() + b"\n"


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    if details:
        body["details"] = details
    return body


def error_line(code: int, reason: str) -> bytes:
    return json.dumps({"type": "ERROR", "object": status(code, reason, f"{reason}!")}).encode() + b"\n"


@dataclass
class FakeApi:
    """What the server does and what it saw."""

    watch_scripts: list[list[Any]] = field(default_factory=list)
    list_rv: int = 20
    list_answers: list[Respond] = field(default_factory=list)  # served before normal listing
    watch_params: list[dict[str, str]] = field(default_factory=list)
    list_params: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    throttled_seen: int = 0
    #: added to the metadata of every listed item
    item_metadata: dict[str, Any] = field(default_factory=dict)

    async def pods(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            return await self._watch(request)
        self.list_params.append(dict(request.query))
        if self.list_answers:
            answer = self.list_answers.pop(0)
            return web.Response(status=answer.code, text=answer.body, content_type="application/json")
        meta: dict[str, Any] = {"resourceVersion": str(self.list_rv)}
        if request.query.get("continue") == "page2":
            items = [{"metadata": {"name": "b", **self.item_metadata}}]
            self.list_rv += 100  # the next listing sees a later state
        else:
            items = [{"metadata": {"name": "a", **self.item_metadata}}]
            meta["continue"] = "page2"
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items})

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        self.watch_params.append(dict(request.query))
        script = self.watch_scripts.pop(0) if self.watch_scripts else [HANG]
        if isinstance(script[0], Respond):
            return web.Response(status=script[0].code, text=script[0].body, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for step in script:
            if step == DROP:
                assert request.transport is not None
                request.transport.abort()
                return resp
            if step == HANG:
                await self.release.wait()
                return resp
            await resp.write(step)
            await asyncio.sleep(0.01)  # separate chunks on the wire
        return resp

    async def errors(self, request: web.Request) -> web.Response:
        """/api/v1/namespaces/default/pods/<name>: the name says which failure to answer."""
        name = request.match_info["name"]
        code = int(name.split("-")[0])
        if name.endswith("text"):
            return web.Response(status=code, text="boom\n")
        reason = {
            401: "Unauthorized",
            403: "Forbidden",
            404: "NotFound",
            409: "Conflict",
            410: "Expired",
            422: "Invalid",
            500: "InternalError",
        }[code]
        if name.endswith("exists"):
            reason = "AlreadyExists"
        return web.json_response(status(code, reason, f"{name} failed", name=name, kind="pods"), status=code)

    async def throttled(self, request: web.Request) -> web.Response:
        """/throttled/<n>: 429 with Retry-After 0 for the first n requests, then the request echoed;
        ``?refused`` answers 429 without Retry-After (an eviction a disruption budget refuses)."""
        self.throttled_seen += 1
        if self.throttled_seen <= int(request.match_info["n"]):
            return web.json_response(
                status(429, "TooManyRequests", "Too many requests"),
                status=429,
                headers={} if "refused" in request.query else {"Retry-After": "0"},
            )
        return await self.echo(request)

    async def echo(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "content_type": request.headers.get("Content-Type"),
                "authorization": request.headers.get("Authorization"),
                "body": await request.json() if request.can_read_body else None,
                "peer": peer["subject"] if peer else None,
            }
        )


@contextlib.asynccontextmanager
async def serve(api: FakeApi, ssl_context: Any = None, unix_socket: str | None = None) -> AsyncIterator[str]:
    """The fake API on a loopback port (https with ``ssl_context``), or on ``unix_socket``."""
    app = web.Application()
    app.router.add_route("GET", PODS, api.pods)
    app.router.add_route("GET", PODS + "/{name}", api.errors)
    app.router.add_route("*", "/echo/{tail:.*}", api.echo)
    app.router.add_route("*", "/throttled/{n}", api.throttled)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site: web.BaseSite
    if unix_socket is not None:
        site = web.UnixSite(runner, unix_socket)
    else:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    try:
        yield (
            "http://local"
            if unix_socket
            else f"{'https' if ssl_context else 'http'}://127.0.0.1:{runner.addresses[0][1]}"
        )
    finally:
        api.release.set()
        await runner.cleanup()


@pytest.fixture
async def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def client(api: FakeApi) -> AsyncIterator[ApiClient]:
    async with serve(api) as url, ApiClient(ClientConfig(server=url, token="ignored-over-http")) as c:
        yield c


async def collect(gen: AsyncIterator[Any], n: int) -> list[Any]:
    """The first ``n`` items, closing the generator afterwards (as an informer that stops would)."""
    out = []
    async with asyncio.timeout(5), contextlib.aclosing(gen):  # type: ignore[type-var]
        async for item in gen:
            out.append(item)
            if len(out) == n:
                break
    return out


# --- paths and plain requests -----------------------------------------------------------------------


def test_resource_path() -> None:
    assert resource_path("v1", "pods", "default", "x") == "/api/v1/namespaces/default/pods/x"
    assert resource_path("apps/v1", "deployments") == "/apis/apps/v1/deployments"
    assert (
        resource_path("apps/v1", "deployments", "ns", "web", "scale")
        == "/apis/apps/v1/namespaces/ns/deployments/web/scale"
    )
    assert (
        resource_path("v1", "namespaces", name="kube-system", subresource="status")
        == "/api/v1/namespaces/kube-system/status"
    )
    with pytest.raises(ValueError, match="invalid path segment"):
        resource_path("v1", "pods", "default", "a/b")
    with pytest.raises(ValueError, match="needs an object name"):
        resource_path("v1", "pods", subresource="status")


@pytest.mark.parametrize(
    ("name", "cls", "code", "reason"),
    [
        ("401-x", UnauthorizedError, 401, "Unauthorized"),
        ("403-x", ForbiddenError, 403, "Forbidden"),
        ("404-x", NotFoundError, 404, "NotFound"),
        ("409-x", ConflictError, 409, "Conflict"),
        ("409-exists", AlreadyExistsError, 409, "AlreadyExists"),
        ("410-x", GoneError, 410, "Expired"),
        ("422-x", InvalidError, 422, "Invalid"),
        ("500-x", ApiError, 500, "InternalError"),
    ],
)
async def test_status_bodies_become_typed_errors(
    client: ApiClient, name: str, cls: type, code: int, reason: str
) -> None:
    with pytest.raises(ApiError) as info:
        await client.get(f"{PODS}/{name}")
    assert type(info.value) is cls
    assert (info.value.code, info.value.reason, str(info.value)) == (code, reason, f"{name} failed")
    assert info.value.details == {"name": name, "kind": "pods"}


async def test_non_status_error_body_falls_back_to_code_and_text(client: ApiClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.get(f"{PODS}/404-text")
    assert (info.value.code, info.value.reason, info.value.message) == (404, "NotFound", "boom")
    with pytest.raises(ApiError) as err:
        await client.get(f"{PODS}/503-text")
    assert (err.value.code, err.value.reason) == (503, "ServiceUnavailable")


async def test_a_throttled_request_is_sent_again_until_the_server_takes_it(api: FakeApi, client: ApiClient) -> None:
    got = await client.create("/throttled/3", {"metadata": {"name": "x"}})
    assert (got["method"], got["body"], api.throttled_seen) == ("POST", {"metadata": {"name": "x"}}, 4)
    api.throttled_seen = 0
    with pytest.raises(ApiError) as info:  # a server that never takes it: its answer, after ten retries
        await client.get("/throttled/100")
    assert (info.value.code, api.throttled_seen) == (429, 11)


async def test_a_429_without_retry_after_is_the_callers_to_handle(api: FakeApi, client: ApiClient) -> None:
    """As client-go: only a server that says when to come back is asked again (kubectl drain retries a
    refused eviction itself, saying so)."""
    with pytest.raises(ApiError) as info:
        await client.get("/throttled/3?refused=1")
    assert (info.value.code, api.throttled_seen) == (429, 1)


async def test_verbs_send_kubernetes_request_shapes(client: ApiClient) -> None:
    got = await client.create("/echo/pods", {"metadata": {"name": "x"}})
    assert (got["method"], got["content_type"], got["body"]) == (
        "POST",
        "application/json",
        {"metadata": {"name": "x"}},
    )
    assert got["authorization"] is None  # like kubectl: no credentials over plain http

    got = await client.replace("/echo/pods/x", {"a": 1})
    assert (got["method"], got["body"]) == ("PUT", {"a": 1})

    got = await client.list(
        "/echo/pods", label_selector="app=web", field_selector="spec.nodeName=n1", limit=5, continue_="tok"
    )
    assert got["query"] == {
        "labelSelector": "app=web",
        "fieldSelector": "spec.nodeName=n1",
        "limit": "5",
        "continue": "tok",
    }

    expected = {
        "merge": "application/merge-patch+json",
        "strategic": "application/strategic-merge-patch+json",
        "json": "application/json-patch+json",
        "apply": "application/apply-patch+yaml",
    }
    for patch_type, content_type in expected.items():
        got = await client.patch("/echo/pods/x", {"spec": {}}, patch_type, field_manager="me")  # type: ignore[arg-type]
        assert (got["method"], got["content_type"], got["query"]) == ("PATCH", content_type, {"fieldManager": "me"})
    got = await client.patch("/echo/pods/x", {}, "apply", field_manager="me", force=True)
    assert got["query"] == {"fieldManager": "me", "force": "true"}
    with pytest.raises(ValueError, match="field_manager"):
        await client.patch("/echo/pods/x", {}, "apply")

    got = await client.delete("/echo/pods/x", propagation_policy="Foreground", grace_period_seconds=0)
    assert got["method"] == "DELETE"
    assert got["body"] == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
    }


async def test_https_sends_token_and_client_certificate(api: FakeApi, tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, hosts=[])
    cert, key = issue_client_cert(pki, "admin", "system:masters")
    async with serve(api, pki.server_ssl_context()) as url:
        config = ClientConfig(server=url, ca_pem=pki.ca_pem, token="sekret", client_cert_pem=cert, client_key_pem=key)
        async with ApiClient(config) as c:
            got = await c.get("/echo/version")
    assert got["authorization"] == "Bearer sekret"
    assert [["organizationName", "system:masters"]] in got["peer"]
    assert [["commonName", "admin"]] in got["peer"]


async def test_an_injected_session_carries_the_clients_requests_and_stays_open(api: FakeApi, tmp_path: Path) -> None:
    """A session handed in is the caller's: every request goes through it, with the client's own
    headers (the bearer token), and it is still open after the client's block."""
    pki = ensure_pki(tmp_path, hosts=[])
    sent: list[str] = []

    async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        sent.append(params.url.path)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with serve(api, pki.server_ssl_context()) as url:
        config = ClientConfig(server=url, ca_pem=pki.ca_pem, token="sekret")
        connector = aiohttp.TCPConnector(ssl=config.ssl_context())
        async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
            async with ApiClient(config, session=session) as c:
                got = await c.get("/echo/injected")
            assert not session.closed
            async with ApiClient(config, session=session) as again:  # reusable by the next client
                assert (await again.get("/echo/again"))["path"] == "/echo/again"
    assert got["authorization"] == "Bearer sekret"
    assert sent == ["/echo/injected", "/echo/again"]


async def test_an_injected_connector_outlives_the_clients_own_session(api: FakeApi) -> None:
    async with serve(api) as url, aiohttp.TCPConnector() as connector:
        for path in ("/echo/one", "/echo/two"):
            async with ApiClient(ClientConfig(server=url), connector=connector) as c:
                assert (await c.get(path))["path"] == path
            assert not connector.closed


async def test_a_session_and_a_connector_together_are_refused() -> None:
    async with aiohttp.ClientSession() as session, aiohttp.TCPConnector() as connector:
        with pytest.raises(ValueError, match="a session or a connector"):
            ApiClient(ClientConfig(server="http://x"), session=session, connector=connector)


async def test_a_unix_socket_is_private_enough_for_the_token(api: FakeApi, tmp_path: Path) -> None:
    """The server's own parts reach it over a socket in its private data directory: the token goes
    with each request, as over TLS."""
    path = str(tmp_path / "api.sock")
    async with serve(api, unix_socket=path) as url:
        config = ClientConfig(server=url, token="sekret", unix_socket=path)
        async with ApiClient(config) as c:
            got = await c.get("/echo/version")
    assert got["authorization"] == "Bearer sekret"


# --- watches -----------------------------------------------------------------------------------------


def test_line_splitter_reassembles_lines_split_anywhere() -> None:
    data = line("ADDED", 1) + line("MODIFIED", 2) + b"\n" + line("DELETED", 3)
    for size in (1, 7, 64, len(data)):
        splitter = LineSplitter()
        lines = [ln for i in range(0, len(data), size) for ln in splitter.feed(data[i : i + size])]
        assert lines == [line("ADDED", 1)[:-1], line("MODIFIED", 2)[:-1], line("DELETED", 3)[:-1]]
        assert splitter.rest == b""


async def test_stream_watch_yields_events_across_chunk_boundaries(api: FakeApi, client: ApiClient) -> None:
    added, bookmark = line("ADDED", 6), line("BOOKMARK", 9)
    api.watch_scripts.append([added[:10], added[10:] + bookmark[:5], bookmark[5:], line("DELETED", 10)[:-1]])
    events = await collect(stream_watch(client, PODS, "5", label_selector="app=web", timeout_seconds=30), 10)
    assert [(e.type, e.resource_version) for e in events] == [("ADDED", "6"), ("BOOKMARK", "9"), ("DELETED", "10")]
    assert api.watch_params == [
        {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": "5",
            "labelSelector": "app=web",
            "timeoutSeconds": "30",
        }
    ]


async def test_stream_watch_error_events_raise(api: FakeApi, client: ApiClient) -> None:
    api.watch_scripts += [[line("ADDED", 6), error_line(410, "Expired")], [error_line(500, "InternalError")]]
    seen: list[WatchEvent] = []
    with pytest.raises(GoneError, match="Expired!"):
        async for event in stream_watch(client, PODS, "5"):
            seen.append(event)
    assert [e.type for e in seen] == ["ADDED"]
    with pytest.raises(ApiError) as info:
        await collect(stream_watch(client, PODS, "5"), 1)
    assert type(info.value) is ApiError and info.value.code == 500


async def test_list_and_watch_resumes_from_last_rv_and_relists_on_gone(api: FakeApi, client: ApiClient) -> None:
    api.watch_scripts += [
        [line("ADDED", 21, "c"), line("BOOKMARK", 30)],  # ends: resume from the bookmark
        [line("MODIFIED", 31, "c"), error_line(410, "Expired")],  # gone: list again
        [Respond(410, json.dumps(status(410, "Expired", "too old")))],  # gone as an HTTP status too
        [line("DELETED", 41, "c"), HANG],
    ]
    items = await collect(list_and_watch(client, PODS, label_selector="app=web"), 7)

    assert isinstance(items[0], Listing)
    assert items[0].resource_version == "20"
    assert items[0].items == [{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": n}} for n in "ab"]
    assert [(i.type, i.resource_version) for i in items[1:4]] == [
        ("ADDED", "21"),
        ("BOOKMARK", "30"),
        ("MODIFIED", "31"),
    ]
    assert [i.resource_version for i in items[4:6]] == ["120", "220"]
    assert (items[6].type, items[6].resource_version) == ("DELETED", "41")
    assert [p["resourceVersion"] for p in api.watch_params] == ["20", "30", "120", "220"]
    assert [p.get("continue") for p in api.list_params] == [None, "page2"] * 3
    assert all(p["labelSelector"] == "app=web" for p in api.list_params + api.watch_params)


async def test_watch_forever_reconnects_and_resumes_without_bookmarks(api: FakeApi, client: ApiClient) -> None:
    api.list_answers.append(Respond(503, json.dumps(status(503, "ServiceUnavailable", "starting"))))
    api.watch_scripts += [
        [line("ADDED", 21, "c"), line("BOOKMARK", 25), DROP],  # connection breaks mid-stream
        [Respond(500, "oops")],  # server error: retried too
        [line("MODIFIED", 26, "c"), HANG],
    ]
    items = await collect(watch_forever(client, PODS, initial_delay=0.01, max_delay=0.02), 3)

    assert isinstance(items[0], Listing)
    assert [(i.type, i.resource_version) for i in items[1:]] == [("ADDED", "21"), ("MODIFIED", "26")]
    assert [p["resourceVersion"] for p in api.watch_params] == ["20", "25", "25"]  # the bookmark's
    assert len(api.list_params) == 3  # the failed attempt and one two-page listing: resuming needs no relist


async def test_informers_cache_and_hand_out_objects_without_their_managed_fields(
    api: FakeApi, client: ApiClient
) -> None:
    """As kube-controller-manager's informers: no controller reads them, and an update that leaves
    them out keeps the stored ones. Equal strings of the cached objects are one string."""
    owned = [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    api.item_metadata = {"managedFields": owned, "labels": {"tier": "frontend"}}
    modified = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "21"}}
    modified["metadata"]["managedFields"] = owned
    api.watch_scripts.append([json.dumps({"type": "MODIFIED", "object": modified}).encode() + b"\n", HANG])
    informer = Informer(client, PODS)
    handed: list[Obj | None] = []
    watched = asyncio.Event()

    def handler(old: Obj | None, new: Obj | None) -> None:
        handed.extend((old, new))
        if new is not None and new["metadata"].get("resourceVersion") == "21":
            watched.set()

    informer.add_handler(handler)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(watched.wait(), 5)
    finally:
        task.cancel()
    assert sorted(informer.cache) == ["a", "b"]
    assert [obj["metadata"] for obj in informer.items()] == [
        {"name": "a", "resourceVersion": "21"},
        {"name": "b", "labels": {"tier": "frontend"}},
    ]
    assert [obj is not None and "managedFields" in obj["metadata"] for obj in handed] == [False] * 6
    first, second = (obj["metadata"]["labels"]["tier"] for obj in handed[1:4:2] if obj is not None)
    assert first == "frontend" and first is second


async def test_a_metadata_informer_keeps_type_and_metadata_only(api: FakeApi, client: ApiClient) -> None:
    owned = [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    api.item_metadata = {"uid": "u", "ownerReferences": [{"uid": "o"}], "managedFields": owned}
    informer = Informer(client, PODS, metadata_only=True)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 5)
    finally:
        task.cancel()
    assert informer.get("a") == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "a", "uid": "u", "ownerReferences": [{"uid": "o"}]},
    }


async def test_a_shared_informer_caches_whole_objects_if_any_of_its_users_reads_them(client: ApiClient) -> None:
    shared = SharedInformers(client)
    assert shared.informer("/api/v1/events", metadata_only=True).metadata_only
    pods = shared.informer(PODS, metadata_only=True)
    assert shared.informer(PODS) is pods and not pods.metadata_only
    assert not shared.informer(PODS, metadata_only=True).metadata_only
    events = shared.informer("/api/v1/events", metadata_only=True)
    with pytest.raises(ApiError):  # it ran (the fake API serves no events): what it dropped cannot come back
        await events.run()
    with pytest.raises(RuntimeError, match="metadata only"):
        shared.informer("/api/v1/events")


async def test_watch_forever_gives_up_on_client_errors(api: FakeApi, client: ApiClient) -> None:
    api.list_answers.append(Respond(403, json.dumps(status(403, "Forbidden", "pods is forbidden"))))
    with pytest.raises(ForbiddenError, match="pods is forbidden"):
        await collect(watch_forever(client, PODS, initial_delay=0.01), 1)


# --- several servers ----------------------------------------------------------------------------------


async def test_requests_fail_over_to_the_next_server_when_theirs_cannot_be_reached() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with serve(FakeApi()) as alive, ApiClient(ClientConfig(server=dead)) as c:
        with pytest.raises(aiohttp.ClientConnectorError):
            await c.get("/echo/x")  # no other server known yet: the error is the caller's
        c.set_servers([dead, alive])
        assert c.server == dead  # the current server stays while it is listed
        answer = await c.request("POST", "/echo/created", body={"a": 1})
        assert (answer["method"], answer["body"], c.server) == ("POST", {"a": 1}, alive)
        # a new list without the current server starts from its first; the configured one stays last
        assert (await c.get("/echo/y"))["path"] == "/echo/y" and c.server == alive  # and stays there
        # the configured server is kept as the last resort (it may be a load balancer)
        c.set_servers([])
        assert c.server == dead
