"""The node's resource usage, served to the API server at ``/stats/summary`` (kubelet's path and shape).

Only cumulative counters are reported (``usageCoreNanoSeconds``, ``workingSetBytes``), with the time of
each reading; the API server turns two of them into a rate, so the agent keeps no state and does no
work until asked. Each container also carries its ``containerID``: a restarted container is a new one
whose counter starts again from zero.

The node's own figure is the host's (``/proc/stat``, ``/proc/meminfo``) when the node is the whole
host: a local Docker engine and the host's network namespace. Otherwise (several nodes sharing one
machine in network namespaces, a remote engine, the fake runtime) the host's figures would count the
other nodes too, so ``node`` carries none and the server adds up the node's pods and the agent
process, reported as kubelet reports its own cgroup, a system container.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from minikube_py.agent.runtime.base import (
    LABEL_CONTAINER_KIND,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerUsage,
    Runtime,
)
from minikube_py.model.metrics import working_set
from minikube_py.model.times import rfc3339_micro

Obj = dict[str, Any]
#: the system container that stands for the agent itself (kubelet reports "kubelet" and "runtime")
AGENT_CONTAINER = "pykube-agent"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = resource.getpagesize()


def node_is_host(runtime: str, docker_host: str, proc: Path = Path("/proc")) -> bool:
    """Whether this node's usage is the host's: a local Docker engine, and this process in the host's
    network namespace (that of PID 1). A namespace we may not read is taken as the host's."""
    if runtime != "docker" or (docker_host and not docker_host.startswith("unix://")):
        return False
    try:
        return os.readlink(proc / "self" / "ns" / "net") == os.readlink(proc / "1" / "ns" / "net")
    except OSError:
        return True


def host_usage(proc_stat: str, meminfo: str) -> tuple[int, int]:
    """(CPU nanoseconds busy since boot, memory working set) from ``/proc/stat`` and ``/proc/meminfo``:
    every CPU state but idle and iowait counts as used, and memory in use less the inactive page
    cache is the working set, as cAdvisor computes it for the root cgroup."""
    fields = proc_stat.splitlines()[0].split()
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy * 10**9 // _CLOCK_TICKS, host_working_set(meminfo)


def host_working_set(meminfo: str) -> int:
    """The host's memory working set from ``/proc/meminfo``: memory in use less the inactive page cache."""
    info = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        info[key] = int(rest.split()[0]) * 1024 if rest.split() else 0
    used = info.get("MemTotal", 0) - info.get("MemFree", 0)
    return working_set(used, info.get("Inactive(file)", 0))


def process_usage() -> tuple[int, int]:
    """(CPU nanoseconds, resident bytes) of this process: the agent's own share of its node."""
    with open("/proc/self/statm") as f:
        resident = int(f.read().split()[1]) * _PAGE
    return time.process_time_ns(), resident


def _stats(timestamp: float, cpu_ns: int, memory: int) -> tuple[Obj, Obj]:
    when = rfc3339_micro(datetime.fromtimestamp(timestamp, UTC))
    return {"time": when, "usageCoreNanoSeconds": cpu_ns}, {"time": when, "workingSetBytes": memory}


def summary(
    node_name: str,
    containers: Iterable[ContainerUsage],
    *,
    node: tuple[float, int, int] | None,
    agent: tuple[float, int, int],
) -> Obj:
    """kubelet's Summary (stats/v1alpha1) with cumulative fields: the node (when it is the host), the
    agent as a system container, and each pod's app and init containers (sandboxes are left out, as
    metrics-server leaves out pause containers)."""
    pods: dict[str, Obj] = {}
    for c in containers:
        labels = c.labels
        if labels.get(LABEL_CONTAINER_KIND) == "sandbox" or LABEL_POD_UID not in labels:
            continue
        pod = pods.setdefault(
            labels[LABEL_POD_UID],
            {
                "podRef": {
                    "name": labels.get(LABEL_POD_NAME, ""),
                    "namespace": labels.get(LABEL_POD_NAMESPACE, ""),
                    "uid": labels[LABEL_POD_UID],
                },
                "containers": [],
            },
        )
        cpu, memory = _stats(c.timestamp, c.cpu_ns, c.memory)
        pod["containers"].append(
            {"name": labels.get(LABEL_CONTAINER_NAME, ""), "containerID": c.container_id, "cpu": cpu, "memory": memory}
        )
    cpu, memory = _stats(*agent)
    node_part: Obj = {
        "nodeName": node_name,
        "systemContainers": [{"name": AGENT_CONTAINER, "cpu": cpu, "memory": memory}],
    }
    if node is not None:
        node_part["cpu"], node_part["memory"] = _stats(*node)
    return {"node": node_part, "pods": list(pods.values())}


class NodeStats:
    """What ``/stats/summary`` answers: a fresh reading on every call (the server limits how often)."""

    def __init__(self, runtime: Runtime, node_name: str, *, host: bool) -> None:
        self._runtime = runtime
        self._node_name = node_name
        self._host = host

    async def summary(self) -> Obj:
        containers = await self._runtime.usage({LABEL_NODE: self._node_name})
        node, agent = await asyncio.to_thread(_own_readings, self._host)
        return summary(self._node_name, containers, node=node, agent=agent)


def _own_readings(host: bool) -> tuple[tuple[float, int, int] | None, tuple[float, int, int]]:
    """The host's reading (when the node is the host) and the agent process's, read now (blocking)."""
    now = time.time()
    node = (now, *host_usage(Path("/proc/stat").read_text(), Path("/proc/meminfo").read_text())) if host else None
    return node, (now, *process_usage())
