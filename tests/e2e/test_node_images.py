"""A node's images on a real Docker engine: the node lists them in its status, and when its image
filesystem is past the GC threshold it removes the unused images its pods ran from, as the kubelet's
image garbage collection does, keeping the images a container uses, its pause image and the engine's
other images (the user's own: no pod of the node ran them). The thresholds are set so that the disk
always counts as full (high 1 %, low 0 %) and everything that may go goes: the test does not fill the
host's disk."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import node_server, wait_for
from kubectl_helpers import Kubectl
from support import BUSYBOX_IMAGE, ensure_docker

from minikube_py.agent.runtime.pause import PAUSE_IMAGE

NODE = "pykube-e2e-images"
#: built from the test's busybox, each its own image (id); "foreign" is never run by a pod
IMAGES = {name: f"pykube-e2e/gc-{name}:1" for name in ("old", "kept", "foreign")}


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    ensure_docker()
    for name, image in IMAGES.items():
        dockerfile = f"FROM {BUSYBOX_IMAGE}\nLABEL io.pykube.test=gc-{name}\n"
        subprocess.run(
            ["docker", "build", "-q", "-t", image, "-"],
            input=dockerfile,
            text=True,
            capture_output=True,
            check=True,
            env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    yield IMAGES
    subprocess.run(["docker", "rmi", "-f", *IMAGES.values()], capture_output=True, check=False)


def present(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode == 0


def pod(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "app", "image": image, "imagePullPolicy": "Never", "command": ["sleep", "3600"]}],
        },
    }


def listed(k: Kubectl) -> dict[str, int]:
    """Each name in the node's status.images, with its image's size."""
    entries = k.json("get", "node", NODE)["status"].get("images") or []
    return {name: entry["sizeBytes"] for entry in entries for name in entry["names"]}


def test_unused_images_the_node_ran_are_removed_and_every_other_image_kept(
    tmp_path: Path, images: dict[str, str]
) -> None:
    flags = ("--image-gc-high-threshold", "1", "--image-gc-low-threshold", "0", "--image-gc-minimum-age-seconds", "0")
    with node_server(tmp_path / "data", NODE, *flags, cluster_cidr="10.166.0.0/16") as server:
        k = Kubectl(server, "default")
        for name in ("old", "kept"):
            k.run("apply", "-f", "-", input=json.dumps(pod(name, images[name])))
        for name in ("old", "kept"):
            wait_for(lambda name=name: k.json("get", "pod", name)["status"].get("phase") == "Running", f"{name} runs")
        # the node lists its engine's images, with their sizes (refreshed every 30 s, as the kubelet's cache)
        wait_for(lambda: images["old"] in listed(k), "the node to list its images", timeout=60)
        assert listed(k)[images["kept"]] > 0 and images["foreign"] in listed(k)
        assert present(images["old"])  # in use: kept, though the disk counts as full

        k.run("delete", "pod", "old", "--wait=true")
        wait_for(lambda: not present(images["old"]), "the unused image to be removed", timeout=90)
        for kept in (images["kept"], images["foreign"], BUSYBOX_IMAGE, PAUSE_IMAGE):
            assert present(kept), kept
        wait_for(lambda: images["old"] not in listed(k), "the node to stop listing it", timeout=60)
        # the low threshold (0 %) cannot be reached: the kubelet's warning says how much could go
        events = k.out(
            "get",
            "events",
            "--field-selector",
            f"involvedObject.kind=Node,involvedObject.name={NODE},reason=FreeDiskSpaceFailed",
            "-o",
            "jsonpath={.items[*].message}",
        )
        assert "Failed to garbage collect required amount of images. Attempted to free " in events
        k.run("delete", "pod", "kept", "--wait=true")
