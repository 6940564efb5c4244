"""The node's health register: which condition a failing part sets, one log line per change, and the
disk-pressure and runtime messages a user reads in ``kubectl describe node``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from minikube_py.agent import health as health_module
from minikube_py.agent.health import (
    Filesystem,
    NodeHealth,
    Part,
    Problem,
    disk_pressure,
    disk_usage,
    runtime_down,
    shortages,
)
from minikube_py.agent.node import node_status
from minikube_py.agent.runtime.base import MachineInfo
from minikube_py.model import eviction
from minikube_py.netproxy.proxy import ProxyOptions, ServiceProxy
from minikube_py.netproxy.rules import RuleSet

MACHINE = MachineInfo(cpus=2, memory_bytes=1 << 30, kernel_version="6", os_image="x")


def conditions(status: dict[str, object]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}  # type: ignore[attr-defined]


def test_a_healthy_node_reports_kubelets_conditions_and_the_watched_parts_as_fine() -> None:
    health = NodeHealth([Part.RUNTIME, Part.DISK, Part.PROXY, Part.DNS])
    status = node_status(MACHINE, ip="1.2.3.4", hostname="h", max_pods=10, kubelet_port=1, health=health.conditions())
    assert [c["type"] for c in status["conditions"]] == [
        "ServiceProxyUnavailable",
        "ClusterDNSUnavailable",
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "Ready",
    ]
    found = conditions(status)
    assert found["Ready"] == ("True", "KubeletReady", "kubelet is posting ready status")
    assert found["DiskPressure"][0] == "False" and found["ServiceProxyUnavailable"][:2] == (
        "False",
        "ServiceProxyReady",
    )


def test_each_part_sets_its_own_condition() -> None:
    health = NodeHealth([Part.RUNTIME, Part.DISK, Part.PROXY, Part.DNS])
    health.report(Part.RUNTIME, runtime_down(ConnectionRefusedError("refused"), "unix:///run/x.sock"))
    health.report(Part.DISK, Problem("KubeletHasDiskPressure", "full"))
    health.report(Part.DNS, Problem("ClusterDNSFailed", "port taken"))
    found = health.conditions()
    assert found["Ready"][:2] == ("False", "KubeletNotReady")
    assert found["Ready"][2] == (
        "container runtime is down: unix:///run/x.sock does not answer (refused); start "
        "Docker (`systemctl start docker`) or point --docker-host at a running engine"
    )
    assert found["DiskPressure"] == ("True", "KubeletHasDiskPressure", "full")
    assert found["ClusterDNSUnavailable"] == ("True", "ClusterDNSFailed", "port taken")
    assert found["ServiceProxyUnavailable"][0] == "False"


def test_only_changes_are_logged_and_announced(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[Part, Problem | None]] = []
    health = NodeHealth([Part.RUNTIME], on_change=lambda part, problem: seen.append((part, problem)))
    down = Problem("KubeletNotReady", "down")
    with caplog.at_level(logging.WARNING, logger=health_module.__name__):
        for state in (None, down, down, down, None, None):
            health.report(Part.RUNTIME, state)
    assert seen == [(Part.RUNTIME, down), (Part.RUNTIME, None)]
    assert len(caplog.records) == 2 and not any(r.exc_info for r in caplog.records)


def test_a_condition_moves_its_transition_time_when_its_status_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    import minikube_py.agent.node as node_module

    transitions: dict[str, tuple[str, str]] = {}
    health = NodeHealth([Part.RUNTIME])

    def at(stamp: str) -> dict[str, str]:
        monkeypatch.setattr(node_module, "now", lambda: stamp)
        status = node_status(
            MACHINE,
            ip="i",
            hostname="h",
            max_pods=1,
            kubelet_port=1,
            transitions=transitions,
            health=health.conditions(),
        )
        return next(c for c in status["conditions"] if c["type"] == "Ready")

    assert at("t1")["lastTransitionTime"] == "t1"
    assert at("t2")["lastTransitionTime"] == "t1"
    health.report(Part.RUNTIME, Problem("KubeletNotReady", "down"))
    assert at("t3")["lastTransitionTime"] == "t3"
    health.report(Part.RUNTIME, None)
    ready = at("t4")
    assert (ready["status"], ready["lastTransitionTime"]) == ("True", "t4")  # not t1: the status came back


def test_disk_pressure_names_every_short_filesystem_and_the_threshold() -> None:
    thresholds = eviction.parse_thresholds(eviction.DEFAULT_THRESHOLD)
    roomy = Filesystem(Path("/data"), 50 << 30, 100 << 30, (eviction.NODEFS,))
    assert disk_pressure(shortages([roomy], thresholds)) is None
    data = Filesystem(Path("/data"), 5 << 20, 100 << 20, (eviction.NODEFS,))
    engine = Filesystem(Path("/var/lib/docker"), 90 << 30, 100 << 30, (eviction.IMAGEFS,))
    problem = disk_pressure(shortages([data, engine], thresholds))
    assert problem is not None and problem.reason == "KubeletHasDiskPressure"
    assert problem.message.startswith(
        "kubelet has disk pressure: /data has 5.0 MiB free of 100.0 MiB (5%), under the 10% the node needs "
        "(nodefs.available)"
    )
    assert "/var/lib/docker" not in problem.message
    # one filesystem for both: the engine's 15% is crossed first, at 12% free
    shared = Filesystem(Path("/data"), 12 << 20, 100 << 20, (eviction.NODEFS, eviction.IMAGEFS))
    (short,) = shortages([shared], thresholds)
    assert (short.signal, short.minimum) == (eviction.IMAGEFS, 15728640)
    assert shortages([shared], eviction.parse_thresholds("nodefs.available<10Mi")) == []


def test_disk_usage_measures_each_filesystem_once_and_skips_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    usage = disk_usage([(tmp_path, eviction.NODEFS), (tmp_path / "a", eviction.IMAGEFS), (tmp_path / "gone", "x")])
    assert [(fs.path, fs.signals) for fs in usage] == [(tmp_path, (eviction.NODEFS, eviction.IMAGEFS))]
    assert 0 < usage[0].free <= usage[0].total


class FailingWriter:
    def __init__(self) -> None:
        self.fail = True
        self.applied = 0

    def apply(self, rules: RuleSet) -> None:
        if self.fail:
            raise OSError("iptables: Permission denied")
        self.applied += 1

    def cleanup(self) -> None: ...

    def ours(self) -> list[str]:
        return []


async def test_the_proxy_reports_refused_rules_once_and_their_recovery() -> None:
    writer, heard, news = FailingWriter(), [], asyncio.Event()

    def hear(part: str, message: str | None) -> None:
        heard.append((part, message))
        news.set()

    proxy = ServiceProxy(None, ProxyOptions("n1", routes=False), writer=writer, on_problem=hear)  # type: ignore[arg-type]
    for informer in proxy._informers:
        informer.synced.set()
    loop = asyncio.create_task(proxy._sync_loop(0))
    try:

        async def until(count: int) -> None:
            while len(heard) < count:
                news.clear()
                await news.wait()

        await asyncio.wait_for(until(1), 5)
        part, message = heard[0]
        assert part == "proxy" and message is not None and "iptables: Permission denied" in message
        writer.fail = False
        proxy._changed.set()
        await asyncio.wait_for(until(2), 5)
        assert heard[1] == ("proxy", None) and writer.applied >= 1
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
