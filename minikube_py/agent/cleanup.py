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
import json
import logging
import os
import shutil
import subprocess
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


@dataclass
class Leftovers:
    """Everything ``pykube cleanup`` would remove, in the order it removes it."""

    containers: list[Container] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # iptables chains, jumps, forwarding rules and routes
    mounts: list[Path] = field(default_factory=list)
    data_dirs: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [*map(str, self.containers), *map(str, self.networks), *self.rules,
                *(f"mount {m}" for m in self.mounts), *(f"data dir {d}" for d in self.data_dirs)]


async def find(*, docker_host: str | None = None, node: str | None = None, network_rules: bool = True,
               data_dirs: Iterable[Path] = (), remove_data: bool = False) -> Leftovers:
    """What is left. ``node`` narrows the Docker part to one node's containers and pod network and
    leaves the host-wide rules alone (they belong to no single node)."""
    found = Leftovers()
    labels = [f"{LABEL_MANAGED}=true"] + ([f"{LABEL_NODE}={node}"] if node else [])
    docker = aiodocker.Docker(url=docker_host or None)
    try:
        listed = await docker._query_json("containers/json",
                                          params={"all": "1", "filters": json.dumps({"label": labels})})
        for item in listed:
            item_labels = item.get("Labels") or {}
            grace = min(MAX_GRACE_SECONDS, int(float(item_labels.get(LABEL_GRACE, "10") or 10)))
            names = item.get("Names") or [item["Id"]]
            found.containers.append(Container(item["Id"], names[0].lstrip("/"), item_labels.get(LABEL_NODE, ""),
                                              item.get("State") == "running", grace))
        networks = await docker._query_json("networks",
                                            params={"filters": json.dumps({"label": [f"{LABEL_MANAGED}=true"]})})
        for net in networks:
            if node and net.get("Name") != network_name(node):
                continue
            subnets = tuple(c["Subnet"] for c in (net.get("IPAM") or {}).get("Config") or [] if c.get("Subnet"))
            found.networks.append(Network(net["Id"], net["Name"], subnets))
    finally:
        await docker.close()
    found.containers.sort(key=lambda c: (c.node, c.name))
    found.networks.sort(key=lambda n: n.name)
    await asyncio.to_thread(_find_on_host, found, network_rules=network_rules and not node,
                            data_dirs=list(data_dirs), remove_data=remove_data)
    return found


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
    """Remove ``found``: containers (stopped with their grace, at most :data:`MAX_GRACE_SECONDS`),
    then the networks they were on, the rules and routes, mounts and data dirs. Returns the failures,
    one line each; what fails does not stop the rest."""
    failures: list[str] = []
    docker = aiodocker.Docker(url=docker_host or None)
    try:
        async def drop(container: Container) -> None:
            try:
                if container.running:
                    async with docker._query(f"containers/{container.id}/stop", method="POST",
                                             params={"t": container.grace}) as resp:
                        await resp.read()
                async with docker._query(f"containers/{container.id}", method="DELETE",
                                         params={"force": "1", "v": "1"}) as resp:
                    await resp.read()
            except aiodocker.DockerError as e:
                if e.status != 404:
                    failures.append(f"{container}: {e.message}")

        await asyncio.gather(*(drop(c) for c in found.containers))
        for network in found.networks:
            try:
                async with docker._query(f"networks/{network.id}", method="DELETE") as resp:
                    await resp.read()
            except aiodocker.DockerError as e:
                if e.status != 404:
                    failures.append(f"{network}: {e.message}")
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
