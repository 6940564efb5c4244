"""The container runtime seen by the agent: a small protocol with two implementations, Docker through
aiodocker (:mod:`.docker`) and an in-memory one for fake nodes (:mod:`.fake`).

The pod workers know only this interface, so everything they decide (which container to start,
restart or remove, what status to report) is the same whether containers are real or simulated.
Containers are identified across agent restarts by their labels (:data:`LABEL_POD_UID` and friends),
never by state kept in the agent: an agent that starts again finds and adopts what it left running.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

#: labels every container the agent creates carries
LABEL_MANAGED = "io.pykube.managed"  # "true": only such containers are ever touched
LABEL_NODE = "io.pykube.node"  # node name: several agents may share one engine (tests, fake nodes)
LABEL_POD_UID = "io.pykube.pod.uid"
LABEL_POD_NAME = "io.pykube.pod.name"
LABEL_POD_NAMESPACE = "io.pykube.pod.namespace"
LABEL_CONTAINER_NAME = "io.pykube.container.name"  # SANDBOX_NAME for the pause container
LABEL_CONTAINER_KIND = "io.pykube.container.kind"  # "sandbox" | "init" | "app" | "ephemeral"
LABEL_ATTEMPT = "io.pykube.container.attempt"  # 0, 1, 2...: the restart count of that container
LABEL_SPEC_HASH = "io.pykube.container.hash"  # hash of the container's spec, to spot changes (image)
LABEL_GRACE = "io.pykube.pod.termination-grace"  # seconds, for a stop after the pod object is gone
#: on a sandbox: "shareable" when the pod's containers join its IPC namespace ("host" with hostIPC;
#: absent on sandboxes made before pods shared one, whose containers keep an IPC namespace each)
LABEL_SANDBOX_IPC = "io.pykube.sandbox.ipc"
#: on a sandbox: the runtime handler of the pod's RuntimeClass, which its containers are created with
#: too (absent: the engine's default runtime)
LABEL_RUNTIME_HANDLER = "io.pykube.sandbox.runtime-handler"

#: the container name used for the pod's pause (sandbox) container, as dockershim's "POD"
SANDBOX_NAME = "POD"

ContainerStatus = Literal["created", "running", "paused", "restarting", "removing", "exited", "dead"]


class RuntimeFailure(Exception):
    """A runtime call failed; ``message`` is fit for a pod's status or an event."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContainerNotFound(RuntimeFailure):
    pass


class NetworkConflict(RuntimeFailure):
    """The engine cannot create the pod network because another network holds (part of) its subnet,
    typically the pod network of another pykube cluster whose containers still run on this engine."""

    def __init__(self, subnet: str, network: str, containers: int, nodes: list[str]) -> None:
        self.subnet, self.network, self.containers, self.nodes = subnet, network, containers, nodes
        super().__init__(conflict_message(subnet, network, containers, nodes))


def conflict_message(subnet: str, network: str, containers: int, nodes: list[str]) -> str:
    """Say what holds the subnet and what to do about it: a user reads this in ``kubectl describe``."""
    held = f"{containers} container{'s' if containers != 1 else ''}"
    if nodes:
        held += f" of node{'s' if len(nodes) > 1 else ''} {', '.join(nodes)}"
    # the node's own cleanup, never a bare `pykube cleanup`, which would also stop this cluster's pods
    owners = nodes or ([network.removeprefix("pykube-")] if network.startswith("pykube-") else [])
    fix = (
        " and ".join(f"run `pykube cleanup --node {owner}`" for owner in owners)
        if owners
        else f"remove Docker network {network}"
    )
    return f"pod subnet {subnet} overlaps Docker network {network} ({held}); {fix} or start with another --cluster-cidr"


def no_runtime(handler: str) -> str:
    """Why a container whose handler the engine does not know is not created, in containerd's words
    (which kubelet's FailedCreatePodSandBox event quotes)."""
    return f'failed to get sandbox runtime: no runtime for "{handler}" is configured'


class ImagePullError(RuntimeFailure):
    """Pulling failed; the message quotes the registry's answer (unauthorized, not found...)."""


class ImageNotPresent(RuntimeFailure):
    """Creating a container needs an image the engine does not have."""


class CreateError(RuntimeFailure):
    """The engine refused to create or start the container (bad command, bad mount...)."""


@dataclass(frozen=True)
class Mount:
    """A bind mount of ``source`` (a host path) at ``target``, or a tmpfs when ``tmpfs`` is set."""

    target: str
    source: str = ""
    read_only: bool = False
    tmpfs: bool = False


@dataclass(frozen=True)
class PortBinding:
    """A hostPort: ``host_ip:host_port`` on the node forwarded to ``container_port`` of the pod."""

    container_port: int
    host_port: int
    protocol: str = "TCP"  # TCP | UDP | SCTP, as in the pod spec
    host_ip: str = ""


#: :attr:`ContainerSpec.seccomp` values: the engine's default profile, none, or a profile file of
#: this host (``localhost/<path>``)
SECCOMP_RUNTIME_DEFAULT = ""
SECCOMP_UNCONFINED = "unconfined"
SECCOMP_LOCALHOST_PREFIX = "localhost/"


@dataclass
class ContainerSpec:
    """What to create. A sandbox gets ``network`` (the node's pod network), ``hostname``, DNS settings
    and ``port_bindings``; app and init containers get ``network="container:<sandbox id>"`` so they
    share its network namespace (and so its IP and ports), and ``ipc`` the same way its IPC namespace."""

    name: str  # the engine's container name, unique per engine
    image: str
    labels: dict[str, str]
    entrypoint: list[str] | None = None  # the pod's ``command``; None keeps the image's
    cmd: list[str] | None = None  # the pod's ``args``; None keeps the image's
    env: list[tuple[str, str]] = field(default_factory=list)
    working_dir: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    network: str = ""
    #: "container:<id>": share that container's process namespace (an ephemeral container's target, or
    #: the sandbox's with shareProcessNamespace); "host": the node's (hostPID); "": a namespace of its own
    pid: str = ""
    #: "shareable" (a sandbox, whose IPC namespace its containers join), "container:<id>", "host" (hostIPC)
    ipc: str = ""
    ip: str | None = None  # a fixed address on ``network`` (None: the engine picks one)
    hostname: str | None = None
    #: the DNS domain of ``hostname`` (a pod with a ``subdomain``), so /etc/hosts names its FQDN
    domainname: str | None = None
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    port_bindings: list[PortBinding] = field(default_factory=list)
    cpu_shares: int | None = None  # 1024 per CPU requested, as kubelet's cgroup shares
    cpu_quota: int | None = None  # microseconds per cpu_period for a CPU limit
    cpu_period: int | None = None
    memory_limit: int | None = None  # bytes
    user: str | None = None  # "uid", "uid:gid" or "name:gid"; None keeps the image's
    group_add: list[str] = field(default_factory=list)  # supplementary groups (supplementalGroups, fsGroup)
    cap_add: list[str] = field(default_factory=list)  # "CAP_NET_ADMIN"...
    cap_drop: list[str] = field(default_factory=list)  # ... or "ALL"
    no_new_privileges: bool = False  # allowPrivilegeEscalation: false
    seccomp: str = SECCOMP_RUNTIME_DEFAULT  # or SECCOMP_UNCONFINED, or SECCOMP_LOCALHOST_PREFIX + a path
    sysctls: dict[str, str] = field(default_factory=dict)  # a sandbox's: its namespaces hold them
    read_only_rootfs: bool = False
    privileged: bool = False
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    #: the runtime handler (a RuntimeClass's ``handler``) that runs the container; "": the default one
    runtime_handler: str = ""
    #: the pod's annotations, as CRI hands them to a runtime: Docker ignores them, the fake runtime
    #: takes its instructions from them (see :mod:`.fake`)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerState:
    """What the engine reports about one container."""

    id: str
    name: str
    labels: dict[str, str]
    image: str  # the image reference the container was created from
    image_id: str  # e.g. "sha256:..."
    status: ContainerStatus
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    oom_killed: bool = False
    error: str = ""  # the engine's message when a start failed (e.g. "exec: not found")
    ip: str = ""  # the address on the pod network (sandboxes only)

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


@dataclass(frozen=True)
class Image:
    """One image the engine holds: its id, the names it is known by and its size on disk."""

    id: str
    tags: tuple[str, ...]  # repo:tag names
    digests: tuple[str, ...]  # repo@sha256:... names
    size: int


@dataclass(frozen=True)
class RuntimeEvent:
    """A container changed state behind the agent's back (died, was killed, OOM): the pod worker
    that owns ``labels[LABEL_POD_UID]`` looks again at once instead of at its next resync."""

    container_id: str
    action: str  # "start" | "die" | "oom" | "destroy"
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ContainerUsage:
    """Cumulative usage of one running container, as its engine accounts it: CPU time since the
    container started and the memory working set (usage less inactive page cache)."""

    container_id: str
    labels: Mapping[str, str]
    timestamp: float  # UNIX time of the reading
    cpu_ns: int
    memory: int


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str
    server: str = ""


@dataclass(frozen=True)
class MachineInfo:
    cpus: int
    memory_bytes: int
    kernel_version: str
    os_image: str
    operating_system: str = "linux"
    architecture: str = "amd64"  # GOARCH spelling, as the kubernetes.io/arch label
    runtime_version: str = ""  # "docker://20.10.24"
    root_dir: str = ""  # where the engine keeps images and containers, when it is on this host
    #: the runtime handlers a RuntimeClass may name (the engine's runtimes whose names are DNS labels)
    runtime_handlers: tuple[str, ...] = ()


def host_machine() -> MachineInfo:
    """This host's facts, for a node whose engine does not answer yet: it registers with them."""
    uname = os.uname()
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return MachineInfo(
        cpus=os.cpu_count() or 1,
        memory_bytes=pages,
        kernel_version=uname.release,
        os_image="unknown (container runtime down)",
        operating_system=uname.sysname.lower(),
        runtime_version="unknown",
    )


@dataclass(frozen=True)
class LogOptions:
    """Which of a container's output :meth:`Runtime.logs` gives: with ``follow`` the stream stays open
    until the container stops; ``tail`` keeps the last lines only, ``since`` (a UNIX time) the later
    ones; ``timestamps`` puts each line's time before it."""

    follow: bool = False
    tail: int | None = None
    since: float | None = None
    timestamps: bool = False


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes  # stdout and stderr, interleaved


class StreamSession(Protocol):
    """A container's stdio as kubectl attach (and kubectl debug -i) reaches it: bytes in, framed bytes
    out, until the container ends."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def read(self) -> tuple[int, bytes] | None:
        """The next chunk as (stream, data) with stream 1 = stdout, 2 = stderr; None at the end."""
        ...

    async def resize(self, width: int, height: int) -> None: ...

    async def close(self) -> None: ...


class ExecSession(StreamSession, Protocol):
    """An interactive exec (kubectl exec): a stream session of a command, then its exit code."""

    async def exit_code(self) -> int:
        """Wait for the command to end."""
        ...


class Runtime(Protocol):
    """Everything the agent asks of a container engine."""

    async def machine(self) -> MachineInfo: ...

    async def ping(self) -> None:
        """Return when the engine answers; raise when it does not."""

    async def ensure_network(self, name: str, subnet: str, gateway: str, *, masquerade: bool = True) -> None:
        """Create the node's pod network (a bridge on ``subnet``) if it does not exist yet. Without
        ``masquerade`` the engine leaves pod traffic's source address alone (the service proxy
        masquerades only what leaves the cluster CIDR)."""
        ...

    async def write_resolv_conf(self, sandbox_id: str, content: str) -> bool:
        """Make ``content`` the resolv.conf of a started sandbox and the containers that join it;
        False when the engine's files are out of reach (a remote engine)."""
        ...

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerState]:
        """All containers, running or not, that carry every one of ``labels``."""
        ...

    async def inspect(self, container_id: str) -> ContainerState: ...

    async def usage(self, labels: Mapping[str, str]) -> list[ContainerUsage]:
        """The running containers that carry every one of ``labels``, with their CPU and memory
        counters. Called only when someone asks for metrics, so it must be cheap for many containers."""
        ...

    async def disk_usage(self, container_id: str) -> int:
        """The bytes the container keeps on the node's disk: its writable layer and its log (0 where
        the engine cannot tell). Asked only for the pods whose local storage is limited."""
        return 0

    async def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) a container and return its id. Raises ImageNotPresent or CreateError."""
        ...

    async def start_container(self, container_id: str) -> None:
        """Raises CreateError when the engine cannot start it (e.g. the command does not exist)."""
        ...

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        """SIGTERM (or the image's stop signal), then SIGKILL after ``grace_seconds``."""
        ...

    async def remove_container(self, container_id: str) -> None:
        """Remove a container (killing it if needed); a missing container is not an error."""
        ...

    async def image_id(self, image: str) -> str | None:
        """The id of a local image, or None if the engine does not have it."""
        ...

    async def list_images(self) -> list[Image]:
        """Every image the engine holds."""
        ...

    async def images_in_use(self, labels: Mapping[str, str]) -> set[str]:
        """The ids of the images the managed containers with these labels (running or not) use."""
        ...

    async def remove_image(self, image: Image) -> bool:
        """Remove an image (each of its names, then the image): True once it is gone, False when the
        engine keeps it because a container (of any owner) uses it. Never forced."""
        ...

    async def image_user(self, image: str) -> str:
        """The user a local image's config runs its containers as ("" for none, i.e. root). Raises
        ImageNotPresent."""
        ...

    async def pull_image(self, image: str, auth: RegistryAuth | None) -> str:
        """Pull and return the image id. Raises ImagePullError with the registry's reason."""
        ...

    async def exec_run(self, container_id: str, command: list[str], timeout: float) -> ExecResult:  # noqa: ASYNC109
        """Run a command to completion (probes, preStop hooks). A timeout raises TimeoutError. The
        deadline is a parameter rather than the caller's ``asyncio.timeout`` because the runtime may
        have to end the command inside the container too, not just stop waiting for it."""
        ...

    async def exec_session(self, container_id: str, command: list[str], *, tty: bool, stdin: bool) -> ExecSession: ...

    async def attach_session(self, container_id: str, *, stdin: bool) -> StreamSession:
        """The running container's own stdin (if ``stdin``) and output, from now on."""
        ...

    def logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        """The container's output as raw bytes (stdout and stderr merged, in order), as ``options``
        select it. With ``follow`` the iterator ends when the container stops."""
        ...

    def events(self) -> AsyncIterator[RuntimeEvent]:
        """Container events of managed containers, for as long as the caller iterates; reconnects
        by itself if the engine restarts."""
        ...

    async def close(self) -> None: ...
