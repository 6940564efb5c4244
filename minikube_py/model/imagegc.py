"""Image garbage collection, the kubelet's image GC manager's rules: when the image filesystem is used
past ``--image-gc-high-threshold`` percent (85), unused images are removed, least recently used
first, until it is back at ``--image-gc-low-threshold`` (80); an image first seen less than
``--image-minimum-gc-age`` (2 minutes) ago is kept, so a pull is not undone before its pod starts.

pykube's one difference: only images the node ran a pod's container from are candidates. The
kubelet owns its runtime's image store; pykube's node often shares a Docker engine with its user,
whose own images are not the cluster's to remove.

Also here: the node status' ``images`` list, as the kubelet's setter makes it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

#: the kubelet's defaults
HIGH_THRESHOLD = 85
LOW_THRESHOLD = 80
MINIMUM_AGE = 120.0
#: how many images a node lists in its status (kubelet's --node-status-max-images) and names per image
STATUS_MAX_IMAGES = 50
STATUS_MAX_NAMES = 5


@dataclass(frozen=True)
class Policy:
    """When to collect (``high`` percent used; 100 never), down to what (``low``), and the youngest
    image that may go (``min_age`` seconds since first seen)."""

    high: int = HIGH_THRESHOLD
    low: int = LOW_THRESHOLD
    min_age: float = MINIMUM_AGE

    def problems(self) -> list[str]:
        """What the kubelet's configuration validation says of these values (named as the settings)."""
        found = [
            f"{name}: must be between 0 and 100, got {value}"
            for name, value in (("image_gc.high_threshold", self.high), ("image_gc.low_threshold", self.low))
            if not 0 <= value <= 100
        ]
        if self.low > self.high:
            found.append(f"image_gc.low_threshold: must not be greater than image_gc.high_threshold ({self.high})")
        if self.min_age < 0:
            found.append(f"image_gc.minimum_age_seconds: must not be negative, got {self.min_age}")
        return found

    def to_free(self, capacity: int, available: int) -> int:
        """The bytes to free from a filesystem of ``capacity`` with ``available`` free: none below
        the high threshold, else enough to reach the low one (the kubelet's whole-percent arithmetic)."""
        if capacity <= 0 or self.high >= 100:
            return 0
        used_percent = 100 - available * 100 // capacity
        if used_percent < self.high:
            return 0
        return max(capacity * (100 - self.low) // 100 - available, 0)


@dataclass(frozen=True)
class Record:
    """What the node knows of one image: its size, when it was first seen and last used by a pod's
    container (0: never, so not the node's to remove)."""

    size: int
    first_detected: float
    last_used: float = 0.0


def removal_order(
    records: Mapping[str, Record], in_use: Collection[str], pinned: Collection[str], now: float, min_age: float
) -> list[str]:
    """The images that may go, in the order they go: unused, not pinned, a pod's once, old enough;
    least recently used first, then the first seen first."""
    candidates = [
        image_id
        for image_id, record in records.items()
        if record.last_used
        and image_id not in in_use
        and image_id not in pinned
        and now - record.first_detected >= min_age
    ]
    return sorted(candidates, key=lambda i: (records[i].last_used, records[i].first_detected, i))


def failure_message(wanted: int, freed: int) -> str:
    """The kubelet's FreeDiskSpaceFailed event: it could not free what the low threshold asks for."""
    return (
        "Failed to garbage collect required amount of images. "
        f"Attempted to free {wanted} bytes, but only found {freed} bytes eligible to free."
    )


def status_images(images: Iterable[tuple[tuple[str, ...], int]]) -> list[Obj]:
    """``status.images`` from (names, size) of each image: the largest first, at most 50, each with
    at most 5 names (digests before tags, as the kubelet lists them)."""
    ordered = sorted(images, key=lambda image: -image[1])[:STATUS_MAX_IMAGES]
    return [{"names": list(names[:STATUS_MAX_NAMES]), "sizeBytes": size} for names, size in ordered]
