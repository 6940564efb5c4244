"""The node's local storage limits (the kubelet's ``localStorageEviction``): at each look at the node,
every running pod with an emptyDir ``sizeLimit`` or an ``ephemeral-storage`` limit is measured, and one
that wrote more than it may is evicted with the kubelet's message (see
:mod:`minikube_py.model.localstorage`). Pods without such limits are never measured, so they cost
nothing here.

What a pod writes: the bytes in the blocks of its disk-backed emptyDirs (as ``du`` counts them), and
each running container's writable layer and log as its engine reports them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from pathlib import Path

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
from minikube_py.model import eviction, localstorage

log = logging.getLogger(__name__)


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

    def __init__(self, runtime: Runtime, node_name: str, volumes: VolumeManager) -> None:
        self._runtime, self._node, self._volumes = runtime, node_name, volumes
        #: each pod's limits by uid, worked out once (a pod's resources and volumes do not change)
        self._limits: dict[str, localstorage.StorageLimits] = {}

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
            try:
                use = await self._measure(worker)
            except RuntimeFailure as e:  # the engine is down: the node's Ready condition says so
                log.debug("cannot measure pod %s: %s", worker.uid, e)
                continue
            why = localstorage.exceeded(limits, use)
            if why is not None:
                md = worker.pod["metadata"]
                log.warning("evicting pod %s/%s: %s", md.get("namespace"), md["name"], why)
                worker.evict(why)

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
