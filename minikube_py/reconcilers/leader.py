"""Leader election through a Lease, so that of several servers sharing one store exactly one runs
the controllers.

The protocol is client-go's ``leaderelection`` with a ``coordination.k8s.io/v1`` Lease lock: every
candidate reads the Lease every ``retry_period``; whoever finds it free, its own, or unchanged for
``leaseDurationSeconds`` (measured on the reader's own clock since it last saw the Lease change, so
clock skew between servers does not matter) writes itself in as holder, conditional on the
resourceVersion it read, so of two racing candidates one gets a 409 and stays a follower. The leader
renews every ``retry_period``; if no renewal succeeds for ``renew_deadline`` (shorter than the lease
duration) it stops its controllers before anyone else may take over, and competes again. A leader
that shuts down cleanly releases the Lease so a successor need not wait out the duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from minikube_py.client.errors import AlreadyExistsError, ApiError, ConflictError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.guard import cancel_and_wait, loop_time
from minikube_py.model.times import rfc3339_micro

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "pykube-controller-manager"
#: how long a leader shutting down tries to hand the Lease back
RELEASE_TIMEOUT = 2.0


@dataclass(frozen=True)
class ElectionTiming:
    """kube-controller-manager's ``--leader-elect-*`` durations, in seconds, and their defaults."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry_period < renew_deadline < lease_duration, got "
                f"{self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


def micro_time(when: datetime) -> str:
    """A ``MicroTime``, the format of Lease timestamps."""
    return rfc3339_micro(when)


def may_take(spec: Obj, identity: str, observed_at: float, now: float) -> bool:
    """Whether ``identity`` may write itself into a Lease last seen changing at ``observed_at``:
    when it is unheld (released), already its own, or its holder let it expire."""
    holder = spec.get("holderIdentity") or ""
    if not holder or holder == identity:
        return True
    return now >= observed_at + float(spec.get("leaseDurationSeconds") or 0)


def claimed(spec: Obj, identity: str, now: datetime, lease_duration: float) -> Obj:
    """The Lease spec with ``identity`` holding it as of ``now``: a renewal keeps acquireTime and
    the transition count, a takeover restarts the one and bumps the other."""
    renewing = (spec.get("holderIdentity") or "") == identity
    stamp = micro_time(now)
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": math.ceil(lease_duration),
        "acquireTime": spec.get("acquireTime") if renewing and spec.get("acquireTime") else stamp,
        "renewTime": stamp,
        "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (0 if renewing else 1),
    }


def released(spec: Obj, now: datetime) -> Obj:
    """The Lease spec handed back: no holder, and a one-second duration so that candidates that
    still saw the old holder need not wait out the full one."""
    stamp = micro_time(now)
    return {**spec, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": stamp, "acquireTime": stamp}


class LeaderElector:
    """Runs a function only while this process holds the Lease; see the module docstring."""

    def __init__(
        self,
        client: ApiClient,
        identity: str,
        timing: ElectionTiming = ElectionTiming(),
        *,
        namespace: str = LEASE_NAMESPACE,
        name: str = LEASE_NAME,
        clock: Callable[[], float] = loop_time,
    ) -> None:
        self.client = client
        self.identity = identity
        self.timing = timing
        self._namespace, self._name = namespace, name
        self._path = resource_path("coordination.k8s.io/v1", "leases", namespace, name)
        self._clock = clock
        self._observed_rv: str | None = None
        self._observed_at = 0.0
        #: the Lease as this elector last wrote it, for the leader's renewals without a read
        self._written: Obj | None = None
        self.is_leader = False

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Compete for the Lease for ever; while holding it, run ``lead()`` (cancelled when the Lease
        is lost). Returns when ``lead`` does; its exception propagates. The Lease is released on the
        way out."""
        try:
            while True:
                await self._acquire()
                log.info("%s became leader of %s/%s", self.identity, self._namespace, self._name)
                if await self._lead(lead):
                    return
                log.warning(
                    "%s lost the leadership of %s/%s; controllers stopped", self.identity, self._namespace, self._name
                )
        finally:
            await self._release()

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew():
                return
            await asyncio.sleep(self.timing.retry_period)

    async def _lead(self, lead: Callable[[], Awaitable[None]]) -> bool:
        """Run ``lead`` while renewing; True when it returned, False when leadership was lost."""
        self.is_leader = True
        task = asyncio.ensure_future(lead())
        renewed_at = self._clock()
        try:
            while True:
                await asyncio.wait({task}, timeout=self.timing.retry_period)
                if task.done():
                    task.result()
                    return True
                remaining = renewed_at + self.timing.renew_deadline - self._clock()
                if await self._try_acquire_or_renew(within=remaining):
                    renewed_at = self._clock()
                elif not self.is_leader or self._clock() >= renewed_at + self.timing.renew_deadline:
                    self.is_leader = False
                    return False
        finally:
            await cancel_and_wait(task)

    async def _try_acquire_or_renew(self, within: float | None = None) -> bool:
        """One attempt; False on losing a race, on a live holder, or on any API failure (logged)."""
        try:
            async with asyncio.timeout(within if within is None else max(within, 0.0)):
                return await self._attempt()
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.debug("%s: leader election attempt failed: %s", self.identity, exc)
            return False

    async def _attempt(self) -> bool:
        now = datetime.now(UTC)
        if self.is_leader and self._written is not None:
            # the leader's fast path, as client-go's: renew the Lease as it last wrote it, unread; a
            # conflict means another candidate wrote it since, and the read below decides
            renewal = {
                **self._written,
                "spec": claimed(self._written["spec"], self.identity, now, self.timing.lease_duration),
            }
            with contextlib.suppress(ConflictError, NotFoundError):
                self._wrote(await self.client.replace(self._path, renewal))
                return True
            self._written = None
        try:
            lease = await self.client.get(self._path)
        except NotFoundError:
            spec = claimed({}, self.identity, now, self.timing.lease_duration)
            try:
                lease = await self.client.create(
                    resource_path("coordination.k8s.io/v1", "leases", self._namespace),
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self._name, "namespace": self._namespace},
                        "spec": spec,
                    },
                )
            except AlreadyExistsError:
                return False
            self._wrote(lease)
            return True
        self._observe(lease)
        spec = lease.get("spec") or {}
        if not may_take(spec, self.identity, self._observed_at, self._clock()):
            self.is_leader = False  # someone else holds it: a leader that sees this was replaced
            return False
        lease["spec"] = claimed(spec, self.identity, now, self.timing.lease_duration)
        try:
            self._wrote(await self.client.replace(self._path, lease))
        except ConflictError:
            return False
        return True

    def _wrote(self, lease: Obj) -> None:
        self._written = lease
        self._observe(lease)

    def _observe(self, lease: Obj) -> None:
        rv = lease["metadata"].get("resourceVersion")
        if rv != self._observed_rv:
            self._observed_rv, self._observed_at = rv, self._clock()

    async def _release(self) -> None:
        if not self.is_leader:
            return
        self.is_leader, self._written = False, None
        # a cancellation arriving meanwhile (the shutdown, when ``lead`` had just returned) abandons
        # the release and goes on: swallowed, it would leave the caller running after its stop
        with contextlib.suppress(ApiError, aiohttp.ClientError, OSError, TimeoutError):
            async with asyncio.timeout(RELEASE_TIMEOUT):
                lease = await self.client.get(self._path)
                if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                    lease["spec"] = released(lease["spec"], datetime.now(UTC))
                    await self.client.replace(self._path, lease)
                    log.info("%s released %s/%s", self.identity, self._namespace, self._name)
