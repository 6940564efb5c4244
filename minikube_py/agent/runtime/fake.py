"""An in-memory runtime: containers start at once and run until stopped, nothing touches the host.

It lets one process run the real agent and pod workers for hundreds of nodes (kubemark/kwok style) for
scale tests and benchmarks, and lets the pod worker's decisions be tested without Docker. Special
images make the interesting cases reproducible:

- ``fake.pykube.io/exit:<code>``: the container exits at once with ``<code>``;
- ``fake.pykube.io/missing``: pulling fails as a registry's "not found" would;
- a container whose environment has ``FAKE_EXEC_EXIT=<n>`` answers every exec (probes) with exit ``n``;
- ``FAKE_CPU=<quantity>`` (``250m``) and ``FAKE_MEMORY=<quantity>`` (``64Mi``) in a container's
  environment pin its simulated usage; without them it uses a few millicores and MiB that drift;
- ``FAKE_DISK=<quantity>``: what the container keeps on the node's disk (its local ephemeral storage).

Pod annotations (handed to the runtime with every container, as CRI does) script a workload's life
without an image of its own, so control-plane tests and benchmarks keep their meaning on fake nodes:

- ``fake.pykube.io/run-seconds``: the pod's containers exit after that many seconds (default: never);
- ``fake.pykube.io/exit-code``: ... with that code (default 0);
- a pod that should run but never be Ready gets a readiness probe that fails (:data:`NEVER_READY`): the
  agent's prober decides readiness, as on a real node.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
import math
import os
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from minikube_py.agent.runtime.base import (
    LABEL_MANAGED,
    ContainerNotFound,
    ContainerSpec,
    ContainerState,
    ContainerUsage,
    CreateError,
    ExecResult,
    Image,
    ImagePullError,
    LogOptions,
    MachineInfo,
    RegistryAuth,
    RuntimeEvent,
    no_runtime,
)
from minikube_py.model.quantity import parse_quantity

EXIT_IMAGE = "fake.pykube.io/exit:"
MISSING_IMAGE = "fake.pykube.io/missing"
RUN_SECONDS = "fake.pykube.io/run-seconds"
EXIT_CODE = "fake.pykube.io/exit-code"
#: every exec in a container with this variable (probes, hooks) exits with its value
EXEC_EXIT_ENV = "FAKE_EXEC_EXIT"
#: what a container with this variable (a quantity) keeps on the node's disk
DISK_ENV = "FAKE_DISK"
#: container fields (merge them into a container) for one that runs but whose readiness probe never passes
NEVER_READY: dict[str, Any] = {
    "readinessProbe": {"exec": {"command": ["ready"]}, "periodSeconds": 1},
    "env": [{"name": EXEC_EXIT_ENV, "value": "1"}],
}


class FakeExecSession:
    """An exec that prints its command line (an attach: nothing) and echoes its stdin, then exits 0."""

    def __init__(self, command: list[str] | None) -> None:
        self._output: list[tuple[int, bytes]] = [] if command is None else [(1, (" ".join(command) + "\n").encode())]

    async def write_stdin(self, data: bytes) -> None:
        self._output.append((1, data))

    async def close_stdin(self) -> None:
        return None

    async def read(self) -> tuple[int, bytes] | None:
        return self._output.pop(0) if self._output else None

    async def resize(self, width: int, height: int) -> None:
        return None

    async def exit_code(self) -> int:
        return 0

    async def close(self) -> None:
        return None


#: the runtime handlers a fake node has, as a containerd node with runc alone
FAKE_HANDLERS = ("runc",)


class FakeRuntime:
    def __init__(self, cpus: int = 4, memory_bytes: int = 8 << 30) -> None:
        self._cpus = cpus
        self._memory = memory_bytes
        self._containers: dict[str, ContainerState] = {}
        self._env: dict[str, dict[str, str]] = {}
        self._annotations: dict[str, dict[str, str]] = {}
        self._exits: dict[str, asyncio.TimerHandle] = {}  # container id -> its scripted exit
        self._images: dict[str, str] = {}
        self._networks: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
        self.resolv_confs: dict[str, str] = {}  # sandbox id -> the resolv.conf the agent wrote
        self._addresses: dict[str, itertools.count[int]] = {}
        self._events: asyncio.Queue[RuntimeEvent] = asyncio.Queue()
        #: set to an error message, the engine stops answering its health check (the node goes
        #: Ready=False, as with a Docker engine that is down); its containers run on meanwhile
        self.outage: str | None = None

    async def close(self) -> None:
        return None

    async def machine(self) -> MachineInfo:
        return MachineInfo(
            cpus=self._cpus,
            memory_bytes=self._memory,
            kernel_version=os.uname().release,
            os_image="pykube fake runtime",
            runtime_version="fake://1",
            runtime_handlers=FAKE_HANDLERS,
        )

    async def ping(self) -> None:
        if self.outage is not None:
            raise ConnectionError(self.outage)

    async def ensure_network(self, name: str, subnet: str, gateway: str, *, masquerade: bool = True) -> None:
        self._networks[name] = ipaddress.ip_network(subnet)
        self._addresses.setdefault(name, itertools.count(2))

    async def write_resolv_conf(self, sandbox_id: str, content: str) -> bool:
        self.resolv_confs[sandbox_id] = content
        return True

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerState]:
        return [c for c in self._containers.values() if all(c.labels.get(k) == v for k, v in labels.items())]

    async def inspect(self, container_id: str) -> ContainerState:
        try:
            return self._containers[container_id]
        except KeyError:
            raise ContainerNotFound(f"container {container_id} not found") from None

    async def usage(self, labels: Mapping[str, str]) -> list[ContainerUsage]:
        now = time.time_ns() // 1000  # microseconds: what a reading's timestamp carries
        return [
            _simulated(state, self._env[state.id], now)
            for state in await self.list_containers(labels)
            if state.status == "running" and state.started_at is not None
        ]

    async def disk_usage(self, container_id: str) -> int:
        written = _quantity(self._env.get(container_id, {}), DISK_ENV)
        return int(written) if written is not None else 0

    async def create_container(self, spec: ContainerSpec) -> str:
        if spec.runtime_handler and spec.runtime_handler not in FAKE_HANDLERS:
            raise CreateError(no_runtime(spec.runtime_handler))
        _check_script(spec.annotations)
        if spec.image not in self._images and not spec.image.startswith(EXIT_IMAGE):
            self._images[spec.image] = _image_id(spec.image)
        container_id = hashlib.sha256(f"{spec.name}/{len(self._containers)}/{id(spec)}".encode()).hexdigest()
        ip = ""
        if spec.network in self._networks:
            ip = str(self._networks[spec.network].network_address + next(self._addresses[spec.network]))
        self._containers[container_id] = ContainerState(
            id=container_id,
            name=spec.name,
            labels={**spec.labels, LABEL_MANAGED: "true"},
            image=spec.image,
            image_id=_image_id(spec.image),
            status="created",
            ip=ip,
        )
        self._env[container_id] = dict(spec.env)
        self._annotations[container_id] = dict(spec.annotations)
        return container_id

    async def start_container(self, container_id: str) -> None:
        state = await self.inspect(container_id)
        state.status, state.started_at = "running", datetime.now(UTC)
        self._emit(state, "start")
        if state.image.startswith(EXIT_IMAGE):
            self.kill(container_id, int(state.image.removeprefix(EXIT_IMAGE) or "0"))
            return
        script = self._annotations.get(container_id) or {}
        if RUN_SECONDS in script:
            self._exits[container_id] = asyncio.get_running_loop().call_later(
                float(script[RUN_SECONDS]), self.kill, container_id, int(script.get(EXIT_CODE, "0"))
            )

    def kill(self, container_id: str, exit_code: int = 137) -> None:
        """The container ends on its own (crash, OOM, docker kill, a scripted exit); a test hook too."""
        timer = self._exits.pop(container_id, None)
        if timer is not None:
            timer.cancel()
        state = self._containers.get(container_id)
        if state is not None and state.running:
            state.status, state.exit_code, state.finished_at = "exited", exit_code, datetime.now(UTC)
            self._emit(state, "die")

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        if container_id in self._containers:
            self.kill(container_id, 137 if grace_seconds <= 0 else 0)

    async def remove_container(self, container_id: str) -> None:
        self.kill(container_id)
        state = self._containers.pop(container_id, None)
        self._env.pop(container_id, None)
        self._annotations.pop(container_id, None)
        if state is not None:
            self._emit(state, "destroy")

    async def image_id(self, image: str) -> str | None:
        return self._images.get(image)

    async def list_images(self) -> list[Image]:
        return [Image(image_id, (name,), (), _image_size(image_id)) for name, image_id in self._images.items()]

    async def images_in_use(self, labels: Mapping[str, str]) -> set[str]:
        return {state.image_id for state in await self.list_containers(labels)}

    async def remove_image(self, image: Image) -> bool:
        if any(state.image_id == image.id for state in self._containers.values()):
            return False
        for name in [name for name, image_id in self._images.items() if image_id == image.id]:
            del self._images[name]
        return True

    async def image_user(self, image: str) -> str:
        """Fake images name no user: their containers run as root, as an image without ``USER`` does."""
        return ""

    async def pull_image(self, image: str, auth: RegistryAuth | None) -> str:
        if image.startswith(MISSING_IMAGE):
            raise ImagePullError(f"manifest for {image} not found: manifest unknown")
        self._images[image] = _image_id(image)
        return self._images[image]

    async def exec_run(self, container_id: str, command: list[str], timeout: float) -> ExecResult:  # noqa: ASYNC109
        await self.inspect(container_id)
        return ExecResult(int(self._env[container_id].get(EXEC_EXIT_ENV, "0")), b"")

    async def exec_session(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> FakeExecSession:
        await self.inspect(container_id)
        return FakeExecSession(command)

    async def attach_session(self, container_id: str, *, stdin: bool) -> FakeExecSession:
        await self.inspect(container_id)
        return FakeExecSession(None)

    async def logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        state = await self.inspect(container_id)
        yield f"fake container {state.name} started\n".encode()

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        while True:
            yield await self._events.get()

    def _emit(self, state: ContainerState, action: str) -> None:
        self._events.put_nowait(RuntimeEvent(state.id, action, dict(state.labels)))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: how far simulated CPU use swings around its level (a share of it) and how fast (seconds per swing)
_SWING, _PERIOD = 0.3, 60.0


def _simulated(state: ContainerState, env: Mapping[str, str], now_us: int) -> ContainerUsage:
    """Plausible counters: a level per container (a few millicores, a few MiB, from a hash of its name
    so that pods differ but stay put) that swings slowly, unless the environment pins it. The CPU
    counter is the integral of that rate, so it never goes back; a pinned one is exact to the
    nanosecond, so tests can expect the figure they asked for."""
    assert state.started_at is not None
    seed = int.from_bytes(hashlib.sha256(state.name.encode()).digest()[:4], "big")
    pinned_cpu, pinned_memory = _quantity(env, "FAKE_CPU"), _quantity(env, "FAKE_MEMORY")
    cores = pinned_cpu if pinned_cpu is not None else Fraction(1 + seed % 40, 1000)
    memory = int(pinned_memory) if pinned_memory is not None else (4 + seed % 60) << 20
    elapsed_us = max(0, now_us - (state.started_at - _EPOCH) // timedelta(microseconds=1))
    cpu_ns = int(cores * elapsed_us * 1000)
    phase = (seed % 360) * math.pi / 180
    omega = 2 * math.pi / _PERIOD
    elapsed = elapsed_us / 10**6
    if pinned_cpu is None:
        cpu_ns += int(float(cores) * _SWING * (math.sin(omega * elapsed + phase) - math.sin(phase)) / omega * 1e9)
    if pinned_memory is None:
        memory += int(memory * 0.05 * math.sin(omega * elapsed / 3 + phase)) // 4096 * 4096  # whole pages
    return ContainerUsage(state.id, dict(state.labels), now_us / 10**6, cpu_ns, memory)


def _quantity(env: Mapping[str, str], key: str) -> Fraction | None:
    try:
        return parse_quantity(env[key]) if key in env else None
    except ValueError:
        return None


def _check_script(annotations: Mapping[str, str]) -> None:
    """A script the runtime cannot act out is refused as an engine refuses a bad command: the pod says why."""
    try:
        if float(annotations.get(RUN_SECONDS, "0")) < 0:
            raise ValueError
        int(annotations.get(EXIT_CODE, "0"))
    except ValueError:
        raise CreateError(
            f"{RUN_SECONDS} must be a number of seconds and {EXIT_CODE} an integer, got "
            f"{annotations.get(RUN_SECONDS)!r} and {annotations.get(EXIT_CODE)!r}"
        ) from None


def _image_id(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _image_size(image_id: str) -> int:
    """A fake image's size: 1 to 64 MiB, the same for one image everywhere."""
    return (int(image_id[-4:], 16) % 64 + 1) << 20
