"""The node's pod network: created in the background, retried with back-off, reported when it fails.

A node whose network cannot be made (its subnet held by another cluster's leftovers, the engine
unreachable) must not crash-loop with a traceback per attempt, silent to the cluster: as a kubelet
whose network plugin is not ready, the agent keeps running and says what is wrong where users look:
the Node's ``NetworkUnavailable`` condition (``kubectl describe node``), a Warning event on the node,
and ``FailedCreatePodSandBox`` events on the pods that wait for it (the pod workers ask
:attr:`PodNetwork.problem` before they create a sandbox). One log line per change of state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minikube_py.agent.runtime.base import NetworkConflict, Runtime
from minikube_py.model.times import rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]

NETWORK_UNAVAILABLE = "NetworkUnavailable"
#: reasons of the condition this agent writes (the node IPAM controller's CIDRNotAvailable is its own)
REASON_CONFLICT = "PodSubnetOverlaps"
REASON_FAILED = "PodNetworkFailed"
REASON_READY = "PodNetworkReady"
#: retry delays: quick at first (a leftover may be going away), then no more than every half minute
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


def _now() -> str:
    return rfc3339()


@dataclass(frozen=True)
class NetworkState:
    """The condition as the node reports it; ``since`` is when its status last changed."""

    unavailable: bool
    reason: str
    message: str
    since: str

    def condition(self, heartbeat: str) -> Obj:
        return {
            "type": NETWORK_UNAVAILABLE,
            "status": "True" if self.unavailable else "False",
            "reason": self.reason,
            "message": self.message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": self.since,
        }


def network_name(node: str) -> str:
    """The node's pod network on its engine; ``pykube cleanup --node`` finds it by this name."""
    return f"pykube-{node}"[:60]


def next_delay(delay: float) -> float:
    return min(MAX_RETRY_SECONDS, max(FIRST_RETRY_SECONDS, delay * 2))


class PodNetwork:
    """Creates the node's pod network until it exists; ``on_change`` runs after every change of
    state (the agent writes the node status and wakes the pod workers)."""

    def __init__(
        self,
        runtime: Runtime,
        name: str,
        subnet: str,
        gateway: str,
        *,
        masquerade: bool,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._runtime = runtime
        self.name, self.subnet, self.gateway, self._masquerade = name, subnet, gateway, masquerade
        self._on_change = on_change
        self.state: NetworkState | None = None  # None until the first attempt ends
        self.ready = asyncio.Event()

    @property
    def problem(self) -> str | None:
        """Why pods cannot get a sandbox now: the cause and the fix, or None once the network exists.
        Before the first attempt ends there is no problem to report yet (the workers just wait)."""
        if self.state is not None and self.state.unavailable:
            return self.state.message
        return None

    async def run(self) -> None:
        delay = 0.0
        while True:
            try:
                await self._runtime.ensure_network(self.name, self.subnet, self.gateway, masquerade=self._masquerade)
            except asyncio.CancelledError:
                raise
            except NetworkConflict as e:
                self._set(True, REASON_CONFLICT, e.message)
            except Exception as e:  # an unreachable engine, a refused request: retried, reported, never fatal
                detail = getattr(e, "message", None) or str(e) or type(e).__name__
                self._set(True, REASON_FAILED, f"cannot create pod network {self.name} on {self.subnet}: {detail}")
            else:
                self._set(False, REASON_READY, f"pod network {self.name} on {self.subnet} is up")
                self.ready.set()
                return
            delay = next_delay(delay)
            await asyncio.sleep(delay)

    def _set(self, unavailable: bool, reason: str, message: str) -> None:
        old = self.state
        if old is not None and (old.unavailable, old.reason, old.message) == (unavailable, reason, message):
            return
        since = old.since if old is not None and old.unavailable == unavailable else _now()
        self.state = NetworkState(unavailable, reason, message, since)
        # the message may change on its own (the count of containers holding a subnet falls as they
        # stop): the condition shows it, the log only a new state
        if unavailable and (old is None or (old.unavailable, old.reason) != (True, reason)):
            log.error("pod network unavailable: %s (retrying with back-off)", message)
        elif old is not None:
            log.warning("pod network %s on %s is up again", self.name, self.subnet)
        if self._on_change is not None:
            self._on_change()
