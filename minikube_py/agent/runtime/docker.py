"""The Docker runtime: the agent's container operations through the Engine API (aiodocker).

Only Docker's own API is used (no `docker` CLI), so the agent works against any engine it can reach,
local or through ``--docker-host``. Engine errors are turned into the runtime exceptions of
:mod:`.base` with Docker's message kept, because that message is what users see in pod status.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import logging
import os
import platform
import struct
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp

from minikube_py.agent.runtime import cgroups
from minikube_py.agent.runtime.base import (
    LABEL_MANAGED,
    LABEL_NODE,
    SECCOMP_LOCALHOST_PREFIX,
    SECCOMP_UNCONFINED,
    ContainerNotFound,
    ContainerSpec,
    ContainerState,
    ContainerUsage,
    CreateError,
    ExecResult,
    Image,
    ImageNotPresent,
    ImagePullError,
    LogOptions,
    MachineInfo,
    NetworkConflict,
    RegistryAuth,
    RuntimeEvent,
    RuntimeFailure,
    no_runtime,
)
from minikube_py.model.metrics import working_set
from minikube_py.model.selectors import dns1123_label_errors

log = logging.getLogger(__name__)

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def _time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times with nanoseconds; its zero time means "never"."""
    if not value or value.startswith("0001-"):
        return None
    head, _, rest = value.partition(".")
    if not rest:
        return datetime.fromisoformat(head.rstrip("Z")).replace(tzinfo=UTC)
    return datetime.fromisoformat(head).replace(tzinfo=UTC)


def _state(info: Mapping[str, Any]) -> ContainerState:
    state = info.get("State") or {}
    config = info.get("Config") or {}
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "")
    return ContainerState(
        id=info["Id"],
        name=info.get("Name", "").lstrip("/"),
        labels=config.get("Labels") or {},
        image=config.get("Image", ""),
        image_id=info.get("Image", ""),
        status=state.get("Status", "created"),
        exit_code=state.get("ExitCode") if state.get("Status") in ("exited", "dead") or state.get("Error") else None,
        started_at=_time(state.get("StartedAt")),
        finished_at=_time(state.get("FinishedAt")),
        oom_killed=bool(state.get("OOMKilled")),
        error=state.get("Error") or "",
        ip=ip or "",
    )


_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"


async def _security_opt(spec: ContainerSpec) -> list[str]:
    """Docker's ``SecurityOpt`` for the spec. A ``localhost/`` seccomp profile is a file on this host,
    which the Engine API wants as its JSON content (the docker CLI reads the file the same way)."""
    options = ["no-new-privileges"] if spec.no_new_privileges else []
    if spec.seccomp == SECCOMP_UNCONFINED:
        options.append("seccomp=unconfined")
    elif spec.seccomp.startswith(SECCOMP_LOCALHOST_PREFIX):
        path = spec.seccomp.removeprefix(SECCOMP_LOCALHOST_PREFIX)
        try:
            profile = await asyncio.to_thread(Path(path).read_text)
        except OSError as e:
            raise CreateError(f"cannot load seccomp profile {path!r}: {e.strerror}") from None
        options.append(f"seccomp={profile}")
    return options


def _write_text(path: str, content: str) -> None:
    with open(path, "w") as f:
        f.write(content)


def _demux(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Split Docker's multiplexed stream (8-byte header: stream, 3 zero bytes, big-endian length)
    into (stream, payload) pieces, leaving an incomplete tail in ``buffer``."""
    pieces = []
    while len(buffer) >= 8:
        stream, size = buffer[0], struct.unpack(">I", buffer[4:8])[0]
        if len(buffer) < 8 + size:
            break
        pieces.append((stream, bytes(buffer[8 : 8 + size])))
        del buffer[: 8 + size]
    return pieces


class DockerStreamSession:
    """A container's stdio over a hijacked connection of Docker's (an exec's or an attach's)."""

    def __init__(self, docker: aiodocker.Docker, stream: Any) -> None:
        self._docker = docker
        self._stream = stream

    async def write_stdin(self, data: bytes) -> None:
        await self._stream.write_in(data)

    async def close_stdin(self) -> None:
        transport = getattr(self._stream, "_resp", None)
        conn = getattr(transport, "connection", None)
        if conn is not None and conn.transport is not None and conn.transport.can_write_eof():
            conn.transport.write_eof()

    async def read(self) -> tuple[int, bytes] | None:
        msg = await self._stream.read_out()
        if msg is None:
            return None
        return msg.stream, bytes(msg.data)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._stream.close()


class DockerExecSession(DockerStreamSession):
    """An interactive exec over the hijacked connection of Docker's exec start."""

    def __init__(self, docker: aiodocker.Docker, exec_id: str, stream: Any) -> None:
        super().__init__(docker, stream)
        self._id = exec_id

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(aiodocker.DockerError):
            await _call(self._docker, f"exec/{self._id}/resize", "POST", params={"h": height, "w": width})

    async def exit_code(self) -> int:
        for _ in range(200):
            info = await self._docker._query_json(f"exec/{self._id}/json")
            if not info.get("Running"):
                return int(info.get("ExitCode") or 0)
            await asyncio.sleep(0.05)
        return 1


class DockerAttachSession(DockerStreamSession):
    """An attach over the hijacked connection of Docker's container attach. The end of the client's
    stdin closes the container's only for a ``stdinOnce`` container, as in Kubernetes; otherwise its
    stdin stays open for the next attach (Docker would instead drop the attach's output at once)."""

    def __init__(self, docker: aiodocker.Docker, container_id: str, stream: Any, stdin_once: bool) -> None:
        super().__init__(docker, stream)
        self._id = container_id
        self._stdin_once = stdin_once

    async def close_stdin(self) -> None:
        if self._stdin_once:
            await super().close_stdin()

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(aiodocker.DockerError):
            await _call(self._docker, f"containers/{self._id}/resize", "POST", params={"h": height, "w": width})


class DockerRuntime:
    def __init__(self, docker_host: str | None = None) -> None:
        self._docker = aiodocker.Docker(url=docker_host or None)
        self._version = ""
        #: an engine on this machine: its containers' cgroups and processes are ours to read, its
        #: root dir ours to measure for disk pressure
        self._local = str(self._docker.docker_host).startswith("unix://")
        self._cgroups: dict[str, cgroups.CgroupFiles | None] = {}  # container id -> its counters' files
        self._handlers: frozenset[str] = frozenset()  # the engine's runtimes, as of its last answer

    async def close(self) -> None:
        await self._docker.close()

    async def machine(self) -> MachineInfo:
        info = await self._docker.system.info()
        version = await self._docker.version()
        return MachineInfo(
            cpus=int(info.get("NCPU") or 1),
            memory_bytes=int(info.get("MemTotal") or 0),
            kernel_version=info.get("KernelVersion", platform.release()),
            os_image=info.get("OperatingSystem", "Linux"),
            operating_system=info.get("OSType", "linux"),
            architecture=_GOARCH.get(info.get("Architecture", platform.machine()), info.get("Architecture", "amd64")),
            runtime_version=f"docker://{version.get('Version', 'unknown')}",
            root_dir=info.get("DockerRootDir", "") if self._local else "",
            runtime_handlers=self._learn_handlers(info),
        )

    def _learn_handlers(self, info: dict[str, Any]) -> tuple[str, ...]:
        """The engine's runtimes a RuntimeClass's handler can name (``runc``; not
        ``io.containerd.runc.v2``, which is no DNS label), remembered for :meth:`create_container`."""
        names = tuple(sorted(n for n in info.get("Runtimes") or {} if not dns1123_label_errors(n)))
        self._handlers = frozenset(names)
        return names

    async def _check_handler(self, handler: str) -> None:
        """A handler the engine does not know is refused in containerd's words before the engine is
        asked; the engine is asked for its runtimes again first, since a reload of its configuration
        may have added one."""
        if handler in self._handlers:
            return
        self._learn_handlers(await self._docker.system.info())
        if handler not in self._handlers:
            raise CreateError(no_runtime(handler))

    async def ping(self) -> None:
        async with self._docker._query("_ping") as resp:
            await resp.read()

    async def ensure_network(self, name: str, subnet: str, gateway: str, *, masquerade: bool = True) -> None:
        wanted = ipaddress.ip_network(subnet)
        masq = "true" if masquerade else "false"
        for network in await self._docker.networks.list():
            if network.get("Name") != name and (network.get("Labels") or {}).get(LABEL_MANAGED) != "true":
                continue
            config = (network.get("IPAM") or {}).get("Config") or []
            if network.get("Name") == name and any(c.get("Subnet") == subnet for c in config):
                if (network.get("Options") or {}).get(_MASQUERADE, "true") == masq:
                    return
                if (await self._docker._query_json(f"networks/{network['Id']}")).get("Containers"):
                    log.warning("pod network %s keeps masquerade=%s while pods use it", name, not masquerade)
                    return
            overlapping = any(c.get("Subnet") and ipaddress.ip_network(c["Subnet"]).overlaps(wanted) for c in config)
            if network.get("Name") == name or overlapping:
                # a leftover of an earlier pod CIDR or an earlier cluster on this engine; one still in use fails
                # the creation below with Docker's "pool overlaps" message, which is the truth
                with contextlib.suppress(aiodocker.DockerError):
                    await _call(self._docker, f"networks/{network['Id']}", "DELETE")
        try:
            await self._docker.networks.create(
                {
                    "Name": name,
                    "Driver": "bridge",
                    "Labels": {LABEL_MANAGED: "true"},
                    "IPAM": {"Config": [{"Subnet": subnet, "Gateway": gateway}]},
                    # pods talk to each other directly; to the world through the node's address, masqueraded by
                    # Docker or, with the service proxy, only when they leave the cluster CIDR
                    "Options": {_MASQUERADE: masq},
                }
            )
        except aiodocker.DockerError as e:
            conflict = await self._holder_of(wanted, exclude=name) if "overlap" in str(e.message) else None
            raise conflict or RuntimeFailure(f"cannot create pod network {name} on {subnet}: {e.message}") from None

    async def _holder_of(
        self, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network, exclude: str
    ) -> NetworkConflict | None:
        """The network that holds ``subnet``, with how many containers use it and which pykube nodes
        they belong to: Docker's "Pool overlaps" names neither, and the user needs both to act."""
        for network in await self._docker.networks.list():
            config = (network.get("IPAM") or {}).get("Config") or []
            if network.get("Name") == exclude or not any(
                c.get("Subnet") and ipaddress.ip_network(c["Subnet"]).overlaps(subnet) for c in config
            ):
                continue
            details = await self._docker._query_json(f"networks/{network['Id']}")
            containers = details.get("Containers") or {}
            nodes: set[str] = set()
            for container_id in containers:
                with contextlib.suppress(RuntimeFailure):
                    node = (await self.inspect(container_id)).labels.get(LABEL_NODE)
                    if node:
                        nodes.add(node)
            return NetworkConflict(str(subnet), str(network.get("Name")), len(containers), sorted(nodes))
        return None

    async def write_resolv_conf(self, sandbox_id: str, content: str) -> bool:
        """Rewrite the sandbox's resolv.conf, which containers joining its network share (as kubelet's
        dockershim did): Docker would otherwise point pods at its embedded resolver on 127.0.0.11."""
        info = await self._docker._query_json(f"containers/{sandbox_id}/json")
        path = info.get("ResolvConfPath") or ""
        if not path:
            return False
        try:
            await asyncio.to_thread(_write_text, path, content)
        except OSError as e:
            log.debug("cannot rewrite %s: %s", path, e)
            return False
        return True

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerState]:
        filters = _managed(labels)
        found = await self._docker._query_json("containers/json", params={"all": "1", "filters": json.dumps(filters)})
        # the list answer lacks exit codes and times: inspect each (a pod has only a handful)
        states = []
        for item in found:
            with contextlib.suppress(ContainerNotFound):
                states.append(await self.inspect(item["Id"]))
        return states

    async def inspect(self, container_id: str) -> ContainerState:
        try:
            info = await self._docker._query_json(f"containers/{container_id}/json")
        except aiodocker.DockerError as e:
            if e.status == 404:
                raise ContainerNotFound(f"container {container_id} not found") from None
            raise RuntimeFailure(str(e.message)) from None
        return _state(info)

    async def usage(self, labels: Mapping[str, str]) -> list[ContainerUsage]:
        """One list call, then the counters: from the cgroup files for a local engine (found once
        per container), from Docker's stats endpoint otherwise (slow, so all containers at once)."""
        filters = {**_managed(labels), "status": ["running"]}
        try:
            found = await self._docker._query_json("containers/json", params={"filters": json.dumps(filters)})
        except (aiodocker.DockerError, aiohttp.ClientError) as e:
            raise RuntimeFailure(f"cannot list containers: {e}") from None
        running = {item["Id"]: item.get("Labels") or {} for item in found}
        for gone in self._cgroups.keys() - running.keys():
            del self._cgroups[gone]
        for container_id in running.keys() - self._cgroups.keys():
            with contextlib.suppress(aiodocker.DockerError):  # not cached: the next call tries again
                self._cgroups[container_id] = await self._locate_cgroup(container_id)
        local = {cid: files for cid in running if (files := self._cgroups.get(cid)) is not None}
        readings = await asyncio.to_thread(_read_cgroups, local)
        remote = [cid for cid in running if cid not in local]
        for container_id, reading in zip(remote, await asyncio.gather(*map(self._stats, remote)), strict=True):
            if reading is not None:
                readings[container_id] = reading
        return [ContainerUsage(cid, running[cid], stamp, cpu, memory) for cid, (stamp, cpu, memory) in readings.items()]

    async def disk_usage(self, container_id: str) -> int:
        """The writable layer's size, as Docker counts it when asked (``SizeRw``: it walks the layer,
        so it is asked for few containers), and the log file's when the engine is on this host."""
        try:
            info = await self._docker._query_json(f"containers/{container_id}/json", params={"size": "1"})
        except (aiodocker.DockerError, aiohttp.ClientError):
            return 0  # gone meanwhile, or the engine is down: the next look measures again
        log_path = info.get("LogPath") if self._local else None
        return int(info.get("SizeRw") or 0) + (await asyncio.to_thread(_file_size, log_path) if log_path else 0)

    async def _locate_cgroup(self, container_id: str) -> cgroups.CgroupFiles | None:
        """The container's cgroup files, or None for good (a remote engine, a process of another PID
        namespace, a container that ended meanwhile): those are read through the stats endpoint."""
        if not self._local:
            return None
        info = await self._docker._query_json(f"containers/{container_id}/json")
        pid = int((info.get("State") or {}).get("Pid") or 0)
        try:
            text = await asyncio.to_thread(Path(f"/proc/{pid}/cgroup").read_text) if pid else ""
        except OSError:
            return None
        return cgroups.locate(text, container_id)

    async def _stats(self, container_id: str) -> tuple[float, int, int] | None:
        try:
            stats = await self._docker._query_json(
                f"containers/{container_id}/stats", params={"stream": "0", "one-shot": "1"}
            )
        except aiodocker.DockerError:
            return None
        memory = stats.get("memory_stats") or {}
        detail = memory.get("stats") or {}
        inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
        cpu = int(((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)
        return time.time(), cpu, working_set(int(memory.get("usage") or 0), int(inactive or 0))

    async def create_container(self, spec: ContainerSpec) -> str:
        if spec.runtime_handler:
            await self._check_handler(spec.runtime_handler)
        host: dict[str, Any] = {
            "NetworkMode": spec.network or "bridge",
            "Binds": [f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in spec.mounts if not m.tmpfs],
            "Tmpfs": {m.target: "" for m in spec.mounts if m.tmpfs},
            "ReadonlyRootfs": spec.read_only_rootfs,
            "Privileged": spec.privileged,
        }
        security_opt = await _security_opt(spec)
        for key, value in (
            ("GroupAdd", spec.group_add),
            ("CapAdd", spec.cap_add),
            ("CapDrop", spec.cap_drop),
            ("SecurityOpt", security_opt),
            ("Sysctls", spec.sysctls),
        ):
            if value:
                host[key] = value
        if spec.runtime_handler:
            host["Runtime"] = spec.runtime_handler
        if spec.pid:
            host["PidMode"] = spec.pid
        if spec.ipc:
            host["IpcMode"] = spec.ipc
        if spec.dns:
            host["Dns"] = spec.dns
        if spec.dns_search:
            host["DnsSearch"] = spec.dns_search
        if spec.dns_options:
            host["DnsOptions"] = spec.dns_options
        for key, value in (
            ("CpuShares", spec.cpu_shares),
            ("CpuQuota", spec.cpu_quota),
            ("CpuPeriod", spec.cpu_period),
            ("Memory", spec.memory_limit),
        ):
            if value is not None:
                host[key] = value
        exposed: dict[str, dict[str, Any]] = {}
        if spec.port_bindings:
            bindings: dict[str, list[dict[str, str]]] = {}
            for b in spec.port_bindings:
                key = f"{b.container_port}/{b.protocol.lower()}"
                exposed[key] = {}
                bindings.setdefault(key, []).append({"HostIp": b.host_ip, "HostPort": str(b.host_port)})
            host["PortBindings"] = bindings
        config: dict[str, Any] = {
            "Image": spec.image,
            "Labels": spec.labels,
            "Env": [f"{k}={v}" for k, v in spec.env],
            "HostConfig": host,
            "Tty": spec.tty,
            "OpenStdin": spec.stdin,
            "StdinOnce": spec.stdin_once,
            "AttachStdin": False,
            "ExposedPorts": exposed,
        }
        if spec.entrypoint is not None:
            config["Entrypoint"] = spec.entrypoint
            config["Cmd"] = spec.cmd or []
        elif spec.cmd is not None:
            config["Cmd"] = spec.cmd
        if spec.working_dir:
            config["WorkingDir"] = spec.working_dir
        if spec.hostname and not spec.network.startswith("container:"):
            config["Hostname"] = spec.hostname
            if spec.domainname:
                config["Domainname"] = spec.domainname
        if spec.user:
            config["User"] = spec.user
        if spec.ip and spec.network and not spec.network.startswith("container:"):
            config["NetworkingConfig"] = {"EndpointsConfig": {spec.network: {"IPAMConfig": {"IPv4Address": spec.ip}}}}
        try:
            container = await self._docker.containers.create(config, name=spec.name)
        except aiodocker.DockerError as e:
            if e.status == 404 and "image" in str(e.message).lower():
                raise ImageNotPresent(str(e.message)) from None
            if e.status == 409:  # a leftover of a crashed attempt with the same name
                with contextlib.suppress(aiodocker.DockerError):
                    await _call(self._docker, f"containers/{spec.name}", "DELETE", params={"force": "1"})
                try:
                    container = await self._docker.containers.create(config, name=spec.name)
                except aiodocker.DockerError as again:
                    raise CreateError(str(again.message)) from None
            else:
                raise CreateError(str(e.message)) from None
        return str(container.id)

    async def start_container(self, container_id: str) -> None:
        try:
            await _call(self._docker, f"containers/{container_id}/start", "POST")
        except aiodocker.DockerError as e:
            if e.status == 404:
                raise ContainerNotFound(str(e.message)) from None
            raise CreateError(str(e.message)) from None

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        try:
            await _call(
                self._docker,
                f"containers/{container_id}/stop",
                "POST",
                params={"t": max(0, round(grace_seconds))},
                deadline=aiohttp.ClientTimeout(total=grace_seconds + 30),
            )
        except aiodocker.DockerError as e:
            if e.status not in (304, 404):
                raise RuntimeFailure(str(e.message)) from None

    async def remove_container(self, container_id: str) -> None:
        try:
            await _call(self._docker, f"containers/{container_id}", "DELETE", params={"force": "1", "v": "1"})
        except aiodocker.DockerError as e:
            if e.status != 404 and "already in progress" not in str(e.message):
                raise RuntimeFailure(str(e.message)) from None

    async def image_id(self, image: str) -> str | None:
        try:
            info = await self._docker.images.inspect(image)
        except aiodocker.DockerError:
            return None
        return str(info["Id"])

    async def list_images(self) -> list[Image]:
        try:
            found = await self._docker.images.list()
        except aiodocker.DockerError as e:
            raise RuntimeFailure(str(e.message)) from None
        return [
            Image(
                str(image["Id"]),
                tuple(tag for tag in image.get("RepoTags") or () if tag != "<none>:<none>"),
                tuple(digest for digest in image.get("RepoDigests") or () if digest != "<none>@<none>"),
                int(image.get("Size") or 0),
            )
            for image in found
        ]

    async def images_in_use(self, labels: Mapping[str, str]) -> set[str]:
        try:
            found = await self._docker._query_json(
                "containers/json", params={"all": "1", "filters": json.dumps(_managed(labels))}
            )
        except aiodocker.DockerError as e:
            raise RuntimeFailure(str(e.message)) from None
        return {str(item["ImageID"]) for item in found if item.get("ImageID")}

    async def remove_image(self, image: Image) -> bool:
        # by name first: the engine refuses to remove an image known by several names by its id alone;
        # untagging the last name of an image removes the image, unless a container uses it
        for name in (*image.tags, *image.digests, image.id):
            try:
                await _call(self._docker, f"images/{name}", "DELETE")
            except aiodocker.DockerError as e:
                if e.status == 409:
                    return False
                if e.status != 404:
                    raise RuntimeFailure(str(e.message)) from None
        return True

    async def image_user(self, image: str) -> str:
        try:
            info = await self._docker.images.inspect(image)
        except aiodocker.DockerError as e:
            raise ImageNotPresent(str(e.message)) from None
        return str((info.get("Config") or {}).get("User") or "")

    async def pull_image(self, image: str, auth: RegistryAuth | None) -> str:
        name, tag = _split_image(image)
        headers = {}
        if auth is not None:
            payload = {"username": auth.username, "password": auth.password, "serveraddress": auth.server}
            headers["X-Registry-Auth"] = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        try:
            async with self._docker._query(
                "images/create",
                method="POST",
                params={"fromImage": name, "tag": tag},
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=300),
            ) as resp:
                async for line in resp.content:
                    if line.strip():
                        message = json.loads(line)
                        if message.get("error"):
                            raise ImagePullError(message["error"])
        except aiodocker.DockerError as e:
            raise ImagePullError(str(e.message)) from None
        found = await self.image_id(image)
        if found is None:
            raise ImagePullError(f"image {image} is missing after the pull")
        return found

    async def import_image(self, image: str, rootfs_tar: bytes, cmd: list[str]) -> str:
        """Make an image from a root file system tarball (``docker import``), for images the agent
        builds itself because no registry may be reachable."""
        name, _, tag = image.rpartition(":")
        params = {"fromSrc": "-", "repo": name, "tag": tag, "changes": f"CMD {json.dumps(cmd)}"}
        async with self._docker._query(
            "images/create",
            method="POST",
            params=params,
            data=rootfs_tar,
            headers={"Content-Type": "application/x-tar"},
        ) as resp:
            await resp.read()
        found = await self.image_id(image)
        if found is None:
            raise RuntimeFailure(f"importing {image} failed")
        return found

    async def exec_run(self, container_id: str, command: list[str], timeout: float) -> ExecResult:  # noqa: ASYNC109
        try:
            created = await self._docker._query_json(
                f"containers/{container_id}/exec",
                method="POST",
                data=json.dumps({"Cmd": command, "AttachStdout": True, "AttachStderr": True, "Tty": False}),
            )
        except aiodocker.DockerError as e:
            raise RuntimeFailure(str(e.message)) from None
        exec_id = created["Id"]
        output = bytearray()
        buffer = bytearray()
        async with asyncio.timeout(timeout):
            async with self._docker._query(
                f"exec/{exec_id}/start",
                method="POST",
                data=json.dumps({"Detach": False, "Tty": False}),
                headers={"Content-Type": "application/json"},
            ) as resp:
                async for chunk in resp.content.iter_any():
                    buffer.extend(chunk)
                    for _, data in _demux(buffer):
                        output.extend(data)
            for _ in range(100):
                info = await self._docker._query_json(f"exec/{exec_id}/json")
                if not info.get("Running"):
                    return ExecResult(int(info.get("ExitCode") or 0), bytes(output))
                await asyncio.sleep(0.02)
        return ExecResult(1, bytes(output))

    async def exec_session(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> DockerExecSession:
        try:
            execution = await self._docker.containers.container(container_id).exec(
                command, stdout=True, stderr=True, stdin=stdin, tty=tty
            )
        except aiodocker.DockerError as e:
            raise RuntimeFailure(str(e.message)) from None
        stream = execution.start(detach=False)
        await stream._init()
        return DockerExecSession(self._docker, execution.id, stream)

    async def attach_session(self, container_id: str, *, stdin: bool) -> DockerAttachSession:
        container = self._docker.containers.container(container_id)
        stream = container.attach(stdout=True, stderr=True, stdin=stdin)
        try:
            await stream._init()
            config = (await container.show()).get("Config") or {}
        except aiodocker.DockerError as e:
            raise RuntimeFailure(str(e.message)) from None
        return DockerAttachSession(self._docker, container_id, stream, bool(config.get("StdinOnce")))

    async def logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        params: dict[str, Any] = {
            "stdout": "1",
            "stderr": "1",
            "follow": "1" if options.follow else "0",
            "timestamps": "1" if options.timestamps else "0",
        }
        if options.tail is not None:
            params["tail"] = str(options.tail)
        if options.since is not None:
            params["since"] = f"{options.since:.9f}"
        info = await self._docker._query_json(f"containers/{container_id}/json")
        tty = bool((info.get("Config") or {}).get("Tty"))
        async with self._docker._query(
            f"containers/{container_id}/logs", params=params, timeout=aiohttp.ClientTimeout(total=None)
        ) as resp:
            buffer = bytearray()
            async for chunk in resp.content.iter_any():
                if tty:
                    yield bytes(chunk)
                    continue
                buffer.extend(chunk)
                for _, data in _demux(buffer):
                    yield data

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        filters = json.dumps(
            {"type": ["container"], "label": [LABEL_MANAGED + "=true"], "event": ["start", "die", "oom", "destroy"]}
        )
        while True:
            try:
                async with self._docker._query(
                    "events", params={"filters": filters}, timeout=aiohttp.ClientTimeout(total=None)
                ) as resp:
                    async for line in resp.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        actor = event.get("Actor") or {}
                        yield RuntimeEvent(
                            actor.get("ID", event.get("id", "")), event.get("Action", ""), actor.get("Attributes") or {}
                        )
            except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
                log.warning("docker event stream ended (%s); reconnecting", e)
            await asyncio.sleep(1.0)


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _read_cgroups(files: Mapping[str, cgroups.CgroupFiles]) -> dict[str, tuple[float, int, int]]:
    """(time, CPU ns, working set) per container whose files could be read (blocking: in a thread)."""
    readings = {}
    for container_id, where in files.items():
        usage = cgroups.read_usage(where)
        if usage is not None:
            readings[container_id] = (time.time(), *usage)
    return readings


async def _call(
    docker: aiodocker.Docker,
    path: str,
    method: str,
    *,
    params: dict[str, Any] | None = None,
    deadline: aiohttp.ClientTimeout | None = None,
) -> None:
    """A request whose answer body does not matter (aiodocker's query is a context manager)."""
    extra = {"timeout": deadline} if deadline is not None else {}
    async with docker._query(path, method=method, params=params, **extra) as resp:
        await resp.read()


def _managed(labels: Mapping[str, str]) -> dict[str, list[str]]:
    """The list filter of pykube's containers that carry these labels."""
    return {"label": [LABEL_MANAGED + "=true"] + [f"{k}={v}" for k, v in labels.items()]}


def _split_image(image: str) -> tuple[str, str]:
    """``registry:5000/a/b:tag`` → (``registry:5000/a/b``, ``tag``); a digest is kept as the tag part."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, "latest"
