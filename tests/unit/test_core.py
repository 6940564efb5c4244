"""The server: its lifecycle in this process (guarded parts, routes, teardown) and process settings."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import socket
import ssl
from pathlib import Path

import aiohttp
import pytest

from minikube_py import pki
from minikube_py.client.rest import ApiClient
from minikube_py.config import ServerConfig
from minikube_py.core import _GC_GEN0_THRESHOLD, Server, _tune_gc
from minikube_py.guard import Backoff, PartFailed
from minikube_py.reconcilers import manager
from minikube_py.reconcilers.base import Controller
from minikube_py.testing import free_port


def test_gc_tuning_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    threshold = gc.get_threshold()
    try:
        gc.unfreeze()
        survivor: dict[str, list[str]] = {"made before start-up ended": []}
        assert any(obj is survivor for obj in gc.get_objects())
        _tune_gc()
        assert gc.get_threshold() == (_GC_GEN0_THRESHOLD, 20, 100)
        assert gc.get_freeze_count() > 0
        assert all(obj is not survivor for obj in gc.get_objects())  # out of the collector's sight
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


# --- the server in this process, without Docker or an agent -----------------------------------------


def _config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(
        data_dir=tmp_path / "data",
        bind_address="127.0.0.1",
        port=free_port(),
        no_agent=True,
        node_name="n1",
        advertise_address="127.0.0.1",
    )


def _flaky_controllers(monkeypatch: pytest.MonkeyPatch) -> tuple[list[ApiClient], asyncio.Event]:
    """Controllers whose first run raises (a reconciler bug); later runs stay up and set the event."""
    clients: list[ApiClient] = []
    healthy = asyncio.Event()

    class Flaky(Controller):
        name = "flaky"

        async def run_workers(self) -> None:
            clients.append(self.client)
            if len(clients) == 1:
                raise RuntimeError("reconciler bug")
            healthy.set()
            await asyncio.Event().wait()

    monkeypatch.setattr(manager, "build_controllers", lambda client, options: [Flaky(client)])
    return clients, healthy


async def test_a_controller_that_raises_is_logged_and_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clients, healthy = _flaky_controllers(monkeypatch)
    async with Server(_config(tmp_path), restart=Backoff(first=0.01, cap=0.01)):
        await asyncio.wait_for(healthy.wait(), 30)
    assert len(clients) == 2 and clients[0] is not clients[1]  # a new term, with a fresh client and informers
    [crash] = [r for r in caplog.records if r.name == "minikube_py.guard"]
    assert crash.getMessage() == "controller manager crashed: RuntimeError: reconciler bug; restarting in 0.01 s"
    assert crash.exc_info is not None


async def test_without_restarts_a_crash_ends_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _flaky_controllers(monkeypatch)
    async with Server(_config(tmp_path), restart=None) as server:
        await asyncio.wait_for(server.wait(), 30)
        assert isinstance(server.failure, PartFailed) and server.failure.name == "controller manager"


async def _component_statuses(server: Server) -> dict[str, list[str]]:
    """``kubectl get cs`` as the admin: the table's cells by component name."""
    assert server.credentials is not None
    headers = {
        "Authorization": f"Bearer {server.credentials.admin_token}",
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io",
    }
    tls = ssl.create_default_context(cadata=(server.config.data_dir / "pki" / "ca.crt").read_text())
    async with (
        aiohttp.ClientSession(server.url) as session,
        session.get("/api/v1/componentstatuses", headers=headers, ssl=tls) as resp,
    ):
        assert resp.status == 200, await resp.text()
        assert resp.headers["Warning"] == '299 - "v1 ComponentStatus is deprecated in v1.19+"'
        table = await resp.json()
    return {row["cells"][0]: row["cells"][1:] for row in table["rows"]}


async def test_component_statuses_report_the_running_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager, "build_controllers", lambda client, options: [])
    async with Server(_config(tmp_path)) as server:
        assert await _component_statuses(server) == {
            "scheduler": ["Healthy", "ok", ""],
            "controller-manager": ["Healthy", "ok", ""],
            "etcd-0": ["Healthy", "ok", ""],
        }


async def test_component_statuses_show_a_crashed_controller_manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed = asyncio.Event()

    class Broken(Controller):
        name = "broken"

        async def run_workers(self) -> None:
            crashed.set()
            raise RuntimeError("reconciler bug")

    monkeypatch.setattr(manager, "build_controllers", lambda client, options: [Broken(client)])
    async with Server(_config(tmp_path), restart=Backoff(first=60, cap=60)) as server:
        await asyncio.wait_for(crashed.wait(), 30)
        for _ in range(100):  # the guard notes the crash once the term has ended
            statuses = await _component_statuses(server)
            if statuses["scheduler"][0] == "Unhealthy":
                break
            await asyncio.sleep(0.05)
        problem = "controller manager crashed: RuntimeError: reconciler bug; restarting in 60 s"
        assert statuses == {
            "scheduler": ["Unhealthy", problem, ""],
            "controller-manager": ["Unhealthy", problem, ""],
            "etcd-0": ["Healthy", "ok", ""],
        }


async def test_the_join_routes_are_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager, "build_controllers", lambda client, options: [])
    async with Server(_config(tmp_path)) as server:
        ca = (tmp_path / "data" / "pki" / "ca.crt").read_bytes()
        secret = (tmp_path / "data" / "node-secret").read_text().strip()
        csr, _ = pki.node_csr("n2")
        tls = ssl.create_default_context(cadata=ca.decode())
        async with aiohttp.ClientSession(server.url) as session:
            async with session.get("/cacerts", ssl=tls) as resp:
                assert resp.status == 200 and await resp.read() == ca
            async with session.post(
                pki.NODE_CREDENTIALS_PATH,
                json={"nodeName": "n2", "csr": csr.decode()},
                headers={"Authorization": f"Bearer {secret}"},
                ssl=tls,
            ) as resp:
                assert resp.status == 400 and "nodePassword is required" in (await resp.json())["message"]
            body = {"nodeName": "n2", "csr": csr.decode(), "nodePassword": "p" * 32}
            async with session.post(
                pki.NODE_CREDENTIALS_PATH, json=body, headers={"Authorization": f"Bearer {secret}"}, ssl=tls
            ) as resp:
                assert resp.status == 200 and (await resp.json())["ca"] == ca.decode()


async def test_a_failed_start_stops_what_had_started(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = dataclasses.replace(_config(tmp_path), port=taken.getsockname()[1])
        with pytest.raises(OSError):
            await Server(config).start()
    assert asyncio.all_tasks() == {asyncio.current_task()}  # the store's writer and feed are gone
