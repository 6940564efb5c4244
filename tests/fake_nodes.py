"""Nodes for the control-plane tests: real agents on the fake runtime (minikube_py.agent.fleet) joined
to a real ``pykube server`` (minikube_py.testing) with its admin kubeconfig, each node's requests
impersonating that node, as ``pykube agent --runtime fake --count N --kubeconfig`` runs them, on their
own event loop in a thread so that the tests can drive kubectl meanwhile.

They renew their leases every 2 s (an 8 s lease), so that tests with a short node monitor grace period
see them healthy; ``stop(name)`` silences one node as a killed agent would and ``start(name)`` brings
it back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from minikube_py.agent.fleet import Fleet, FleetThread
from minikube_py.client.kubeconfig import load_kubeconfig
from minikube_py.config import AgentConfig
from minikube_py.testing import RunningServer, eventually, node_is_ready, start_server

#: lease duration of the tests' nodes: renewed every quarter of it
LEASE_SECONDS = 8


@contextlib.contextmanager
def fake_nodes(
    server: RunningServer,
    names: list[str],
    *,
    cpu: int = 4,
    memory: str = "8Gi",
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[FleetThread]:
    """``names`` joined to ``server``, with ``cpu`` and ``memory`` each and ``labels`` on some, Ready
    with their pod subnets when the block starts, stopped when it ends."""
    config = AgentConfig(
        server=server.url,
        token=(server.data_dir / "node-token").read_text().strip(),
        node_name=names[0],
        runtime="fake",
        node_ip="127.0.0.1",
        data_dir=server.data_dir.parent / f"{server.data_dir.name}-nodes",
        node_lease_duration_seconds=LEASE_SECONDS,
        fake_cpus=cpu,
        fake_memory=memory,
    )
    fleet = Fleet(config, names=names, client=load_kubeconfig(server.kubeconfig), labels=labels)
    with FleetThread(fleet) as running:
        for name in names:
            eventually(lambda n=name: node_is_ready(server, n), f"node {name} Ready")
        yield running


@contextlib.contextmanager
def server_with_fake_nodes(
    data_dir: Path,
    names: list[str],
    *flags: str,
    cpu: int = 4,
    memory: str = "8Gi",
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[tuple[RunningServer, FleetThread]]:
    """A real server started with ``flags`` and the fake nodes ``names`` joined, all stopped on exit."""
    running = start_server(data_dir, *flags)
    try:
        with fake_nodes(running, names, cpu=cpu, memory=memory, labels=labels) as nodes:
            yield running, nodes
    finally:
        running.stop()
