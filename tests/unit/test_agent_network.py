"""The node's pod network loop: a taken subnet is reported (condition, one log line per change), retried
with back-off, and cleared once the network exists; the node status keeps the condition."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from minikube_py.agent import network as network_module
from minikube_py.agent.agent import Agent
from minikube_py.agent.network import (
    NETWORK_UNAVAILABLE,
    REASON_CONFLICT,
    REASON_FAILED,
    REASON_READY,
    PodNetwork,
    next_delay,
)
from minikube_py.agent.node import node_status, status_changed
from minikube_py.agent.runtime.base import MachineInfo, NetworkConflict, RuntimeFailure, conflict_message
from minikube_py.config import AgentConfig


class FlakyRuntime:
    """ensure_network raises the queued failures one by one, then succeeds."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def ensure_network(self, name: str, subnet: str, gateway: str, *, masquerade: bool = True) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def test_the_conflict_message_names_the_holder_and_the_fix() -> None:
    assert conflict_message("10.244.0.0/24", "pykube-old", 2, ["old"]) == (
        "pod subnet 10.244.0.0/24 overlaps Docker network pykube-old (2 containers of node old); "
        "run `pykube cleanup --node old` or start with another --cluster-cidr"
    )
    assert conflict_message("10.244.0.0/24", "pykube-gone", 0, []) == (
        "pod subnet 10.244.0.0/24 overlaps Docker network pykube-gone (0 containers); "
        "run `pykube cleanup --node gone` or start with another --cluster-cidr"
    )
    assert conflict_message("10.244.0.0/24", "mynet", 1, []) == (
        "pod subnet 10.244.0.0/24 overlaps Docker network mynet (1 container); "
        "remove Docker network mynet or start with another --cluster-cidr"
    )


def test_back_off_doubles_up_to_a_cap() -> None:
    delays = [0.0]
    for _ in range(8):
        delays.append(next_delay(delays[-1]))
    assert delays[1:5] == [1.0, 2.0, 4.0, 8.0] and delays[-1] == 30.0


async def test_a_taken_subnet_is_reported_once_retried_and_cleared(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(network_module, "FIRST_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(network_module, "MAX_RETRY_SECONDS", 0.01)
    conflict = NetworkConflict("10.244.0.0/24", "pykube-old", 2, ["old"])
    runtime = FlakyRuntime(
        [conflict, NetworkConflict("10.244.0.0/24", "pykube-old", 2, ["old"]), RuntimeFailure("engine unreachable")]
    )
    changes: list[tuple[bool, str]] = []
    net = PodNetwork(
        runtime,
        "pykube-n",
        "10.244.0.0/24",
        "10.244.0.1",
        masquerade=False,  # type: ignore[arg-type]
        on_change=lambda: changes.append((net.state.unavailable, net.state.reason)),
    )  # type: ignore[union-attr]
    assert net.problem is None  # nothing to report before the first attempt
    with caplog.at_level(logging.WARNING, logger=network_module.__name__):
        await asyncio.wait_for(net.run(), 5)
    assert runtime.calls == 4 and net.ready.is_set() and net.problem is None
    # the same failure twice is one change, one log line
    assert changes == [(True, REASON_CONFLICT), (True, REASON_FAILED), (False, REASON_READY)]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and "run `pykube cleanup --node old`" in lines[0] and "engine unreachable" in lines[1]
    assert not any(r.exc_info for r in caplog.records)  # no tracebacks
    assert net.state is not None and net.state.condition("t")["status"] == "False"


def test_the_network_condition_is_part_of_every_status_report() -> None:
    machine = MachineInfo(cpus=2, memory_bytes=1 << 30, kernel_version="6", os_image="x")
    cond = {
        "type": NETWORK_UNAVAILABLE,
        "status": "True",
        "reason": REASON_CONFLICT,
        "message": "m",
        "lastHeartbeatTime": "a",
        "lastTransitionTime": "a",
    }
    transitions: dict[str, tuple[str, str]] = {}
    plain = node_status(machine, ip="1.2.3.4", hostname="h", max_pods=10, kubelet_port=1, transitions=transitions)
    with_net = node_status(
        machine, ip="1.2.3.4", hostname="h", max_pods=10, kubelet_port=1, transitions=transitions, extra=[cond]
    )
    assert [c["type"] for c in with_net["conditions"]][:2] == [NETWORK_UNAVAILABLE, "MemoryPressure"]
    assert status_changed(plain, with_net)
    later = node_status(
        machine,
        ip="1.2.3.4",
        hostname="h",
        max_pods=10,
        kubelet_port=1,
        transitions=transitions,
        extra=[{**cond, "lastHeartbeatTime": "b"}],
    )
    assert not status_changed(with_net, later)  # a heartbeat alone is no news


def test_the_ipam_controllers_condition_is_carried_over_until_the_agent_has_its_own(tmp_path: Path) -> None:
    agent = Agent(AgentConfig(node_name="n1", data_dir=tmp_path))
    ipam = {"type": NETWORK_UNAVAILABLE, "status": "True", "reason": "CIDRNotAvailable", "message": "no subnet"}
    current = [ipam, {"type": "Ready", "status": "True"}]
    assert agent._network_conditions(current) == [ipam]  # not the agent's to drop (the merge patch would)
    agent._network = PodNetwork(
        FlakyRuntime([]),
        "pykube-n1",
        "10.244.0.0/24",
        "10.244.0.1",  # type: ignore[arg-type]
        masquerade=True,
    )
    assert agent._network_conditions(current) == [ipam]  # no attempt yet
    agent._network._set(True, REASON_CONFLICT, "taken")
    [own] = agent._network_conditions(current)
    assert (own["type"], own["status"], own["reason"], own["message"]) == (
        NETWORK_UNAVAILABLE,
        "True",
        REASON_CONFLICT,
        "taken",
    )
