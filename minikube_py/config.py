"""Server and agent configuration: read once, from a YAML file < ``PYKUBE_*`` environment <
command-line flags.

Every setting has one name used everywhere: ``watch.history`` in the YAML file is the environment
variable ``PYKUBE_WATCH_HISTORY`` and the flag ``--watch-history`` (see :data:`SETTING_NAMES`). It
also has one default and one help text, both in its dataclass field (:func:`_doc`), from which the
command line generates its options (:data:`SERVER_SETTINGS`, :data:`AGENT_SETTINGS`). The result is
an immutable :class:`ServerConfig` passed down to the components; nothing reads the environment
later. Values are checked here, so a typo fails at start-up with the key and the source named
instead of surfacing as a strange error in some component later.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from minikube_py.model import imagegc
from minikube_py.model.audit import DEFAULT_POLICY, Policy, PolicyError, parse_policy
from minikube_py.model.eviction import DEFAULT_THRESHOLD as DEFAULT_EVICTION_HARD
from minikube_py.model.eviction import parse_thresholds
from minikube_py.model.nodeipam import mask_size_problem
from minikube_py.model.quantity import value as quantity_value
from minikube_py.model.yamlmap import load_mapping

ENV_PREFIX = "PYKUBE_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


#: container runtimes of a node
RUNTIMES = ("docker", "fake")
#: service proxy modes of a node; an empty setting picks the runtime's default
PROXY_MODES = ("kernel", "userspace", "none")
#: with --drain-on-stop, how long a stopping agent waits for its pods to stop (their grace periods)
DRAIN_SECONDS = 60.0
#: how long whoever stops such an agent should wait for it: the drain and the way out
DRAIN_TIMEOUT = DRAIN_SECONDS + 10.0


class ConfigError(ValueError):
    """A setting has a bad value or an unknown name; the message names the key and where it came from."""


def default_data_dir() -> Path:
    """/var/lib/pykube for root (a system service, like k3s' /var/lib/rancher), otherwise a per-user
    directory so that trying pykube needs no privileges."""
    if os.geteuid() == 0:
        return Path("/var/lib/pykube")
    return Path.home() / ".local" / "share" / "pykube"


def default_agent_data_dir() -> Path:
    """The server's data directory with ``-agent`` appended, so that an agent beside a server keeps apart."""
    return default_data_dir().with_name(default_data_dir().name + "-agent")


def default_node_name() -> str:
    """The hostname, lower-cased because node names must be DNS subdomains (as kubelet does)."""
    return socket.gethostname().lower()


def default_advertise_address() -> str:
    """The source address of the default route: the address other nodes can most likely reach.
    Connecting a UDP socket sends nothing; it only asks the kernel to pick a route. Falls back to
    loopback on a machine without a route (then only local agents can join)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere for real
            address = s.getsockname()[0]
        except OSError:
            return "127.0.0.1"
    return "127.0.0.1" if ipaddress.ip_address(address).is_loopback else address


def _doc(help: str, *, shown: str | None = None, choices: tuple[str, ...] = ()) -> dict[str, Any]:
    """A field's metadata: its one help text, shown for the flag (and as the documentation of the
    file key and the variable of the same name); ``shown``, how to describe a default that is worked
    out at start-up rather than written in the field; ``choices``, the values the flag offers."""
    return {"help": help, "shown": shown, "choices": choices}


def _setting(default: Any, help: str, *, shown: str | None = None, choices: tuple[str, ...] = ()) -> Any:
    """A setting's dataclass field: its default and its documentation (see :func:`_doc`)."""
    return field(default=default, metadata=_doc(help, shown=shown, choices=choices))


def _derived(factory: Callable[[], Any], help: str, *, shown: str | None = None, choices: tuple[str, ...] = ()) -> Any:
    """A setting whose default ``factory`` works out when the configuration is built (the host's
    name, a data directory that depends on the user)."""
    return field(default_factory=factory, metadata=_doc(help, shown=shown, choices=choices))


_HOSTNAME = "the hostname, lower-cased"
_LOCAL_DOCKER = "Docker's own: DOCKER_HOST or the local socket"
_RUNTIME_PROXY = "kernel with the docker runtime, none with the fake one (simulated pods have no network)"


@dataclass(frozen=True)
class WatchConfig:
    """How much change history the server keeps for watchers, and how it keeps them alive."""

    history: int = _setting(
        10_000,
        "Change events kept for watch resumption; older resourceVersions get 410 Gone and clients re-list. "
        "Ten thousand covers several minutes of a busy small cluster (etcd compacts every 5 minutes) while "
        "keeping the events table small.",
    )
    bookmark_interval: float = _setting(
        60.0,
        "Seconds between BOOKMARK events on quiet watches, as kube-apiserver (about one a minute): they move "
        "a client's resume point forward, so that a reconnect after a quiet hour is not a 410.",
    )

    def __post_init__(self) -> None:
        if self.history < 1:
            raise ConfigError(f"watch.history: must be at least 1, got {self.history}")
        if self.bookmark_interval <= 0:
            raise ConfigError(f"watch.bookmark_interval: must be positive, got {self.bookmark_interval}")


@dataclass(frozen=True)
class ImageGCConfig:
    """When a node removes unused images (the kubelet's image garbage collection)."""

    high_threshold: int = _setting(
        imagegc.HIGH_THRESHOLD,
        "Percent of the engine's image filesystem used at which a node removes unused images its pods ran "
        "from, least recently used first (kubelet's --image-gc-high-threshold); 100: never.",
    )
    low_threshold: int = _setting(
        imagegc.LOW_THRESHOLD,
        "Percent used the image garbage collection frees down to (kubelet's --image-gc-low-threshold).",
    )
    minimum_age_seconds: float = _setting(
        imagegc.MINIMUM_AGE,
        "An image a node first saw less than this long ago is never removed (kubelet's "
        "--minimum-image-ttl-duration), so a pull is not undone before its pod starts.",
    )

    def __post_init__(self) -> None:
        problems = self.policy.problems()
        if problems:
            raise ConfigError(problems[0])

    @property
    def policy(self) -> imagegc.Policy:
        return imagegc.Policy(self.high_threshold, self.low_threshold, self.minimum_age_seconds)


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``pykube server`` needs to start. Fields left at their "derived" value (empty
    string) are filled from the others when the object is built."""

    data_dir: Path = _derived(
        default_data_dir,
        "Holds the database, the certificates, the admin kubeconfig and the node token.",
        shown="/var/lib/pykube as root, else ~/.local/share/pykube",
    )
    bind_address: str = _setting(
        "",
        "Address the API listens on. With TLS all interfaces, so that agents on other machines can join "
        "(kube-apiserver and k3s listen on all interfaces too; every request needs a token or a client "
        "certificate); without TLS loopback only, because plain HTTP serves everyone anonymously (kubectl "
        "sends no credentials over http) and must never be reachable from the network.",
        shown="0.0.0.0 with TLS, 127.0.0.1 without",
    )
    port: int = _setting(
        6443,
        "API port, the one kube-apiserver and k3s use, so that kubeconfigs and habits carry over; 0: any free "
        "port (tests).",
    )
    datastore: str = _setting(
        "",
        "SQLAlchemy URL of the store: SQLite needs no setup; a postgresql://USER@HOST:PORT/DB URL lets "
        "several servers share one cluster.",
        shown="sqlite:///<data_dir>/state.db",
    )
    token: str = _setting(
        "",
        "The cluster token: the first server seals the cluster's CA, keys and tokens with it in the datastore, "
        "and every further server on that datastore needs it to open them (the first server's node-token "
        "file, or the bare secret given to the first server).",
        shown="generated on first start",
    )
    tls_san: str = _setting(
        "",
        "More names or addresses for the serving certificate, comma-separated: a load balancer's or a DNS "
        "name in front of several servers.",
    )
    no_agent: bool = _setting(
        False, "Run only the control plane, without the embedded agent (when nodes join separately)."
    )
    drain_on_stop: bool = _setting(
        False,
        "On SIGTERM/SIGINT stop this node's pods (graceful termination: preStop hooks, grace periods) and "
        "remove their containers before exiting, so that none outlives the process; by default they keep "
        "running and the next start adopts them (a restart costs the pods nothing).",
    )
    node_name: str = _derived(default_node_name, "Name of the embedded agent's Node.", shown=_HOSTNAME)
    node_ip: str = _setting(
        "", "Address of the embedded agent's node (its pods' hostIP).", shown="the advertise address"
    )
    docker_host: str = _setting("", "Docker engine the embedded agent runs pods in.", shown=_LOCAL_DOCKER)
    kubelet_port: int = _setting(
        10250,
        "Port of the embedded agent's HTTPS endpoint for logs, exec and port-forward (kubelet's); 0: any free port.",
    )
    agent_runtime: str = _setting(
        "docker",
        "Container runtime of the embedded agent: docker, or fake (simulated containers that start at once).",
        choices=RUNTIMES,
    )
    proxy_mode: str = _setting(
        "",
        "How the embedded agent proxies Services (as the agent's --proxy-mode).",
        shown=_RUNTIME_PROXY,
        choices=PROXY_MODES,
    )
    cluster_domain: str = _setting(
        "cluster.local", "DNS domain of the cluster: the cluster DNS answers <service>.<namespace>.svc.<domain>."
    )
    ingress_http_port: int = _setting(
        80,
        "Port of the embedded agent's ingress controller for plain HTTP (as the agent's --ingress-http-port); 0: none.",
    )
    ingress_https_port: int = _setting(
        443, "Port of the embedded agent's ingress controller for HTTPS (as the agent's --ingress-https-port); 0: none."
    )
    max_pods: int = _setting(110, "Pods the embedded agent's node accepts (kubelet's default).")
    eviction_hard: str = _setting(
        DEFAULT_EVICTION_HARD,
        "The embedded node's hard eviction thresholds, as `pykube agent --eviction-hard` (kubelet's): on a "
        "host whose disk is nearly full, lower the nodefs/imagefs ones or leave them out. Empty: never evict.",
    )
    cluster_cidr: str = _setting(
        "10.244.0.0/16",
        "Pod addresses, one subnet of them per node (see node_cidr_mask_size); Kubernetes' (flannel's) "
        "conventional default.",
    )
    node_cidr_mask_size: int = _setting(
        24,
        "Prefix length of each node's pod subnet (kube-controller-manager's --node-cidr-mask-size). It trades "
        "nodes for pods per node: a /16 holds 256 nodes at 24 (254 pods each) and 1,024 at 26 (62 pods each); "
        "nodes beyond that get no subnet, a CIDRNotAvailable event and NetworkUnavailable until a node is "
        "deleted.",
    )
    service_cidr: str = _setting(
        "10.96.0.0/12",
        "ClusterIPs of services (kube-apiserver's default); its first address is the kubernetes service.",
    )
    service_node_port_range: tuple[int, int] = _setting(
        (30000, 32767), "NodePorts, inclusive: kube-apiserver's default range, clear of ephemeral and well-known ports."
    )
    advertise_address: str = _derived(
        default_advertise_address,
        "Endpoint of the kubernetes service and the address in the join command.",
        shown="the default route's source address, or 127.0.0.1 without one",
    )
    tls: bool = _setting(
        True,
        "Serve HTTPS with pykube's own CA; without, plain and anonymous HTTP on loopback, for tests and experiments.",
    )
    watch: WatchConfig = field(default_factory=WatchConfig)
    image_gc: ImageGCConfig = field(default_factory=ImageGCConfig)
    node_monitor_grace_period: float = _setting(
        40.0,
        "Seconds a node may go without renewing its Lease before it counts as unreachable (conditions "
        "Unknown, unreachable taints, its pods not ready). kube-controller-manager's default: long enough for "
        "a kubelet to ride out an API restart, short enough to notice a lost machine.",
    )
    pod_eviction_timeout: float = _setting(
        300.0,
        "Seconds the pods of an unreachable node stay before they are evicted and replaced elsewhere, for "
        "pods with the API's default toleration (their own tolerationSeconds win). Kubernetes' 300 s lets a "
        "rebooting machine keep its pods.",
    )
    horizontal_pod_autoscaler_sync_period: float = _setting(
        15.0,
        "Seconds between two syncs of each HorizontalPodAutoscaler (reading its target's scale and its "
        "pods' metrics, scaling). kube-controller-manager's default: a few metrics scrapes per decision.",
    )
    horizontal_pod_autoscaler_downscale_stabilization: float = _setting(
        300.0,
        "Seconds an autoscaler without a behavior of its own looks back for a higher recommendation before "
        "it scales down (its scale-down stabilization window). Kubernetes' 300 s keeps a brief lull from "
        "removing pods that the next burst needs again.",
    )
    cluster_signing_duration: float = _setting(
        365 * 86400.0,
        "Seconds the certificates the cluster CA signs for approved CertificateSigningRequests stay valid at "
        "most (a request's expirationSeconds may ask for less, never under 600). kube-controller-manager's "
        "default: one year.",
    )
    # Leader election among servers sharing one store, with kube-controller-manager's defaults; they
    # need 0 < retry_period < renew_deadline < lease_duration.
    leader_elect_lease_duration: float = _setting(
        15.0,
        "Seconds the controller-manager Lease lasts without renewal: after it, another server sharing the "
        "store takes over.",
    )
    leader_elect_renew_deadline: float = _setting(
        10.0,
        "Seconds a leader keeps trying to renew the Lease before it stops its controllers, ahead of the lease "
        "duration.",
    )
    leader_elect_retry_period: float = _setting(2.0, "Seconds between attempts to acquire or renew the leadership.")
    # Connection hygiene, with kube-apiserver's defaults: a client may hold a connection or a slot
    # only while it is doing something, so a few thousand idle or slow clients cannot exhaust it.
    max_requests_inflight: int = _setting(
        400,
        "Read-only requests served at once; more are answered 429 with Retry-After (watches, logs, exec "
        "and port-forward are not counted). 0: no limit.",
    )
    max_mutating_requests_inflight: int = _setting(
        200, "Mutating requests (create, update, patch, delete) served at once; more are answered 429. 0: no limit."
    )
    request_header_timeout: float = _setting(
        32.0,
        "Seconds a new connection has to send its first request's headers before it is closed (Go's "
        "ReadHeaderTimeout as kube-apiserver sets it), so slow clients cannot hold connections open.",
    )
    idle_timeout: float = _setting(90.0, "Seconds an idle keep-alive connection stays open between requests.")
    secrets_encryption: bool = _setting(
        False,
        "Encrypt Secrets at rest (AES-GCM), as k3s' --secrets-encryption: the datastore holds only ciphertext "
        "of every Secret written from now on, with keys sealed by the cluster token beside the cluster's "
        "bootstrap data; `pykube secrets-encrypt` rotates them and re-encrypts older Secrets.",
    )
    audit_log_path: str = _setting(
        "",
        "Write the audit log here: JSON lines of Kubernetes' audit.k8s.io/v1 Event, Metadata level unless "
        "--audit-policy-file says otherwise (Secret and token bodies are never logged); '-' for standard "
        "output. Empty: no audit log.",
    )
    audit_policy_file: str = _setting(
        "",
        "An audit.k8s.io/v1 Policy (YAML or JSON) choosing which requests are logged at which level "
        "(None, Metadata, Request, RequestResponse).",
        shown="every request at Metadata",
    )
    audit_log_maxsize: int = _setting(
        0, "Megabytes the audit log may reach before it is rotated to <name>-<timestamp><ext>; 0: never rotated."
    )
    audit_log_maxbackup: int = _setting(0, "Rotated audit logs kept (the oldest go first); 0: all.")

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        if not self.datastore:
            object.__setattr__(self, "datastore", f"sqlite:///{self.data_dir}/state.db")
        if not self.bind_address:
            object.__setattr__(self, "bind_address", "0.0.0.0" if self.tls else "127.0.0.1")
        _validate(self)

    @property
    def kubernetes_service_ip(self) -> str:
        """The ClusterIP of the ``kubernetes`` service: the service CIDR's first address, by convention."""
        return str(ipaddress.ip_network(self.service_cidr).network_address + 1)

    @property
    def cluster_dns_ip(self) -> str:
        """The kube-dns ClusterIP: the service CIDR's tenth address (10.96.0.10 by default), by convention."""
        return str(ipaddress.ip_network(self.service_cidr).network_address + 10)


def _validate(cfg: ServerConfig) -> None:
    _check_thresholds(cfg.eviction_hard)
    if not 0 <= cfg.port <= 65535:
        raise ConfigError(f"port: must be between 0 and 65535, got {cfg.port}")
    bind = _ip("bind_address", cfg.bind_address)
    if not cfg.tls and not bind.is_loopback:
        raise ConfigError(
            f"bind_address: {cfg.bind_address} is reachable from the network, but with tls: false every "
            "request is served anonymously; bind to 127.0.0.1 or enable tls"
        )
    _ip("advertise_address", cfg.advertise_address)
    cluster = _cidr("cluster_cidr", cfg.cluster_cidr)
    problem = mask_size_problem(cluster, cfg.node_cidr_mask_size)
    if problem is not None:
        raise ConfigError(f"node_cidr_mask_size: {problem} (cluster_cidr {cluster})")
    service = _cidr("service_cidr", cfg.service_cidr)
    if cluster.version == service.version and cluster.overlaps(service):  # type: ignore[arg-type]
        raise ConfigError(f"service_cidr: {service} overlaps cluster_cidr {cluster}")
    if service.num_addresses < 4:
        raise ConfigError(f"service_cidr: {service} is too small to hold the kubernetes service")
    for name in ("max_requests_inflight", "max_mutating_requests_inflight"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name}: must be 0 (no limit) or more, got {getattr(cfg, name)}")
    for name in ("request_header_timeout", "idle_timeout"):
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{name}: must be positive, got {getattr(cfg, name)}")
    lo, hi = cfg.service_node_port_range
    if not 1 <= lo < hi <= 65535:
        raise ConfigError(f"service_node_port_range: need 1 <= low < high <= 65535, got {lo}-{hi}")
    if not _DNS_SUBDOMAIN.fullmatch(cfg.node_name) or len(cfg.node_name) > 253:
        raise ConfigError(f"node_name: {cfg.node_name!r} is not a lower-case DNS subdomain")
    if cfg.node_ip:
        _ip("node_ip", cfg.node_ip)
    if cfg.agent_runtime not in RUNTIMES:
        raise ConfigError(f"agent_runtime: must be docker or fake, got {cfg.agent_runtime!r}")
    if cfg.proxy_mode and cfg.proxy_mode not in PROXY_MODES:
        raise ConfigError(f"proxy_mode: must be one of kernel, userspace, none, got {cfg.proxy_mode!r}")
    if not re.match(r"^[a-z][a-z0-9+]*://", cfg.datastore):
        raise ConfigError(f"datastore: {cfg.datastore!r} is not a URL such as sqlite:///path or postgresql://...")
    if cfg.node_monitor_grace_period <= 0:
        raise ConfigError(f"node_monitor_grace_period: must be positive, got {cfg.node_monitor_grace_period}")
    if cfg.pod_eviction_timeout < 0:
        raise ConfigError(f"pod_eviction_timeout: must not be negative, got {cfg.pod_eviction_timeout}")
    if cfg.cluster_signing_duration < 600:
        raise ConfigError(f"cluster_signing_duration: must be at least 600 seconds, got {cfg.cluster_signing_duration}")
    if cfg.horizontal_pod_autoscaler_sync_period <= 0:
        raise ConfigError(
            f"horizontal_pod_autoscaler_sync_period: must be positive, got {cfg.horizontal_pod_autoscaler_sync_period}"
        )
    if not 0 <= cfg.horizontal_pod_autoscaler_downscale_stabilization <= 3600:
        raise ConfigError(
            "horizontal_pod_autoscaler_downscale_stabilization: must be between 0 and 3600, got "
            f"{cfg.horizontal_pod_autoscaler_downscale_stabilization}"
        )
    for name in ("audit_log_maxsize", "audit_log_maxbackup"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name}: must be 0 or more, got {getattr(cfg, name)}")
    audit_policy(cfg)  # a broken policy file stops the start, not the first request
    if not 0 < cfg.leader_elect_retry_period < cfg.leader_elect_renew_deadline < cfg.leader_elect_lease_duration:
        raise ConfigError(
            "leader_elect_*: need 0 < retry_period < renew_deadline < lease_duration, got "
            f"{cfg.leader_elect_retry_period}, {cfg.leader_elect_renew_deadline}, {cfg.leader_elect_lease_duration}"
        )


def audit_policy(cfg: ServerConfig) -> Policy:
    """The audit policy: the --audit-policy-file's, or every request at Metadata without one."""
    if not cfg.audit_policy_file:
        return DEFAULT_POLICY
    try:
        return parse_policy(yaml.safe_load(Path(cfg.audit_policy_file).read_text()))
    except (OSError, yaml.YAMLError, PolicyError) as exc:
        raise ConfigError(f"audit_policy_file: {cfg.audit_policy_file}: {exc}") from None


def _ip(key: str, value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not an IP address") from None


def _cidr(key: str, value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value)
    except ValueError as e:
        raise ConfigError(f"{key}: {value!r} is not a CIDR ({e})") from None


@dataclass(frozen=True)
class AgentConfig:
    """Everything ``pykube agent`` needs: where to join, and how this node runs pods."""

    server: str = _setting("", "URL of the API server to join, e.g. https://10.0.0.1:6443.")
    token: str = _setting(
        "",
        "The join token the server printed (the node-token file in its data directory): K10<CA hash>::server:<secret>.",
    )
    node_name: str = _derived(
        default_node_name, "Name of this node; with --count, a pattern whose %d numbers the nodes.", shown=_HOSTNAME
    )
    node_ip: str = _setting(
        "", "Address other nodes and the API server reach this node at.", shown="the default route's source address"
    )
    docker_host: str = _setting("", "Docker engine to run pods in.", shown=_LOCAL_DOCKER)
    data_dir: Path = _derived(
        default_agent_data_dir,
        "Pod volumes and the node's keys.",
        shown="/var/lib/pykube-agent as root, else ~/.local/share/pykube-agent",
    )
    runtime: str = _setting(
        "docker", "Container runtime: docker, or fake (simulated containers that start at once).", choices=RUNTIMES
    )
    max_pods: int = _setting(110, "Pods this node accepts (kubelet's default).")
    allow_privileged: bool = _setting(False, "Let pods run privileged containers.")
    drain_on_stop: bool = _setting(
        False,
        "On SIGTERM/SIGINT stop this node's pods (graceful termination: preStop hooks, grace periods) and "
        "remove their containers before exiting, so that none outlives the process; by default they keep "
        "running and the next start adopts them (a restart costs the pods nothing).",
    )
    pause_image: str = _setting(
        "", "Image of the pods' sandbox containers.", shown="pykube's own, built and imported locally on first use"
    )
    kubelet_port: int = _setting(
        10250, "Port of this node's HTTPS endpoint for logs, exec and port-forward (kubelet's); 0: any free port."
    )
    cluster_dns: str = _setting(
        "",
        "Comma-separated nameservers for pods with dnsPolicy ClusterFirst.",
        shown="the cluster DNS the server announces (the kube-dns ClusterIP, answered on every node by its proxy)",
    )
    cluster_domain: str = _setting(
        "cluster.local", "DNS domain of the cluster, for a server that does not announce its own."
    )
    proxy_mode: str = _setting(
        "",
        "How this node proxies Services: kernel (iptables DNAT, the data path never enters Python), userspace "
        "(iptables REDIRECT to asyncio listeners that splice the stream), or none.",
        shown=_RUNTIME_PROXY,
        choices=PROXY_MODES,
    )
    ingress_http_port: int = _setting(
        80,
        "Port on which this node's ingress controller (IngressClass pykube) serves plain HTTP; 0: none. "
        "Runs with the docker runtime only.",
    )
    ingress_https_port: int = _setting(
        443,
        "Port on which this node's ingress controller serves HTTPS, with the certificates of the Ingresses' "
        "TLS secrets by SNI; 0: none.",
    )
    node_labels: str = _setting("", "Extra node labels, comma-separated key=value pairs.")
    node_lease_duration_seconds: int = _setting(
        40,
        "How long this node's Lease holds; the agent renews it and looks at its node every quarter of that "
        "(kubelet's nodeLeaseDurationSeconds).",
    )
    eviction_hard: str = _setting(
        DEFAULT_EVICTION_HARD,
        "Hard eviction thresholds (kubelet's --eviction-hard; signal<quantity or <N%, comma-separated: "
        "memory.available of the node's memory, nodefs.available of its data directory's filesystem, "
        "imagefs.available of its engine's). Under one the node reports MemoryPressure or DiskPressure and "
        "evicts pods, those using most beyond their requests first; the memory and nodefs ones are also kept "
        "out of the node's allocatable. As on the kubelet, a signal left out has no threshold; empty: never "
        "evict.",
    )
    eviction_pressure_transition_seconds: float = _setting(
        300.0,
        "How long MemoryPressure holds after available memory is back above the threshold (kubelet's "
        "--eviction-pressure-transition-period), so a node does not flap between admitting and evicting.",
    )
    image_gc: ImageGCConfig = field(default_factory=ImageGCConfig)
    fake_cpus: int = _setting(4, "CPUs a node on the fake runtime offers.")
    fake_memory: str = _setting("8Gi", "Memory a node on the fake runtime offers (a quantity).")
    count: int = _setting(
        1,
        "Run this many nodes in one process, each named by --node-name with %d replaced by 1, 2, ...; only "
        "with the fake runtime (kubemark's hollow nodes: control-plane tests and benchmarks at scale).",
    )
    kubeconfig: str = _setting(
        "",
        "With --count: a kubeconfig whose user may act for every node of the process (impersonate "
        "system:node:* and watch every bound pod), such as the server's admin kubeconfig. The join token "
        "cannot: it gives one node its own credentials only.",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"runtime: must be docker or fake, got {self.runtime!r}")
        if self.proxy_mode and self.proxy_mode not in PROXY_MODES:
            raise ConfigError(f"proxy_mode: must be one of kernel, userspace, none, got {self.proxy_mode!r}")
        if self.count < 1:
            raise ConfigError(f"count: must be at least 1, got {self.count}")
        if self.count > 1 and (self.runtime != "fake" or "%d" not in self.node_name):
            raise ConfigError(
                "count: several nodes in one process need --runtime fake and a --node-name with %d, "
                f"got runtime {self.runtime!r} and node name {self.node_name!r}"
            )
        if not _DNS_SUBDOMAIN.fullmatch(self.node_names[0]):
            raise ConfigError(f"node_name: {self.node_name!r} is not a lower-case DNS subdomain")
        if self.fake_cpus < 1:
            raise ConfigError(f"fake_cpus: must be at least 1, got {self.fake_cpus}")
        try:
            if quantity_value(self.fake_memory) < 1:
                raise ValueError
        except ValueError:
            raise ConfigError(f"fake_memory: {self.fake_memory!r} is not a positive quantity such as 8Gi") from None
        if self.node_lease_duration_seconds < 1:
            raise ConfigError(
                f"node_lease_duration_seconds: must be at least 1, got {self.node_lease_duration_seconds}"
            )
        _check_thresholds(self.eviction_hard)
        if self.eviction_pressure_transition_seconds < 0:
            raise ConfigError("eviction_pressure_transition_seconds: must not be negative")
        if self.node_ip:
            _ip("node_ip", self.node_ip)
        if self.max_pods < 1:
            raise ConfigError(f"max_pods: must be at least 1, got {self.max_pods}")
        for key in ("ingress_http_port", "ingress_https_port"):
            if not 0 <= getattr(self, key) <= 65535:
                raise ConfigError(f"{key}: must be a port number or 0, got {getattr(self, key)}")
        for label in filter(None, self.node_labels.split(",")):
            if "=" not in label:
                raise ConfigError(f"node_labels: {label!r} is not key=value")

    @property
    def effective_proxy_mode(self) -> str:
        return self.proxy_mode or ("kernel" if self.runtime == "docker" else "none")

    @property
    def labels(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in filter(None, self.node_labels.split(",")))

    @property
    def node_names(self) -> list[str]:
        """The names of the nodes this process runs: ``node_name``, or with ``count`` its %d numbered."""
        if self.count == 1:
            return [self.node_name]
        return [self.node_name.replace("%d", str(i)) for i in range(1, self.count + 1)]


def _check_thresholds(text: str) -> None:
    try:
        parse_thresholds(text)
    except ValueError as e:
        raise ConfigError(f"eviction_hard: {e}") from None


# --- loading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting as the three sources see it: a file key, a variable and a flag, all named after
    ``path``, with the field's help text and default (from its metadata, see :func:`_doc`)."""

    path: tuple[str, ...]  # ("watch", "history")
    type: Any
    prefix: str = ENV_PREFIX
    help: str = ""
    #: the field's default; None where it is worked out at start-up (then ``shown`` says how)
    default: Any = None
    shown: str | None = None
    #: the only values the setting takes (besides an empty one that picks a default), if so limited
    choices: tuple[str, ...] = ()

    @property
    def default_text(self) -> str | None:
        """The default as a user would write it, or how it is worked out; None for an empty value or
        an unset switch, which say nothing."""
        value = self.default
        if self.shown or value is None or value is False or value == "":
            return self.shown
        if value is True:
            return "true"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, tuple):
            return "-".join(map(str, value))  # a port range, written as its flag takes it
        return str(value)

    @property
    def key(self) -> str:
        return ".".join(self.path)

    @property
    def flag(self) -> str:
        return "_".join(self.path)

    @property
    def env(self) -> str:
        return self.prefix + self.flag.upper()


def _settings(cls: type, prefix: tuple[str, ...] = (), env_prefix: str = ENV_PREFIX) -> Iterator[Setting]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _settings(tp, (*prefix, f.name), env_prefix)  # type: ignore[arg-type]
        else:
            default = None if f.default is dataclasses.MISSING else f.default
            yield Setting(
                (*prefix, f.name),
                tp,
                env_prefix,
                help=f.metadata.get("help", ""),
                default=default,
                shown=f.metadata.get("shown"),
                choices=f.metadata.get("choices", ()),
            )


#: the settings of ``pykube server``, read from ``PYKUBE_<NAME>``
SERVER_SETTINGS = tuple(_settings(ServerConfig))
#: Names accepted in the ``flags`` mapping of :func:`load_server_config`.
SETTING_NAMES = frozenset(s.flag for s in SERVER_SETTINGS)
#: the agent's settings read ``PYKUBE_AGENT_<NAME>`` so that one environment can configure both
AGENT_ENV_PREFIX = "PYKUBE_AGENT_"
AGENT_SETTINGS = tuple(_settings(AgentConfig, env_prefix=AGENT_ENV_PREFIX))


def load_server_config(*, file: Path | None = None, env: Mapping[str, str], flags: Mapping[str, Any]) -> ServerConfig:
    """Merge the three sources, later ones winning: ``file`` (YAML, may be None), ``env`` (only
    ``PYKUBE_<NAME>`` variables are read; empty ones count as unset) and ``flags`` (keys from
    :data:`SETTING_NAMES`; None means the flag was not given)."""
    return _load(ServerConfig, SERVER_SETTINGS, file=file, env=env, flags=flags)


def load_agent_config(*, file: Path | None = None, env: Mapping[str, str], flags: Mapping[str, Any]) -> AgentConfig:
    """As :func:`load_server_config`, for ``pykube agent`` (environment variables ``PYKUBE_AGENT_<NAME>``)."""
    return _load(AgentConfig, AGENT_SETTINGS, file=file, env=env, flags=flags)


_Part = TypeVar("_Part")


def carried(target: type[_Part], source: object, **given: Any) -> _Part:
    """A ``target`` dataclass built from the settings of ``source`` that share its field names, then
    ``given``: the server hands its own settings to the parts it embeds (its agent, its controllers)
    this way, so a setting both declare reaches the part without a hand-kept list to forget it in."""
    names = {f.name for f in dataclasses.fields(typing.cast(Any, target))}
    shared = {name: getattr(source, name) for name in names if hasattr(source, name)}
    return target(**(shared | given))


def _load(
    cls: type, settings: tuple[Setting, ...], *, file: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]
) -> Any:
    unknown = set(flags) - {s.flag for s in settings}
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))} given as flags")
    from_file = _read_file(file, cls) if file is not None else {}
    values: dict[tuple[str, ...], Any] = {}
    for s in settings:
        source, raw = _pick(s, from_file, env, flags, file)
        if source:
            values[s.path] = _coerce(s, raw, source)
    return _build(cls, values, ())


def _pick(
    s: Setting, from_file: Mapping[str, Any], env: Mapping[str, str], flags: Mapping[str, Any], file: Path | None
) -> tuple[str, Any]:
    """The winning (source description, raw value) of one setting, or ("", None) if none sets it.
    An empty YAML value (``datastore:``) leaves the default, like an unset variable or flag."""
    if flags.get(s.flag) is not None:
        return f"flag {s.flag}", flags[s.flag]
    if env.get(s.env):
        return f"environment {s.env}", env[s.env]
    node: Any = from_file
    for part in s.path:
        if not isinstance(node, Mapping) or part not in node:
            return "", None
        node = node[part]
    return (f"file {file}", node) if node is not None else ("", None)


def _read_file(file: Path, cls: type) -> dict[str, Any]:
    try:
        text = file.read_text()
    except OSError as e:
        raise ConfigError(f"config file {file}: {e.strerror}") from None
    try:
        data = load_mapping(text, "a mapping of settings")
    except ValueError as e:
        raise ConfigError(f"config file {file}: {e}") from None
    _check_keys(data, cls, (), file)
    return data


def _check_keys(data: Mapping[str, Any], cls: type, prefix: tuple[str, ...], file: Path) -> None:
    """Reject names the configuration does not have: a misspelt key would otherwise be ignored silently."""
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        key = ".".join((*prefix, str(name)))
        if name not in hints:
            raise ConfigError(f"{key}: unknown setting in {file}")
        if dataclasses.is_dataclass(hints[name]):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a mapping in {file}")
            _check_keys(value, hints[name], (*prefix, name), file)


def _coerce(s: Setting, raw: Any, source: str) -> Any:
    """Convert a value from YAML (native types) or the environment (strings) to the field's type."""
    try:
        return _CONVERTERS[s.type](raw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{s.key}: {e} (from {source})") from None


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {raw!r}")


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"expected an integer, got {raw!r}")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"expected a number, got {raw!r}")
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None


def _to_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {raw!r}")
    return raw


def _to_path(raw: Any) -> Path:
    return Path(_to_str(raw)).expanduser()


def _to_port_range(raw: Any) -> tuple[int, int]:
    """``"30000-32767"`` (the kube-apiserver flag's form) or a two-element list."""
    parts = raw.split("-") if isinstance(raw, str) else raw
    if not isinstance(parts, list | tuple) or len(parts) != 2:
        raise ValueError(f"expected a range like 30000-32767, got {raw!r}")
    try:
        return _to_int(parts[0]), _to_int(parts[1])
    except ValueError:
        raise ValueError(f"expected a range like 30000-32767, got {raw!r}") from None


_CONVERTERS: dict[Any, Callable[[Any], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    Path: _to_path,
    tuple[int, int]: _to_port_range,
}


def _build(cls: type, values: Mapping[tuple[str, ...], Any], prefix: tuple[str, ...]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        path = (*prefix, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            kwargs[f.name] = _build(hints[f.name], values, path)  # type: ignore[arg-type]
        elif path in values:
            kwargs[f.name] = values[path]
    return cls(**kwargs)
