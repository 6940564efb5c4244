"""``pykube cleanup``: remove what pykube left on this host, as k3s-killall.sh does for k3s.

A stopped agent leaves its pods' containers running (the next start adopts them) and its proxy's
rules and routes in place (traffic flows on through a restart). That is right for a restart and wrong
for a host that is done with a cluster, or that starts a new one whose pod subnet the old pod network
still holds. Everything is found by what pykube marks it with, never by guessing: containers and
Docker networks by the label ``io.pykube.managed=true`` (any node, any cluster), iptables chains by
their ``PYKUBE-`` prefix, forwarding rules by their comment, routes by their protocol number, pod
volume mounts by lying under a data directory. The same listing serves ``--dry-run`` and the removal,
so what the dry run shows is exactly what is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiodocker

from minikube_py.agent.network import network_name
from minikube_py.agent.runtime.base import LABEL_GRACE, LABEL_MANAGED, LABEL_NODE

log = logging.getLogger(__name__)

#: a container's stop grace is its pod's, but no more than this: cleanup should not take minutes
MAX_GRACE_SECONDS = 10


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    node: str
    running: bool
    grace: int

    def __str__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"container {self.name} ({self.id[:12]}, node {self.node or '?'}, {state})"


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    subnets: tuple[str, ...]

    def __str__(self) -> str:
        return f"network {self.name} ({', '.join(self.subnets) or 'no subnet'})"


@dataclass(frozen=True)
class Image:
    id: str
    tags: tuple[str, ...]

    def __str__(self) -> str:
        return f"image {', '.join(self.tags)} ({self.id.removeprefix('sha256:')[:12]})"


@dataclass(frozen=True)
class Process:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"process {self.pid} ({self.command})"


#: images pykube itself put on the engine (the pause image the agent imports, the install scripts'
#: busybox): uninstall removes them, cleanup leaves them (the next cluster needs them)
IMAGE_REPOSITORY = "pykube.local/"


@dataclass
class Leftovers:
    """Everything ``pykube cleanup`` (or ``uninstall``) would remove, in the order it removes it."""

    processes: list[Process] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # iptables chains, jumps, forwarding rules and routes
    mounts: list[Path] = field(default_factory=list)
    data_dirs: list[Path] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            *map(str, self.processes),
            *map(str, self.containers),
            *map(str, self.networks),
            *self.rules,
            *(f"mount {m}" for m in self.mounts),
            *(f"data dir {d}" for d in self.data_dirs),
            *map(str, self.images),
        ]


async def find(
    *,
    docker_host: str | None = None,
    node: str | None = None,
    network_rules: bool = True,
    data_dirs: Iterable[Path] = (),
    remove_data: bool = False,
    uninstall: bool = False,
) -> Leftovers:
    """What is left. ``node`` narrows the Docker part to one node's containers and pod network and
    leaves the host-wide rules alone (they belong to no single node). ``uninstall`` adds the pykube
    servers and agents running on this host and pykube's own images."""
    found = Leftovers()
    if uninstall:
        found.processes = running_processes()
    labels = [f"{LABEL_MANAGED}=true"] + ([f"{LABEL_NODE}={node}"] if node else [])
    docker = aiodocker.Docker(url=docker_host or None)
    try:
        listed = await docker._query_json(
            "containers/json", params={"all": "1", "filters": json.dumps({"label": labels})}
        )
        for item in listed:
            item_labels = item.get("Labels") or {}
            grace = min(MAX_GRACE_SECONDS, int(float(item_labels.get(LABEL_GRACE, "10") or 10)))
            names = item.get("Names") or [item["Id"]]
            found.containers.append(
                Container(
                    item["Id"],
                    names[0].lstrip("/"),
                    item_labels.get(LABEL_NODE, ""),
                    item.get("State") == "running",
                    grace,
                )
            )
        networks = await docker._query_json(
            "networks", params={"filters": json.dumps({"label": [f"{LABEL_MANAGED}=true"]})}
        )
        for net in networks:
            if node and net.get("Name") != network_name(node):
                continue
            subnets = tuple(c["Subnet"] for c in (net.get("IPAM") or {}).get("Config") or [] if c.get("Subnet"))
            found.networks.append(Network(net["Id"], net["Name"], subnets))
        if uninstall:
            for image in await docker._query_json("images/json"):
                tags = tuple(sorted(t for t in image.get("RepoTags") or [] if t.startswith(IMAGE_REPOSITORY)))
                if tags:
                    found.images.append(Image(image["Id"], tags))
    finally:
        await docker.close()
    found.containers.sort(key=lambda c: (c.node, c.name))
    found.networks.sort(key=lambda n: n.name)
    await asyncio.to_thread(
        _find_on_host,
        found,
        network_rules=network_rules and not node,
        data_dirs=list(data_dirs),
        remove_data=remove_data,
    )
    return found


async def report_foreign_objects(docker_host: str, node: str) -> list[str]:
    """At an agent's start: say, once, what other nodes left on its engine (another cluster's pods or
    pod networks, which can hold the subnet this node needs), with the command that removes them.
    Returns the log lines written (none on a clean engine)."""
    try:
        found = await find(docker_host=docker_host, network_rules=False)
    except Exception as e:  # the engine is down: the node's conditions say so already
        log.debug("cannot look for other clusters' leftovers: %s", e)
        return []
    own = network_name(node)
    nodes = sorted(
        {c.node for c in found.containers if c.node != node}
        | {n.name.removeprefix("pykube-") for n in found.networks if n.name != own}
    )
    lines = []
    for other in nodes:
        containers = sum(1 for c in found.containers if c.node == other)
        networks = [n for n in found.networks if n.name == network_name(other)]
        held = "".join(f", pod network {n.name} on {', '.join(n.subnets)}" for n in networks)
        lines.append(
            f"this Docker engine holds what pykube node {other} left: {containers} "
            f"container{'s' if containers != 1 else ''}{held}; if that node's cluster is gone, "
            f"run `pykube cleanup --node {other}` (add --dry-run to see the list first)"
        )
    for line in lines:
        log.warning("%s", line)
    return lines


def running_processes(proc: Path = Path("/proc")) -> list[Process]:
    """``pykube server`` and ``pykube agent`` processes on this host (found by their command lines),
    other than this one: an uninstall stops them first, as k3s-killall.sh does."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        words = [a.decode(errors="replace") for a in argv if a]
        if is_pykube_daemon(words):
            found.append(Process(int(entry.name), " ".join(words)[:200]))
    return sorted(found, key=lambda p: p.pid)


def is_pykube_daemon(argv: list[str]) -> bool:
    """Whether a command line runs ``pykube server|agent`` (the installed command or the module)."""
    for i, word in enumerate(argv[:-1]):
        if (word == "minikube_py.cli.main" or Path(word).name == "pykube") and argv[i + 1] in ("server", "agent"):
            return True
    return False


def stop_processes(processes: Iterable[Process], timeout: float = 30.0) -> list[str]:
    """SIGTERM each process (its agent leaves or, with --drain-on-stop, stops its pods), then SIGKILL
    what is still there after ``timeout``. Returns the failures, a line each."""
    pending = {p.pid: p for p in processes}
    failures: list[str] = []
    for process in list(pending.values()):
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pending.pop(process.pid)
        except OSError as e:
            failures.append(f"{process}: {e}")
            pending.pop(process.pid)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for pid in [pid for pid in pending if not _alive(pid)]:
            pending.pop(pid)
        time.sleep(0.1)
    for process in pending.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    return failures


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has stopped
    except OSError:
        return False


def _find_on_host(found: Leftovers, *, network_rules: bool, data_dirs: list[Path], remove_data: bool) -> None:
    if network_rules:
        from minikube_py.netproxy.proxy import leftovers

        try:
            found.rules = leftovers()
        except Exception as e:  # no libiptc or no privileges: say so, still clean the rest
            log.warning("cannot list the proxy's rules and routes: %s", e)
    dirs = [Path(d).absolute() for d in data_dirs]
    found.mounts = mounts_under(dirs, _mount_points())
    if remove_data:
        found.data_dirs = [d for d in dirs if d.exists()]


def _mount_points() -> list[str]:
    try:
        with open("/proc/self/mounts") as f:
            # octal escapes (\040 for a space) as the kernel writes them
            return [line.split()[1].encode().decode("unicode_escape") for line in f if line.strip()]
    except OSError:
        return []


def mounts_under(dirs: Iterable[Path], mount_points: Iterable[str]) -> list[Path]:
    """Mounts (pod tmpfs volumes) below any of ``dirs``, deepest first so that they unmount in order."""
    found = []
    for point in mount_points:
        path = Path(point)
        if any(path != d and path.is_relative_to(d) for d in dirs):
            found.append(path)
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


async def remove(found: Leftovers, *, docker_host: str | None = None) -> list[str]:
    """Remove ``found``: pykube's processes first (nothing may restart what goes), containers (stopped
    with their grace, at most :data:`MAX_GRACE_SECONDS`), the networks they were on, images, the rules
    and routes, mounts and data dirs. Returns the failures, one line each; what fails does not stop
    the rest."""
    failures = await asyncio.to_thread(stop_processes, found.processes)
    docker = aiodocker.Docker(url=docker_host or None)

    async def engine(what: object, path: str, method: str = "DELETE", **params: str | int) -> bool:
        """One request to the engine about ``what``: whether it was done. A 404 means that ``what`` is
        gone already, which is what removing wants; any other failure goes to ``failures``."""
        try:
            async with docker._query(path, method=method, params=params) as resp:
                await resp.read()
            return True
        except aiodocker.DockerError as e:
            if e.status != 404:
                failures.append(f"{what}: {e.message}")
            return False

    async def drop(container: Container) -> None:
        path = f"containers/{container.id}"
        if not container.running or await engine(container, f"{path}/stop", "POST", t=container.grace):
            await engine(container, path, force="1", v="1")

    try:
        await asyncio.gather(*(drop(c) for c in found.containers))
        for network in found.networks:
            await engine(network, f"networks/{network.id}")
        for image in found.images:
            # by tag: an image that also carries another project's tag keeps it (and stays)
            for tag in image.tags:
                await engine(image, f"images/{tag}")
    finally:
        await docker.close()
    await asyncio.to_thread(_remove_on_host, found, failures)
    return failures


def _remove_on_host(found: Leftovers, failures: list[str]) -> None:
    if found.rules:
        from minikube_py.netproxy.proxy import cleanup

        try:
            cleanup()
        except Exception as e:
            failures.append(f"iptables rules and routes: {e}")
    for mount in found.mounts:
        done = subprocess.run(["umount", str(mount)], capture_output=True, text=True, check=False)
        if done.returncode != 0 and os.path.ismount(mount):
            failures.append(f"mount {mount}: {done.stderr.strip()}")
    for data_dir in found.data_dirs:
        try:
            shutil.rmtree(data_dir)
        except OSError as e:
            failures.append(f"data dir {data_dir}: {e}")
