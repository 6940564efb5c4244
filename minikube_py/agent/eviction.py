"""The node's eviction manager (the kubelet's, for memory): at each look at the node it measures the
memory available, reports ``MemoryPressure`` and, while the hard threshold is crossed, ends the pod
the kubelet would end first (see :mod:`minikube_py.model.eviction`), one per look and only once the
previous one has stopped, with the kubelet's events and messages.

Available memory is the node's memory less its working set: the host's (``/proc/meminfo``) when the
node is the whole host, else what its pods' containers use (nodes sharing one machine, the fake
runtime), as :mod:`minikube_py.agent.stats` counts the node for ``kubectl top``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from minikube_py.agent.health import Problem
from minikube_py.agent.pods import PodWorker
from minikube_py.agent.runtime.base import (
    LABEL_CONTAINER_KIND,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_UID,
    Runtime,
)
from minikube_py.agent.stats import host_working_set
from minikube_py.client.events import EventRecorder
from minikube_py.model import eviction

log = logging.getLogger(__name__)

MEMORY_PRESSURE = Problem("KubeletHasInsufficientMemory", "kubelet has insufficient memory available")


class MemoryEviction:
    """One node's memory eviction manager; ``threshold`` None: the node never evicts."""

    def __init__(
        self,
        threshold: eviction.Threshold | None,
        transition: float,
        runtime: Runtime,
        node_name: str,
        *,
        host: bool,
        recorder: EventRecorder,
        node_ref: Callable[[], dict[str, Any]],
    ) -> None:
        self.threshold = threshold
        self._pressure = eviction.Pressure(transition)
        self._runtime, self._node, self._host = runtime, node_name, host
        self._recorder, self._node_ref = recorder, node_ref
        #: whether the last look found the node under pressure (new BestEffort pods are refused meanwhile)
        self.under_pressure = False

    def reserve(self, capacity: int) -> int:
        """The memory the threshold keeps free: not allocatable to pods."""
        return self.threshold.bytes(capacity) if self.threshold is not None else 0

    async def check(self, capacity: int, workers: Iterable[PodWorker]) -> Problem | None:
        """Look at the node once: the MemoryPressure problem (None without pressure), and an eviction
        when the threshold is crossed now."""
        if self.threshold is None:
            return None
        workers = list(workers)
        usage = None  # the pods' use: read for a node that is not the host, else only to rank them
        if self._host:
            working_set = host_working_set(await asyncio.to_thread(Path("/proc/meminfo").read_text))
        else:
            usage = await self._pod_usage()
            working_set = sum(sum(containers.values()) for containers in usage.values())
        available = capacity - working_set
        met = available < self.threshold.bytes(capacity)
        pressure = self.under_pressure = self._pressure.observe(met, time.monotonic())
        if met and not any(w.stopping for w in workers):
            self._evict_one(capacity, available, workers, usage if usage is not None else await self._pod_usage())
        return MEMORY_PRESSURE if pressure else None

    async def _pod_usage(self) -> dict[str, dict[str, int]]:
        """Pod uid -> container name -> working set bytes, of this node's running app containers."""
        found: dict[str, dict[str, int]] = {}
        for reading in await self._runtime.usage({LABEL_NODE: self._node}):
            labels = reading.labels
            if labels.get(LABEL_CONTAINER_KIND) in ("app", "init") and LABEL_POD_UID in labels:
                pod = found.setdefault(labels[LABEL_POD_UID], {})
                pod[labels.get(LABEL_CONTAINER_NAME, "")] = reading.memory
        return found

    def _evict_one(
        self, capacity: int, available: int, workers: list[PodWorker], usage: dict[str, dict[str, int]]
    ) -> None:
        assert self.threshold is not None
        candidates = [
            eviction.PodUse(w.pod, usage.get(w.uid, {}), int((w.pod.get("spec") or {}).get("priority") or 0))
            for w in workers
            if w.active and eviction.evictable(w.pod)
        ]
        self._recorder.emit(self._node_ref(), "Warning", "EvictionThresholdMet", "Attempting to reclaim memory")
        if not candidates:
            log.error("memory pressure on %s and no pod to evict", self._node)
            return
        victim = eviction.rank(candidates)[0]
        why = eviction.message(victim, self.threshold.spelled(capacity), eviction.kibibytes(available))
        log.warning(
            "evicting pod %s/%s: %s", victim.pod["metadata"].get("namespace"), victim.pod["metadata"]["name"], why
        )
        next(w for w in workers if w.pod is victim.pod).evict(why)
