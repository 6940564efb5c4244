"""Image garbage collection: the kubelet's thresholds and order (pure), the node status' image list,
and the node's collector over the fake runtime: only images the node ran pods from go, never one a
container uses, the pause image, or one the node never used; what it used survives a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikube_py.agent import imagegc as collector_module
from minikube_py.agent.imagegc import ImageCollector
from minikube_py.agent.runtime.base import LABEL_NODE, ContainerSpec
from minikube_py.agent.runtime.fake import FakeRuntime
from minikube_py.model import imagegc
from minikube_py.model.imagegc import Policy, Record

MI = 1 << 20


def test_collection_starts_at_the_high_threshold_and_frees_down_to_the_low_one() -> None:
    policy = Policy(high=85, low=80)
    assert policy.to_free(100 * MI, 16 * MI) == 0  # 84 % used
    assert policy.to_free(100 * MI, 15 * MI) == 5 * MI  # 85 %: down to 80 %
    assert policy.to_free(100 * MI, 2 * MI) == 18 * MI
    assert Policy(high=100, low=80).to_free(100 * MI, 0) == 0  # 100: never
    assert policy.to_free(0, 0) == 0
    assert Policy().problems() == []
    assert Policy(high=101, low=-1, min_age=-1).problems() == [
        "image_gc.high_threshold: must be between 0 and 100, got 101",
        "image_gc.low_threshold: must be between 0 and 100, got -1",
        "image_gc.minimum_age_seconds: must not be negative, got -1",
    ]
    assert Policy(high=70, low=80).problems() == [
        "image_gc.low_threshold: must not be greater than image_gc.high_threshold (70)"
    ]


def test_the_least_recently_used_image_goes_first_and_used_pinned_young_or_foreign_ones_stay() -> None:
    now = 10_000.0
    records = {
        "recent": Record(MI, first_detected=100, last_used=9_000),
        "old": Record(MI, first_detected=500, last_used=1_000),
        "older-seen": Record(MI, first_detected=50, last_used=1_000),  # same use: the first seen first
        "running": Record(MI, first_detected=100, last_used=now),
        "pause": Record(MI, first_detected=100, last_used=1),
        "young": Record(MI, first_detected=now - 60, last_used=now - 60),
        "users-own": Record(MI, first_detected=100),  # no pod of the node used it
    }
    order = imagegc.removal_order(records, in_use={"running"}, pinned={"pause"}, now=now, min_age=120)
    assert order == ["older-seen", "old", "recent"]
    assert imagegc.removal_order(records, {"running"}, {"pause"}, now, min_age=0)[-1] == "young"


def test_the_status_lists_the_largest_images_first_with_five_names_each() -> None:
    images = [((f"img{i}:1",), i * MI) for i in range(60)]
    images.append((("reg/app@sha256:ab", *(f"reg/app:v{i}" for i in range(7))), 100 * MI))
    listed = imagegc.status_images(images)
    assert len(listed) == 50
    assert listed[0] == {
        "names": ["reg/app@sha256:ab", "reg/app:v0", "reg/app:v1", "reg/app:v2", "reg/app:v3"],
        "sizeBytes": 100 * MI,
    }
    assert [entry["sizeBytes"] for entry in listed[1:3]] == [59 * MI, 58 * MI]
    assert imagegc.failure_message(10, 4) == (
        "Failed to garbage collect required amount of images. "
        "Attempted to free 10 bytes, but only found 4 bytes eligible to free."
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def emit(self, _obj: Any, kind: str, reason: str, message: str) -> None:
        self.events.append((kind, reason, message))


async def run(runtime: FakeRuntime, image: str) -> str:
    """A node's container of ``image``; its id."""
    spec = ContainerSpec(name=image.replace(":", "-"), image=image, labels={LABEL_NODE: "n1"})
    return await runtime.create_container(spec)


async def test_the_node_removes_only_unused_images_its_pods_ran_and_remembers_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector_module, "REFRESH_SECONDS", 0.0)
    runtime = FakeRuntime()
    names = ("old:1", "running:1", "pause:1", "users:1", "adopted:1")
    ids = {name: await runtime.pull_image(name, None) for name in names}
    recorder = Recorder()

    def collector() -> ImageCollector:
        # high 0, low 0: the filesystem is always "full" and everything that may go goes
        return ImageCollector(
            runtime,
            Policy(high=0, low=0, min_age=0),
            tmp_path,
            "n1",
            recorder=recorder,
            node_ref=dict,  # type: ignore[arg-type]
        )

    images = collector()
    images.pin(ids["pause:1"])
    for name in ("old:1", "running:1", "pause:1"):
        images.used(ids[name])
    old = await run(runtime, "old:1")
    await run(runtime, "running:1")
    adopted = await run(runtime, "adopted:1")  # a container of the node's it did not create this time
    await images.check(tmp_path)
    assert {entry["names"][0] for entry in images.status_images()} == set(names)
    assert recorder.events[-1][:2] == ("Warning", "FreeDiskSpaceFailed")  # nothing could go yet

    for gone in (old, adopted):  # the pods are gone: their images are unused now
        await runtime.remove_container(gone)
    restarted = collector()  # what the node used is kept in its data directory
    restarted.pin(ids["pause:1"])
    await restarted.check(tmp_path)
    assert await runtime.image_id("old:1") is None and await runtime.image_id("adopted:1") is None
    for kept in ("running:1", "pause:1", "users:1"):
        assert await runtime.image_id(kept) is not None
    assert {entry["names"][0] for entry in restarted.status_images()} == {"running:1", "pause:1", "users:1"}
    assert ids["old:1"] not in (tmp_path / collector_module.USED_FILE).read_text()
