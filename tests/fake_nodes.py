"""Nodes for the control-plane tests: real agents on the fake runtime (minikube_py.agent.fleet) joined
to a real ``pykube server`` (minikube_py.testing) with its admin kubeconfig, each node's requests
impersonating that node, as ``pykube agent --runtime fake --count N --kubeconfig`` runs them, on their
own event loop in a thread so that the tests can drive kubectl meanwhile.

They renew their leases every 2 s (an 8 s lease), so that tests with a short node monitor grace period
see them healthy; ``stop(name)`` silences one node as a killed agent would and ``start(name)`` brings
it back.

``server_with_fake_nodes`` starts the server as a subprocess (``pykube server``); ``in_process_cluster``
runs it on a thread of the test process instead (tests/inprocess.py), which the controller tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from inprocess import InProcessServer, start_in_process, until

from minikube_py.agent.fleet import Fleet, FleetThread
from minikube_py.client.errors import NotFoundError
from minikube_py.client.kubeconfig import load_kubeconfig
from minikube_py.client.rest import ApiClient
from minikube_py.config import AgentConfig
from minikube_py.core import Server
from minikube_py.guard import cancel_and_wait
from minikube_py.testing import RunningServer, ServerEndpoint, eventually, is_ready_node, node_is_ready, start_server

#: lease duration of the tests' nodes: renewed every quarter of it
LEASE_SECONDS = 8


def fake_fleet(
    url: str,
    data_dir: Path,
    names: list[str],
    *,
    cpu: int = 4,
    memory: str = "8Gi",
    labels: Mapping[str, Mapping[str, str]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Fleet:
    """The agents of ``names`` for the server at ``url`` whose data directory is ``data_dir``, with
    ``cpu`` and ``memory`` each and ``labels`` on some, acting through its admin kubeconfig;
    ``settings``: more of their AgentConfig (eviction thresholds...)."""
    config = AgentConfig(
        server=url,
        token=(data_dir / "node-token").read_text().strip(),
        node_name=names[0],
        runtime="fake",
        node_ip="127.0.0.1",
        data_dir=data_dir.parent / f"{data_dir.name}-nodes",
        node_lease_duration_seconds=LEASE_SECONDS,
        fake_cpus=cpu,
        fake_memory=memory,
        **(settings or {}),
    )
    return Fleet(config, names=names, client=load_kubeconfig(data_dir / "kubeconfig.yaml"), labels=labels)


@contextlib.contextmanager
def fake_nodes(
    server: ServerEndpoint,
    names: list[str],
    *,
    cpu: int = 4,
    memory: str = "8Gi",
    labels: Mapping[str, Mapping[str, str]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Iterator[FleetThread]:
    """``names`` joined to ``server``, with ``cpu`` and ``memory`` each and ``labels`` on some, Ready
    with their pod subnets when the block starts, stopped when it ends."""
    fleet = fake_fleet(server.url, server.data_dir, names, cpu=cpu, memory=memory, labels=labels, settings=settings)
    with FleetThread(fleet) as running:
        for name in names:
            eventually(lambda n=name: node_is_ready(server, n), f"node {name} Ready")
        yield running


@contextlib.asynccontextmanager
async def fake_nodes_on_loop(server: Server, names: list[str], **fleet: Any) -> AsyncIterator[Fleet]:
    """``names`` joined to an in-process ``server`` (:func:`inprocess.serving`) on the running loop, as
    :func:`fake_nodes` joins them from a thread: started and Ready with their pod subnets for the
    block, stopped (every task of theirs ended) after it."""
    nodes = fake_fleet(server.url, server.config.data_dir, names, **fleet)
    running = asyncio.create_task(nodes.run(), name="fake nodes")
    try:
        async with ApiClient(load_kubeconfig(server.kubeconfig_path)) as client:
            for name in names:
                await until(lambda n=name: _ready(client, n), f"node {name} Ready")
        yield nodes
    finally:
        await cancel_and_wait(running)


async def _ready(client: ApiClient, name: str) -> bool:
    try:
        return is_ready_node(await client.get(f"/api/v1/nodes/{name}"))
    except NotFoundError:
        return False


@contextlib.contextmanager
def server_with_fake_nodes(
    data_dir: Path,
    names: list[str],
    *flags: str,
    cpu: int = 4,
    memory: str = "8Gi",
    labels: Mapping[str, Mapping[str, str]] | None = None,
    start: Callable[..., RunningServer | InProcessServer] = start_server,
    settings: Mapping[str, Any] | None = None,
) -> Iterator[tuple[ServerEndpoint, FleetThread]]:
    """A real server started by ``start`` with ``flags`` and the fake nodes ``names`` joined, all
    stopped on exit."""
    running = start(data_dir, *flags)
    try:
        with fake_nodes(running, names, cpu=cpu, memory=memory, labels=labels, settings=settings) as nodes:
            yield running, nodes
    finally:
        running.stop()


def in_process_cluster(
    data_dir: Path, names: list[str], *flags: str, **nodes: Any
) -> contextlib.AbstractContextManager[tuple[ServerEndpoint, FleetThread]]:
    """:func:`server_with_fake_nodes` with the server in this process (:func:`inprocess.start_in_process`)."""
    return server_with_fake_nodes(data_dir, names, *flags, start=start_in_process, **nodes)
