"""The in-flight limit without a server: what counts, and the 429 it answers past the limit."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from minikube_py.api.connections import inflight_middleware, long_running


@pytest.mark.parametrize(
    ("method", "path", "streaming"),
    [
        ("GET", "/api/v1/pods?watch=true", True),
        ("GET", "/api/v1/watch/pods", True),
        ("GET", "/api/v1/namespaces/d/pods/p/log?follow=true", True),
        ("POST", "/api/v1/namespaces/d/pods/p/exec?command=sh", True),
        ("GET", "/api/v1/namespaces/d/pods/p/portforward", True),
        ("GET", "/api/v1/pods", False),
        ("GET", "/api/v1/pods?watch=false", False),
        ("POST", "/api/v1/namespaces/d/configmaps", False),
    ],
)
def test_long_running_requests(method: str, path: str, streaming: bool) -> None:
    assert long_running(make_mocked_request(method, path)) is streaming


async def test_excess_requests_get_429_and_watches_and_other_kinds_pass() -> None:
    middleware = inflight_middleware(1, 1, {False: 0, True: 0})
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="ok")

    async def fast(_: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    held = asyncio.create_task(middleware(make_mocked_request("GET", "/api/v1/pods"), slow))
    await asyncio.sleep(0)
    refused = await middleware(make_mocked_request("GET", "/api/v1/pods"), fast)
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"
    assert (await middleware(make_mocked_request("GET", "/api/v1/pods?watch=1"), fast)).status == 200
    assert (await middleware(make_mocked_request("DELETE", "/api/v1/namespaces/d/pods/p"), fast)).status == 200
    release.set()
    assert (await held).status == 200
    assert (await middleware(make_mocked_request("GET", "/api/v1/pods"), fast)).status == 200
