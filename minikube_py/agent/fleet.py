"""Many fake nodes in one process, as kubemark's hollow nodes: real :class:`~.agent.Agent` instances on
the fake runtime, for control-plane tests and benchmarks at scale (``pykube agent --runtime fake
--count N --node-name hollow-%d``).

Each node is an Agent with a :class:`~.runtime.fake.FakeRuntime` of its own: it registers its Node,
holds its Lease, runs the same pod workers and writes pod status through the same code as a node on
Docker. What a thousand of them share, so that they cost the server and the process little:

- one API client, one connection pool, rather than a certificate per node (a key, a signing round
  trip and a TLS session each), as kubemark's hollow nodes share one kubeconfig. Its user must be
  allowed to act for every node (the admin's kubeconfig, or any user who may impersonate
  ``system:node:*`` in ``system:nodes`` and watch every bound pod): each node's own requests
  impersonate that node, so the Node authorizer and NodeRestriction judge them as a real node's
  (and the benchmarks measure them); the shared watches below go as the fleet's user. The join token
  cannot serve: it gives one node its own credentials only;
- one watch per collection (:class:`~.pods.PodSources` without a node), pods dispatched by
  spec.nodeName: a watch per node and collection would cost the server four thousand streams, and
  every pod event a thousand field-selector checks;
- one disk check of their data directory per heartbeat period;
- no kubelet endpoint: the fake runtime has no output or shell worth relaying, and a TLS listener,
  key and certificate per node would cost a port and two files each. The nodes advertise port 0, so
  ``kubectl logs`` on their pods is told that the node has no kubelet endpoint.

Nodes stop and start one by one (:meth:`Fleet.stop`, :meth:`Fleet.start`): a stopped node is one whose
agent was killed, no heartbeat and no pod work, its containers left running in its runtime for the
next start to adopt, as an agent restart does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from minikube_py.agent.agent import Agent, JoinError
from minikube_py.agent.health import DiskCheck
from minikube_py.agent.pods import PodSources
from minikube_py.agent.runtime.fake import FakeRuntime
from minikube_py.client.kubeconfig import ClientConfig, load_kubeconfig
from minikube_py.client.rest import ApiClient
from minikube_py.config import AgentConfig, default_advertise_address
from minikube_py.guard import cancel_and_wait, guard
from minikube_py.model.eviction import NODEFS, parse_thresholds
from minikube_py.model.quantity import value
from minikube_py.model.rbac import NODE_USER_PREFIX, NODES_GROUP

log = logging.getLogger(__name__)

#: requests a fleet has in flight at most: its nodes' heartbeats and status writes queue for these, so
#: that a thousand nodes are one modest client, well below the server's in-flight limits (200 mutating)
CONNECTIONS = 50


class Fleet:
    """The nodes ``names`` (by default ``config.node_names``) on the fake runtime, each in
    ``config.data_dir/<name>``, until :meth:`run` is cancelled. ``client``: the credentials of the
    fleet (by default those of ``config.kubeconfig``); ``labels``: extra labels of some nodes."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        names: list[str] | None = None,
        client: ClientConfig | None = None,
        labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        if config.runtime != "fake":
            raise ValueError("a fleet runs fake nodes only")
        self.config = config
        self._client_config = client
        self._labels = labels or {}
        self.names = names or config.node_names
        self.runtimes = {name: FakeRuntime(config.fake_cpus, value(config.fake_memory)) for name in self.names}
        self._disk = DiskCheck(
            lambda: [(config.data_dir, NODEFS)],
            parse_thresholds(config.eviction_hard),
            every=config.node_lease_duration_seconds / 4,
        )
        self._node_ip = config.node_ip or default_advertise_address()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: tuple[ApiClient, PodSources] | None = None
        self.ready = asyncio.Event()  # the shared watches have listed; nodes are registering

    async def run(self) -> None:
        client_config = self._client_config or _fleet_credentials(self.config)
        async with ApiClient(
            client_config, user_agent="pykube-agent/fleet", timeout=60, connections=CONNECTIONS
        ) as client:
            sources = PodSources(client, None)
            self._running = client, sources
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(sources.run(), name="fleet informers")
                    await sources.synced()
                    for name in self.names:
                        self.start(name)
                    self.ready.set()
            finally:
                self._running = None
                await self._stop_all()

    def start(self, name: str) -> None:
        """Start node ``name`` (again): a fresh agent, as a restarted process, on the node's runtime."""
        if self._running is None:
            raise RuntimeError("the fleet is not running")
        if name in self._tasks:
            return
        client, sources = self._running
        labels = {**self.config.labels, **self._labels.get(name, {})}
        config = dataclasses.replace(
            self.config,
            node_name=name,
            count=1,
            data_dir=self.config.data_dir / name,
            node_labels=",".join(f"{k}={v}" for k, v in labels.items()),
        )
        agent = Agent(config, disk=self._disk)
        node_client = client.impersonating(f"{NODE_USER_PREFIX}{name}", [NODES_GROUP])
        self._tasks[name] = asyncio.create_task(
            guard(f"node {name}", lambda: agent.serve(node_client, self.runtimes[name], self._node_ip, 0, sources)),
            name=f"fake node {name}",
        )

    async def stop(self, name: str) -> None:
        """Node ``name`` goes silent, as if its agent were killed: no heartbeat, no pod updates."""
        task = self._tasks.pop(name, None)
        if task is not None:
            await cancel_and_wait(task)

    async def _stop_all(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _fleet_credentials(config: AgentConfig) -> ClientConfig:
    if not config.kubeconfig:
        raise JoinError(
            "a fleet of fake nodes acts for all of them: give it --kubeconfig with a user who may "
            "impersonate system:node:* (such as the server's admin kubeconfig); the join token "
            "gives one node its own credentials only"
        )
    return load_kubeconfig(Path(config.kubeconfig))


class FleetThread:
    """A fleet on its own event loop in a thread, for synchronous callers (tests that drive kubectl, a
    benchmark's client loop kept apart): :meth:`stop` and :meth:`start` are safe from any thread."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="fake nodes", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self.fleet.run())
            waiter = asyncio.create_task(self.fleet.ready.wait())
            await asyncio.wait([self._task, waiter], return_when=asyncio.FIRST_COMPLETED)
            self._started.set()
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

        try:
            asyncio.run(main())
        except BaseException as e:  # reported to the starting thread
            self._error = e
            self._started.set()

    def __enter__(self) -> FleetThread:
        self._thread.start()
        if not self._started.wait(60):
            raise RuntimeError("the fake nodes did not start within 60 s")
        if self._error is not None or self._task is None or self._task.done():
            raise RuntimeError(f"the fake nodes failed to start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)
        if self._thread.is_alive():
            raise RuntimeError("the fake nodes did not stop within 30 s of being cancelled")

    def stop(self, name: str) -> None:
        self._call(self.fleet.stop(name))

    def start(self, name: str) -> None:
        async def start() -> None:
            self.fleet.start(name)

        self._call(start())

    def _call(self, work: Any) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(work, self._loop).result(30)
