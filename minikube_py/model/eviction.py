"""Node-pressure eviction, the kubelet's rules: when the node's available memory falls under its hard
eviction threshold (``--eviction-hard memory.available<100Mi``), or a filesystem it writes to under
its free-space threshold, the node reports ``MemoryPressure`` or ``DiskPressure`` and ends pods, one
at a time, until it is back above it.

What is decided here is pure: the memory threshold (kubelet's syntax, an amount or a share of the
node's memory), whether the node is under memory pressure (which holds for the pressure transition
period after the signal recovers, so a node does not flap between admitting and evicting), which pod
goes first (kubelet's ``rankMemoryPressure`` and ``rankDiskPressureFunc``: pods using more than they
requested, then lower priority, then the largest use beyond the request) and the eviction's message,
in the kubelet's words.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from minikube_py.model.quantity import Format, format_quantity, parse_quantity
from minikube_py.model.scheduling import Toleration

Obj = dict[str, Any]

MEMORY = "memory.available"
#: free space of the filesystem of the node's data (emptyDirs, logs) and of its engine's images and
#: writable layers; on one filesystem both thresholds apply to it
NODEFS = "nodefs.available"
IMAGEFS = "imagefs.available"
SIGNALS = (MEMORY, NODEFS, IMAGEFS)
#: the kubelet's default hard thresholds (on Linux, less its inode signals, which pykube does not watch)
DEFAULT_THRESHOLD = f"{MEMORY}<100Mi,{NODEFS}<10%,{IMAGEFS}<15%"
#: the taint a node under memory pressure carries (the node lifecycle controller's)
PRESSURE_TAINT: Obj = {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}
#: pods at or above this priority are critical (system-cluster-critical, system-node-critical): never evicted
CRITICAL_PRIORITY = 2_000_000_000


@dataclass(frozen=True)
class Threshold:
    """``signal<amount`` (``quantity``, as written) or ``<N%`` of the resource's capacity."""

    quantity: str = ""
    percentage: Fraction | None = None

    def bytes(self, capacity: int) -> int:
        """The amount, a share of ``capacity`` worked out as the kubelet does: it holds the share as a
        float32, so 10% of 100 GB is 149 bytes more than a tenth, and the messages print that."""
        if self.percentage is not None:
            (share,) = struct.unpack("f", struct.pack("f", float(self.percentage)))
            return int(capacity * share)
        return int(parse_quantity(self.quantity))

    def spelled(self, capacity: int) -> str:
        """As the eviction message quotes it: the quantity written, or the share's amount."""
        return self.quantity or format_quantity(Fraction(self.bytes(capacity)), Format.BINARY_SI)


Thresholds = dict[str, Threshold]


def parse_thresholds(text: str) -> Thresholds:
    """The thresholds of a kubelet ``--eviction-hard`` value (comma-separated ``signal<value``; ""
    for none), by signal. As on the kubelet, a signal not named has no threshold. ValueError for
    what the kubelet refuses, and for signals pykube does not watch."""
    found: Thresholds = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        signal, less, value = term.partition("<")
        if not less or not value:
            raise ValueError(f"invalid eviction threshold {term!r}: expected signal<quantity, e.g. {DEFAULT_THRESHOLD}")
        if signal not in SIGNALS:
            raise ValueError(f"unsupported eviction signal {signal!r}: pykube acts on {', '.join(SIGNALS)}")
        try:
            amount = Fraction(value[:-1]) / 100 if value.endswith("%") else parse_quantity(value)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"eviction threshold {term!r}: {value!r} is neither a quantity nor a percentage") from None
        if value.endswith("%"):
            if not 0 < amount <= 1:
                raise ValueError(f"eviction threshold {term!r}: a percentage must be in (0%, 100%]")
            found[signal] = Threshold(percentage=amount)
        elif amount <= 0:
            raise ValueError(f"eviction threshold {term!r}: the quantity must be positive")
        else:
            found[signal] = Threshold(quantity=value)
    return found


@dataclass
class Pressure:
    """Whether the node is under memory pressure: while the signal is under the threshold, and for
    ``transition`` seconds after it was last seen there (kubelet's evictionPressureTransitionPeriod)."""

    transition: float
    _last_met: float | None = field(default=None, repr=False)

    def observe(self, met: bool, now: float) -> bool:
        if met:
            self._last_met = now
            return True
        return self._last_met is not None and now - self._last_met < self.transition


@dataclass(frozen=True)
class PodUse:
    """One pod as the ranking sees it: what each container uses of ``resource`` (memory: the working
    set; ephemeral-storage: writable layer and log) and, on disk, what its emptyDirs hold besides."""

    pod: Obj
    usage: dict[str, int]  # container name -> bytes used
    priority: int = 0
    resource: str = "memory"
    volumes: int = 0

    @property
    def requests(self) -> dict[str, int]:
        return {
            c.get("name", ""): _request(c, self.resource) for c in (self.pod.get("spec") or {}).get("containers") or []
        }

    @property
    def used(self) -> int:
        return sum(self.usage.values()) + self.volumes

    @property
    def beyond_request(self) -> int:
        return self.used - sum(self.requests.values())


def _request(container: Obj, resource: str) -> int:
    raw = ((container.get("resources") or {}).get("requests") or {}).get(resource)
    try:
        return int(parse_quantity(raw)) if raw is not None else 0
    except (ValueError, TypeError):
        return 0


def evictable(pod: Obj) -> bool:
    """Whether the eviction manager may end this pod: not a critical one."""
    return int((pod.get("spec") or {}).get("priority") or 0) < CRITICAL_PRIORITY


def refusal(pod: Obj, conditions: Sequence[str]) -> str | None:
    """The kubelet's admission under node pressure (``conditions``: MemoryPressure, DiskPressure):
    under memory pressure alone a new BestEffort pod that does not tolerate the memory-pressure taint
    is refused (reason Evicted) with this message; under disk pressure every new pod is; critical
    pods are always admitted."""
    if not conditions or not evictable(pod):
        return None
    if list(conditions) == ["MemoryPressure"]:
        if (pod.get("status") or {}).get("qosClass") != "BestEffort":
            return None
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        if any(isinstance(t, dict) and Toleration.of(t).tolerates(PRESSURE_TAINT) for t in tolerations):
            return None
    return f"The node had condition: [{' '.join(conditions)}]. "


def rank(pods: list[PodUse]) -> list[PodUse]:
    """The kubelet's order of eviction under memory or disk pressure: pods using more than they
    requested first, then lower priority, then the largest use beyond the request."""
    return sorted(pods, key=lambda p: (p.beyond_request <= 0, p.priority, -p.beyond_request))


def message(victim: PodUse, threshold: str, available: str) -> str:
    """The kubelet's eviction message: the resource, the threshold and what is available (as the
    kubelet spells them), then each container that uses more than it requested."""
    resource = victim.resource
    text = f"The node was low on resource: {resource}. Threshold quantity: {threshold}, available: {available}. "
    requests = victim.requests
    for name, used in victim.usage.items():
        request = requests.get(name, 0)
        if used > request:
            spelled = format_quantity(Fraction(request), Format.BINARY_SI) if request else "0"
            text += (
                f"Container {name} was using {format_quantity(Fraction(used), Format.BINARY_SI)}, "
                f"request is {spelled}, has larger consumption of {resource}. "
            )
    return text


def disk_message(victim: PodUse, threshold: Threshold, capacity: int, available: int) -> str:
    """The eviction message under disk pressure: ``threshold`` of a filesystem of ``capacity`` bytes
    with ``available`` free."""
    return message(victim, threshold.spelled(capacity), format_quantity(Fraction(available), Format.BINARY_SI))


def kibibytes(amount: int) -> str:
    """Available memory as the kubelet's observations print it (kibibytes)."""
    return f"{amount // 1024}Ki" if amount >= 0 else f"-{-amount // 1024}Ki"
