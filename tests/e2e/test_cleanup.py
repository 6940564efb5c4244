"""``pykube cleanup`` against the real Docker engine: what the dry run lists is exactly what goes.

The host is shared with other tests that run clusters of their own, so the removals here are narrowed
with ``--node`` to a node this test invents; the unnarrowed dry run is harmless and must list it too.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import BUSYBOX_IMAGE, ensure_docker

from minikube_py.agent.cleanup import Image, Leftovers, remove
from minikube_py.testing import eventually as wait_for
from minikube_py.testing import remove_node_containers

NODE = "pykube-e2e-cleanup"
NETWORK = f"pykube-{NODE}"
SUBNET = "10.251.0.0/24"  # used by no other test


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def pykube(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", "cleanup", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def forget() -> None:
    remove_node_containers(NODE)
    docker("network", "rm", NETWORK, check=False)


@pytest.fixture
def leftovers() -> Iterator[tuple[str, str]]:
    """A stopped cluster's node as it stays behind: a running pod container on its pod network."""
    ensure_docker()
    forget()
    docker("network", "create", "--label", "io.pykube.managed=true", "--subnet", SUBNET, NETWORK)
    container = docker(
        "run",
        "-d",
        "--name",
        f"{NODE}-pod",
        "--network",
        NETWORK,
        "--label",
        "io.pykube.managed=true",
        "--label",
        f"io.pykube.node={NODE}",
        "--label",
        "io.pykube.pod.termination-grace=1",
        BUSYBOX_IMAGE,
        "sleep",
        "3600",
    )
    yield container, docker("network", "inspect", "-f", "{{.Id}}", NETWORK)
    forget()


def test_dry_run_lists_and_cleanup_removes_a_nodes_containers_and_network(leftovers: tuple[str, str]) -> None:
    container, _ = leftovers
    wanted = [
        f"would remove container {NODE}-pod ({container[:12]}, node {NODE}, running)",
        f"would remove network {NETWORK} ({SUBNET})",
    ]
    everything = pykube("--dry-run")
    assert everything.returncode == 0, everything.stderr
    assert set(wanted) <= set(everything.stdout.splitlines())
    narrowed = pykube("--dry-run", "--node", NODE)
    assert narrowed.returncode == 0 and narrowed.stdout.splitlines() == wanted, narrowed.stdout + narrowed.stderr
    assert docker("ps", "-q", "--filter", f"id={container}") != ""  # a dry run removes nothing

    done = pykube("--node", NODE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [line.replace("would remove", "removed") for line in wanted]
    assert docker("ps", "-aq", "--filter", f"label=io.pykube.node={NODE}") == ""
    assert docker("network", "ls", "-q", "--filter", f"name=^{NETWORK}$") == ""
    assert pykube("--dry-run", "--node", NODE).stdout.strip() == "nothing of pykube's is left on this host"


def test_all_unmounts_pod_volumes_and_removes_the_data_dir(tmp_path: Path) -> None:
    ensure_docker()
    data = tmp_path / "data"
    volume = data / "agent" / "pods" / "uid-1" / "volumes" / "empty-dir" / "cache"
    volume.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(volume)], check=True)
    try:
        (volume / "file").write_text("x")
        dry = pykube("--dry-run", "--all", "--node", NODE, "--data-dir", str(data))
        assert dry.stdout.splitlines() == [f"would remove mount {volume}", f"would remove data dir {data}"], dry.stderr
        assert os.path.ismount(volume)
        done = pykube("--all", "--node", NODE, "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
        assert not os.path.ismount(volume) and not data.exists()
    finally:
        if os.path.ismount(volume):
            subprocess.run(["umount", str(volume)], check=False)


def uninstall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", "uninstall", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_uninstall_lists_processes_containers_data_and_images_and_removes_images(
    leftovers: tuple[str, str], tmp_path: Path
) -> None:
    """The dry run names everything an uninstall removes; the whole uninstall would stop the other tests'
    clusters on this host, so the removal is checked here for what cleanup does not cover: images."""
    container, _ = leftovers
    image = "pykube.local/uninstall-probe:1"
    docker("tag", BUSYBOX_IMAGE, image)
    data = tmp_path / "data"
    data.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "minikube_py.cli.main", "agent"])
    try:

        def listed() -> list[str] | None:
            dry = uninstall("--dry-run", "--data-dir", str(data))
            assert dry.returncode == 0, dry.stderr
            lines = dry.stdout.splitlines()
            return lines if any(line.startswith(f"would remove process {sleeper.pid} (") for line in lines) else None

        lines = wait_for(listed, "the running agent in the list", timeout=10)
        image_id = docker("image", "inspect", "-f", "{{.Id}}", image).removeprefix("sha256:")[:12]
        for wanted in (
            f"would remove container {NODE}-pod ({container[:12]}, node {NODE}, running)",
            f"would remove network {NETWORK} ({SUBNET})",
            f"would remove data dir {data}",
        ):
            assert wanted in lines
        assert any(line.startswith("would remove image ") and image in line and image_id in line for line in lines)
        assert lines.index(next(line for line in lines if "process" in line)) == 0  # stopped before anything goes
        assert sleeper.poll() is None and data.exists()  # the dry run changed nothing

        probe = Image(docker("image", "inspect", "-f", "{{.Id}}", image), (image,))
        failures = asyncio.run(remove(Leftovers(images=[probe])))
        assert failures == [] and docker("images", "-q", image) == ""
        assert docker("images", "-q", BUSYBOX_IMAGE) != ""  # a tag removed, not the image others use
    finally:
        sleeper.kill()
        sleeper.wait()
        docker("rmi", image, check=False)
