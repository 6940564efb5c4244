"""The node's images (the kubelet's image manager and image GC manager): what its engine holds, for
the node status' ``images``, and their garbage collection when the image filesystem fills (see
:mod:`minikube_py.model.imagegc` for the rules).

The images are listed again at most every 30 s, as the kubelet refreshes its image cache; collection
is checked at each listing. The ids of the images the node ran a pod's container from (or found its
containers using) are kept in its data directory, so an image the node pulled is still its own to
remove after a restart; when each was last used is known only from the node's start on, as on the
kubelet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minikube_py import pki
from minikube_py.agent.runtime.base import LABEL_NODE, Image, Runtime, RuntimeFailure
from minikube_py.client.events import EventRecorder
from minikube_py.model import imagegc

log = logging.getLogger(__name__)

#: how often the engine's images are listed again (the kubelet's image cache period)
REFRESH_SECONDS = 30.0
#: the file in the node's data directory naming the images its pods used
USED_FILE = "images-used.json"


class ImageCollector:
    """One node's images: listed for its status, and removed when its image filesystem fills."""

    def __init__(
        self,
        runtime: Runtime,
        policy: imagegc.Policy,
        data_dir: Path,
        node_name: str,
        *,
        recorder: EventRecorder,
        node_ref: Callable[[], dict[str, Any]],
    ) -> None:
        self.policy = policy
        self._runtime, self._node, self._file = runtime, node_name, data_dir / USED_FILE
        self._recorder, self._node_ref = recorder, node_ref
        self._records: dict[str, imagegc.Record] = {}
        self._images: dict[str, Image] = {}
        self._pinned: set[str] = set()
        self._in_use: set[str] = set()
        self._listed: float | None = None
        started = time.time()
        self._used: dict[str, float] = dict.fromkeys(self._read_used(), started)

    def _read_used(self) -> list[str]:
        try:
            found = json.loads(self._file.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            log.warning("ignoring %s: %s", self._file, e)
            return []
        return [str(image_id) for image_id in found] if isinstance(found, list) else []

    def pin(self, image_id: str) -> None:
        """An image the node needs for itself (the pause image): never removed."""
        self._pinned.add(image_id)

    def used(self, image_id: str) -> None:
        """A pod's container is created from this image now."""
        new = image_id not in self._used
        self._used[image_id] = time.time()
        if new:
            self._save()

    def _save(self) -> None:
        pki.write_file(self._file, json.dumps(sorted(self._used)).encode(), mode=0o644)

    def status_images(self) -> list[dict[str, Any]]:
        """The node status' ``images``, from the last listing."""
        return imagegc.status_images((image.digests + image.tags, image.size) for image in self._images.values())

    async def check(self, filesystem: Path | None) -> None:
        """List the images again when due, then collect on ``filesystem`` (the engine's data root on
        this host; None: not measurable here, nothing is collected) if it is past the threshold."""
        now = time.monotonic()
        if self._listed is not None and now - self._listed < REFRESH_SECONDS:
            return
        self._listed = now
        try:
            await self._list()
            if filesystem is not None:
                total, _used, free = await asyncio.to_thread(shutil.disk_usage, filesystem)
                wanted = self.policy.to_free(total, free)
                if wanted > 0:
                    await self._collect(wanted)
        except (RuntimeFailure, OSError) as e:  # an engine that is down is the Ready condition's news
            log.debug("image check skipped: %s", e)

    async def free_all(self) -> int:
        """Remove every image that may go (the eviction manager's reclaim under disk pressure); the
        bytes freed."""
        try:
            await self._list()
            return await self._remove(math.inf)
        except (RuntimeFailure, OSError) as e:
            log.debug("image reclaim skipped: %s", e)
            return 0

    async def _list(self) -> None:
        images = await self._runtime.list_images()
        now = time.time()
        self._images = {image.id: image for image in images}
        in_use = await self._runtime.images_in_use({LABEL_NODE: self._node}) & self._images.keys()
        # what the node's containers use is the node's (those it adopted after a restart too); an
        # image gone from the engine (removed by hand) is forgotten
        known = set(self._used)
        gone = known - self._images.keys()
        for image_id in gone:
            del self._used[image_id]
        self._used.update(dict.fromkeys(in_use, now))
        if gone or in_use - known:
            self._save()
        self._records = {
            image.id: imagegc.Record(
                image.size,
                old.first_detected if (old := self._records.get(image.id)) else now,
                self._used.get(image.id, 0.0),
            )
            for image in images
        }
        self._in_use = in_use

    async def _collect(self, wanted: int) -> None:
        log.info("image filesystem past %d%% used: freeing %d bytes", self.policy.high, wanted)
        freed = await self._remove(wanted)
        if freed < wanted:
            message = imagegc.failure_message(wanted, freed)
            log.warning("%s", message)
            self._recorder.emit(self._node_ref(), "Warning", "FreeDiskSpaceFailed", message)

    async def _remove(self, wanted: float) -> int:
        """Remove images in the kubelet's order until ``wanted`` bytes are freed; the bytes freed."""
        order = imagegc.removal_order(self._records, self._in_use, self._pinned, time.time(), self.policy.min_age)
        freed = 0
        for image_id in order:
            if freed >= wanted:
                break
            image = self._images[image_id]
            if not await self._runtime.remove_image(image):
                continue  # a container of someone else's uses it
            freed += image.size
            log.info("removed image %s (%s, %d bytes)", image_id, ", ".join(image.tags) or "no tag", image.size)
            del self._images[image_id], self._records[image_id]
            self._used.pop(image_id, None)
            self._save()
        return freed
