"""The storage side of the node's eviction manager.

- Local storage limits (the kubelet's ``localStorageEviction``): at each look at the node, every
  running pod with an emptyDir ``sizeLimit`` or an ``ephemeral-storage`` limit is measured, and one
  that wrote more than it may is evicted with the kubelet's message (see
  :mod:`minikube_py.model.localstorage`). Pods without such limits are never measured then.
- Disk pressure: while a filesystem of the node is short of free space, the node first removes its
  unused images, and if that is not enough, evicts the pod the kubelet would rank first (every
  running pod is measured then).

What a pod writes: the bytes in the blocks of its disk-backed emptyDirs (as ``du`` counts them), and
each running container's writable layer and log as its engine reports them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from minikube_py.agent.health import DiskCheck, Shortage
from minikube_py.agent.imagegc import ImageCollector
from minikube_py.agent.pods import PodWorker
from minikube_py.agent.runtime.base import (
    LABEL_CONTAINER_KIND,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_UID,
    Runtime,
    RuntimeFailure,
)
from minikube_py.agent.volumes import VolumeManager
from minikube_py.client.events import EventRecorder
from minikube_py.model import eviction, localstorage

log = logging.getLogger(__name__)

#: the kubelet's eviction monitoring interval: at most one act on disk pressure per this many seconds
RELIEF_INTERVAL = 10.0


def used_bytes(path: Path) -> int:
    """The bytes in the blocks of everything below ``path`` (``du``'s count: a sparse file counts
    what it holds, not its length), not following links; 0 for a path that is not there."""
    total = 0
    pending = [path]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
                    except OSError:
                        continue  # removed while counted
        except OSError:
            continue
    return total


class LocalStorageEviction:
    """One node's enforcement of its pods' local storage limits."""

    def __init__(
        self,
        runtime: Runtime,
        node_name: str,
        volumes: VolumeManager,
        *,
        recorder: EventRecorder,
        node_ref: Callable[[], dict[str, Any]],
    ) -> None:
        self._runtime, self._node, self._volumes = runtime, node_name, volumes
        self._recorder, self._node_ref = recorder, node_ref
        #: each pod's limits by uid, worked out once (a pod's resources and volumes do not change)
        self._limits: dict[str, localstorage.StorageLimits] = {}
        self._last_relief: float | None = None  # when disk pressure was last acted on (monotonic)

    async def check(self, workers: Iterable[PodWorker]) -> None:
        """Measure each running pod that has limits, and evict those past one."""
        workers = list(workers)
        known = {worker.uid for worker in workers}
        for uid in self._limits.keys() - known:
            del self._limits[uid]
        for worker in workers:
            limits = self._limits.get(worker.uid)
            if limits is None:
                limits = self._limits[worker.uid] = localstorage.limits(worker.pod)
            if not limits or not worker.active or not eviction.evictable(worker.pod):
                continue
            use = await self._measured(worker)
            why = localstorage.exceeded(limits, use) if use is not None else None
            if why is not None:
                _evict(worker, why)

    async def relieve(self, workers: Iterable[PodWorker], disk: DiskCheck, images: ImageCollector | None) -> None:
        """The kubelet's answer to disk pressure (``disk`` found the node short): reclaim what the
        node keeps for itself (its unused images), and only when the disk is still short, evict the
        pod the kubelet would: those writing more than they requested first, then lower priority,
        then the most beyond the request. The caller lets one eviction end before the next; and as
        the kubelet's eviction manager looks every 10 s, pressure is acted on at most that often, so
        what an eviction freed is measured before the next one."""
        now = time.monotonic()
        if self._last_relief is not None and now - self._last_relief < RELIEF_INTERVAL:
            return
        self._last_relief = now
        self._recorder.emit(
            self._node_ref(), "Warning", "EvictionThresholdMet", "Attempting to reclaim ephemeral-storage"
        )
        if images is not None and await images.free_all() > 0 and await disk.problem(fresh=True) is None:
            log.info("disk pressure on %s relieved by removing unused images, without evicting pods", self._node)
            return
        if disk.short:
            await self._evict_largest(workers, disk.short[0])

    async def _evict_largest(self, workers: Iterable[PodWorker], short: Shortage) -> None:
        workers = [w for w in workers if w.active and eviction.evictable(w.pod)]
        candidates = []
        for worker in workers:
            use = await self._measured(worker)
            if use is None:
                continue
            priority = int((worker.pod.get("spec") or {}).get("priority") or 0)
            candidates.append(
                eviction.PodUse(
                    worker.pod, dict(use.containers), priority, localstorage.RESOURCE, sum(use.volumes.values())
                )
            )
        if not candidates:
            log.error("disk pressure on %s and no pod to evict", self._node)
            return
        victim = eviction.rank(candidates)[0]
        worker = next(w for w in workers if w.pod is victim.pod)
        fs = short.filesystem
        _evict(worker, eviction.disk_message(victim, short.threshold, fs.total, fs.free))

    async def _measured(self, worker: PodWorker) -> localstorage.StorageUse | None:
        """What the pod keeps on disk; None while the engine does not answer (the node's Ready
        condition tells that)."""
        try:
            return await self._measure(worker)
        except RuntimeFailure as e:
            log.debug("cannot measure pod %s: %s", worker.uid, e)
            return None

    async def _measure(self, worker: PodWorker) -> localstorage.StorageUse:
        pod = worker.pod
        disk_backed = [
            volume["name"]
            for volume in (pod.get("spec") or {}).get("volumes") or []
            if isinstance(volume.get("emptyDir"), dict) and volume["emptyDir"].get("medium") != "Memory"
        ]
        paths = [self._volumes.empty_dir(pod, name) for name in disk_backed]
        sizes = await asyncio.to_thread(lambda: [used_bytes(path) for path in paths])
        running = [
            state
            for state in await self._runtime.list_containers({LABEL_POD_UID: worker.uid, LABEL_NODE: self._node})
            if state.running and state.labels.get(LABEL_CONTAINER_KIND) in ("app", "init")
        ]
        written = await asyncio.gather(*(self._runtime.disk_usage(state.id) for state in running))
        return localstorage.StorageUse(
            dict(zip(disk_backed, sizes, strict=True)),
            {state.labels.get(LABEL_CONTAINER_NAME, ""): size for state, size in zip(running, written, strict=True)},
        )


def _evict(worker: PodWorker, why: str) -> None:
    md = worker.pod["metadata"]
    log.warning("evicting pod %s/%s: %s", md.get("namespace"), md["name"], why)
    worker.evict(why)
