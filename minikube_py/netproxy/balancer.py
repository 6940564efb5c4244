"""Endpoint choice for the userspace proxier: round robin, ClientIP session affinity, fail-over.

Pure (no sockets, no event loop) so the rules can be tested with a fake clock. As in Kubernetes'
userspace proxy, one balancer holds the state of every service port; the proxier asks it for an
endpoint per new TCP connection or UDP session and again, with the failed ones excluded, when a
connect fails.

Round robin does not keep an index into the endpoint list: it remembers the endpoint it handed out
last and continues with the next one in sorted order. An update that adds or removes endpoints
therefore neither restarts the rotation at the first endpoint (which, under endpoint churn, would
send the first pod more than its share) nor skips anyone; removing the last-chosen endpoint simply
continues with the one that sorted after it.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

Endpoint = tuple[str, int]

#: Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds (3 hours)
DEFAULT_AFFINITY_SECONDS = 10800.0


@dataclass(frozen=True, order=True)
class ServicePortName:
    """One port of one Service: the unit the proxier listens for."""

    namespace: str
    name: str
    port: str  # the service port's name ("" when unnamed)
    protocol: str  # "TCP" | "UDP"

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.namespace}/{self.name}{port}/{self.protocol}"


@dataclass(frozen=True)
class BackendSet:
    """What a service port balances over, as the proxy glue derives it from Endpoints and the Service."""

    endpoints: tuple[Endpoint, ...]  # ready endpoints (ip, port), in any order
    affinity_seconds: float | None = None  # sessionAffinity ClientIP timeout; None = no affinity


@dataclass
class _Sticky:
    endpoint: Endpoint
    last_used: float


@dataclass
class _ServiceState:
    endpoints: list[Endpoint]  # sorted, unique
    members: frozenset[Endpoint]
    affinity_seconds: float | None
    last: Endpoint | None = None  # the endpoint round robin handed out last
    sticky: dict[str, _Sticky] = field(default_factory=dict)  # client IP → its endpoint
    next_sweep: float = 0.0


class LoadBalancer:
    """Chooses endpoints for every service port; see the module docstring for the rules."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._services: dict[ServicePortName, _ServiceState] = {}

    def update(self, service: ServicePortName, backends: BackendSet) -> None:
        """Set the endpoints and affinity of a service port, keeping its rotation and the affinity of
        clients whose endpoint is still there."""
        endpoints = sorted(set(backends.endpoints))
        members = frozenset(endpoints)
        state = self._services.get(service)
        if state is None:
            self._services[service] = _ServiceState(endpoints, members, backends.affinity_seconds)
            return
        state.endpoints, state.members = endpoints, members
        if backends.affinity_seconds != state.affinity_seconds:
            state.affinity_seconds = backends.affinity_seconds
            if backends.affinity_seconds is None:
                state.sticky.clear()
        self._sweep(state, self._clock())

    def remove(self, service: ServicePortName) -> None:
        self._services.pop(service, None)

    def next_endpoint(
        self, service: ServicePortName, client_ip: str, *, exclude: Collection[Endpoint] = ()
    ) -> Endpoint | None:
        """Round robin over the endpoints; with affinity, the client's remembered endpoint while it is
        still an endpoint and not expired (each use refreshes it); skips `exclude` (endpoints whose
        connect just failed); None when none is left."""
        state = self._services.get(service)
        if state is None or not state.endpoints:
            return None
        now = self._clock()
        ttl = state.affinity_seconds
        if ttl is not None:
            if now >= state.next_sweep:
                self._sweep(state, now)
            sticky = state.sticky.get(client_ip)
            if (
                sticky is not None
                and sticky.endpoint in state.members
                and sticky.endpoint not in exclude
                and now - sticky.last_used < ttl
            ):
                sticky.last_used = now
                return sticky.endpoint
        chosen = self._rotate(state, exclude)
        if chosen is not None and ttl is not None:
            state.sticky[client_ip] = _Sticky(chosen, now)
        return chosen

    @staticmethod
    def _rotate(state: _ServiceState, exclude: Collection[Endpoint]) -> Endpoint | None:
        endpoints = state.endpoints
        start = 0 if state.last is None else bisect.bisect_right(endpoints, state.last)
        count = len(endpoints)
        for step in range(count):
            candidate = endpoints[(start + step) % count]
            if candidate not in exclude:
                state.last = candidate
                return candidate
        return None

    @staticmethod
    def _sweep(state: _ServiceState, now: float) -> None:
        """Forget expired clients and those whose endpoint is gone, so the table cannot grow without
        bound; done at most once per timeout (or per minute) since it walks every client."""
        ttl = state.affinity_seconds
        if ttl is None:
            return
        state.sticky = {
            ip: s for ip, s in state.sticky.items() if s.endpoint in state.members and now - s.last_used < ttl
        }
        state.next_sweep = now + min(ttl, 60.0)
