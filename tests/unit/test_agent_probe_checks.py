"""Probe checks against real local listeners: httpGet (status codes, named ports, headers), tcpSocket,
exec through a runtime, with kubelet's failure messages."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from minikube_py.agent.probes import ProbeTarget, run_probe
from minikube_py.agent.runtime.base import ContainerSpec
from minikube_py.agent.runtime.fake import FakeRuntime

Obj = dict[str, Any]


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    async def handle(request: web.Request) -> web.Response:
        if request.path == "/healthz":
            return web.Response(
                text="ok" if request.headers.get("X-Probe") == "yes" else "no",
                status=200 if request.headers.get("X-Probe") == "yes" else 401,
            )
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def probe(
    spec: Obj, container: Obj | None = None, runtime: FakeRuntime | None = None, container_id: str = ""
) -> tuple[bool, str]:
    return await run_probe(spec, ProbeTarget(runtime or FakeRuntime(), container or {}, container_id, "127.0.0.1"))


async def test_http_get_succeeds_with_headers_and_named_port(http_port: int) -> None:
    container = {"ports": [{"name": "web", "containerPort": http_port}]}
    ok, _ = await probe(
        {"httpGet": {"path": "/healthz", "port": "web", "httpHeaders": [{"name": "X-Probe", "value": "yes"}]}},
        container,
    )
    assert ok


async def test_http_get_failure_reports_the_status_code(http_port: int) -> None:
    ok, message = await probe({"httpGet": {"path": "/broken", "port": http_port}})
    assert not ok and message == "HTTP probe failed with statuscode: 500"


async def test_tcp_socket_open_and_closed_ports(http_port: int) -> None:
    assert (await probe({"tcpSocket": {"port": http_port}}))[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    ok, message = await probe({"tcpSocket": {"port": closed}, "timeoutSeconds": 1})
    assert not ok and f"127.0.0.1:{closed}" in message


async def test_exec_probe_follows_the_command_exit_code() -> None:
    runtime = FakeRuntime()
    healthy = await runtime.create_container(ContainerSpec("a", "img:1", {}, env=[]))
    sick = await runtime.create_container(ContainerSpec("b", "img:1", {}, env=[("FAKE_EXEC_EXIT", "1")]))
    assert (await probe({"exec": {"command": ["true"]}}, runtime=runtime, container_id=healthy))[0]
    assert not (await probe({"exec": {"command": ["true"]}}, runtime=runtime, container_id=sick))[0]


async def test_grpc_probes_fail_clearly() -> None:
    ok, message = await probe({"grpc": {"port": 1}})
    assert not ok and "not supported" in message


async def test_http_probe_respects_the_timeout() -> None:
    release = asyncio.Event()  # the handler ends with the test, not 5 s later in another test's time

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 5)
        writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = asyncio.get_running_loop().time()
        ok, _ = await probe({"httpGet": {"path": "/", "port": port}, "timeoutSeconds": 1})
        assert not ok and asyncio.get_running_loop().time() - started < 3
    finally:
        release.set()
        server.close()


async def test_stopping_probes_keeps_a_cancellation_of_the_caller() -> None:
    """The agent stopping cancels a pod worker while it stops its probes: that cancellation must reach
    the worker, not be taken for the probe tasks' own."""
    from minikube_py.agent.probes import ContainerProber

    container = {"name": "c", "livenessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 3600}}
    prober = ContainerProber(
        ProbeTarget(FakeRuntime(), container, "c1", "127.0.0.1"),
        {"metadata": {"name": "p"}},
        on_change=lambda: None,
        recorder=None,  # type: ignore[arg-type]  # never emits here
    )
    prober.start()
    await asyncio.sleep(0)
    stopping = asyncio.create_task(prober.stop())
    await asyncio.sleep(0)  # stop() now waits for the probe task it cancelled
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
