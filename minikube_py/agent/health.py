"""What part of its job the agent cannot do now, as the Node's conditions and events say it.

A kubelet whose container runtime is down, whose disk is full, or (here) whose service proxy or cluster
DNS cannot work, keeps running and says so where users look: the Node's conditions (``kubectl describe
node``: ``Ready=False`` with the runtime's error, ``DiskPressure=True``, pykube's
``ServiceProxyUnavailable`` and ``ClusterDNSUnavailable``), a Warning event on the node when a problem
starts and a Normal one when it ends, and one log line per change of state rather than a traceback per
retry. The pod network has its own reporter (:mod:`minikube_py.agent.network`), since its condition is
shared with the node IPAM controller.

The decisions (which condition a problem sets, whether disk space counts as pressure) are pure; the
:class:`NodeHealth` register only remembers the problems and announces their changes.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from minikube_py.model.eviction import Threshold, Thresholds

log = logging.getLogger(__name__)


class Part(Enum):
    """A part of the agent's job that can fail on its own while the rest goes on."""

    RUNTIME = "runtime"
    DISK = "disk"
    MEMORY = "memory"
    PROXY = "proxy"
    DNS = "dns"


@dataclass(frozen=True)
class Problem:
    reason: str  # the condition's and the Warning event's reason, CamelCase as Kubernetes writes them
    message: str  # the cause and, where there is one, the fix


@dataclass(frozen=True)
class ConditionRule:
    """How a part's state shows on the Node: the condition it sets, its status with and without a
    problem, the reason when all is well, and the Normal event's reason when a problem ends."""

    type: str
    status_bad: str
    status_good: str
    reason_good: str
    message_good: str
    recovered: str


#: Ready, DiskPressure and MemoryPressure are kubelet's own conditions (their good states are kubelet's words); the
#: proxy and DNS ones are pykube's, named as node-problem-detector names its conditions
RULES: Mapping[Part, ConditionRule] = {
    Part.RUNTIME: ConditionRule(
        "Ready", "False", "True", "KubeletReady", "kubelet is posting ready status", "NodeReady"
    ),
    Part.DISK: ConditionRule(
        "DiskPressure",
        "True",
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
        "NodeHasNoDiskPressure",
    ),
    Part.MEMORY: ConditionRule(
        "MemoryPressure",
        "True",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
        "NodeHasSufficientMemory",
    ),
    Part.PROXY: ConditionRule(
        "ServiceProxyUnavailable",
        "True",
        "False",
        "ServiceProxyReady",
        "the service proxy's rules are in place",
        "ServiceProxyReady",
    ),
    Part.DNS: ConditionRule(
        "ClusterDNSUnavailable",
        "True",
        "False",
        "ClusterDNSReady",
        "the cluster DNS answers on this node",
        "ClusterDNSReady",
    ),
}


def runtime_down(error: BaseException | str, endpoint: str) -> Problem:
    """The Ready=False problem of an engine that does not answer, naming what to check."""
    detail = (
        error if isinstance(error, str) else (getattr(error, "message", None) or str(error) or type(error).__name__)
    )
    where = endpoint or "the local Docker engine"
    return Problem(
        "KubeletNotReady",
        f"container runtime is down: {where} does not answer ({detail}); "
        "start Docker (`systemctl start docker`) or point --docker-host at a running engine",
    )


@dataclass(frozen=True)
class Filesystem:
    """One filesystem the node writes to, as measured: a path on it, its free and total bytes, and
    the signals it carries (``nodefs.available`` for the node's data, ``imagefs.available`` for the
    engine's; both when they share it)."""

    path: Path
    free: int
    total: int
    signals: tuple[str, ...]


@dataclass(frozen=True)
class Shortage:
    """A filesystem under a hard eviction threshold: the signal, and the threshold it is under."""

    filesystem: Filesystem
    signal: str
    threshold: Threshold

    @property
    def minimum(self) -> int:
        return self.threshold.bytes(self.filesystem.total)


def shortages(filesystems: Iterable[Filesystem], thresholds: Thresholds) -> list[Shortage]:
    """The filesystems under a threshold, each once, under the largest threshold it is under (on a
    shared filesystem the image one, 15%, is crossed before the node one, 10%)."""
    found = []
    for fs in filesystems:
        met = [
            Shortage(fs, signal, thresholds[signal])
            for signal in fs.signals
            if signal in thresholds and fs.free < thresholds[signal].bytes(fs.total)
        ]
        if met:
            found.append(max(met, key=lambda shortage: shortage.minimum))
    return found


def disk_pressure(short: Iterable[Shortage]) -> Problem | None:
    """DiskPressure's problem from the filesystems under their thresholds, or None when none is."""
    what = "; ".join(
        f"{s.filesystem.path} has {_size(s.filesystem.free)} free of {_size(s.filesystem.total)} "
        f"({s.filesystem.free / s.filesystem.total:.0%}), under the {_spelled(s.threshold)} the node needs "
        f"({s.signal})"
        for s in short
    )
    if not what:
        return None
    return Problem(
        "KubeletHasDiskPressure",
        f"kubelet has disk pressure: {what}; free space there "
        "(`docker system prune` removes unused images and stopped containers)",
    )


def _spelled(threshold: Threshold) -> str:
    return threshold.quantity or f"{float(threshold.percentage or 0):.0%}"


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def disk_usage(paths: Iterable[tuple[Path, str]]) -> list[Filesystem]:
    """Each existing path's filesystem once, carrying the signals of every path on it; paths that
    are not there (an engine's root on another host) are left out."""
    found: dict[tuple[int, int], Filesystem] = {}
    for path, signal in paths:
        try:
            device = path.stat().st_dev
            total, _used, free = shutil.disk_usage(path)
        except OSError:
            continue  # a root dir on another host (a remote engine): not ours to measure
        fs = found.get((device, total))
        if fs is None:
            found[device, total] = Filesystem(path, free, total, (signal,))
        elif signal not in fs.signals:
            found[device, total] = Filesystem(fs.path, fs.free, fs.total, (*fs.signals, signal))
    return list(found.values())


class DiskCheck:
    """The disk check of a heartbeat: the free space of ``paths()`` (each with its signal) against
    the node's hard eviction ``thresholds``, measured at most once per ``every`` seconds (0: at every
    call). The fake nodes of one process share one, since their data directories are on one
    filesystem and a thousand identical measurements per beat would tell nothing more."""

    def __init__(self, paths: Callable[[], list[tuple[Path, str]]], thresholds: Thresholds, every: float = 0.0) -> None:
        self._paths, self._thresholds, self._every = paths, thresholds, every
        self._lock = asyncio.Lock()
        self._measured: float | None = None
        self._problem: Problem | None = None
        #: the filesystems under a threshold at the last measurement
        self.short: list[Shortage] = []

    async def problem(self, *, fresh: bool = False) -> Problem | None:
        """DiskPressure's problem now (``fresh``: measured again whenever it was last)."""
        async with self._lock:
            now = time.monotonic()
            if fresh or self._measured is None or now - self._measured >= self._every:
                usage = await asyncio.to_thread(disk_usage, self._paths())
                self.short = shortages(usage, self._thresholds)
                self._problem = disk_pressure(self.short)
                self._measured = now
            return self._problem


class NodeHealth:
    """The current problem of each part. ``on_change(part, problem)`` runs after every change (the
    agent writes the node status and emits the event); ``problem`` is None when the part recovered."""

    def __init__(self, parts: Iterable[Part], on_change: Callable[[Part, Problem | None], None] | None = None) -> None:
        self.parts = list(parts)
        self._problems: dict[Part, Problem] = {}
        self._on_change = on_change

    def watch(self, *parts: Part) -> None:
        """Report these parts' conditions too (the proxy's once the agent knows it runs one)."""
        self.parts.extend(part for part in parts if part not in self.parts)

    def problem(self, part: Part) -> Problem | None:
        return self._problems.get(part)

    def report(self, part: Part, problem: Problem | None) -> None:
        """Record how ``part`` is now; only a change is logged and announced."""
        old = self._problems.get(part)
        if old == problem:
            return
        if problem is None:
            del self._problems[part]
            log.warning("%s recovered: %s", part.value, RULES[part].message_good)
        else:
            self._problems[part] = problem
            log.error("%s: %s (%s)", part.value, problem.message, problem.reason)
        if self._on_change is not None:
            self._on_change(part, problem)

    def conditions(self) -> dict[str, tuple[str, str, str]]:
        """type → (status, reason, message) for every watched part's condition."""
        found = {}
        for part in self.parts:
            rule, problem = RULES[part], self._problems.get(part)
            found[rule.type] = (
                (rule.status_bad, problem.reason, problem.message)
                if problem is not None
                else (rule.status_good, rule.reason_good, rule.message_good)
            )
        return found
