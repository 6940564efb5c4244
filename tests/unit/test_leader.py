"""Leader election: the Lease rules as pure functions, and electors racing over an in-memory Lease on
virtual time (tests/virtualtime.py), so that waiting out leases and deadlines takes no real time."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from minikube_py.client.errors import AlreadyExistsError, ConflictError, NotFoundError
from minikube_py.reconcilers.leader import ElectionTiming, LeaderElector, claimed, may_take, released

Obj = dict[str, Any]
NOW = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
FAST = ElectionTiming(lease_duration=1.0, renew_deadline=0.6, retry_period=0.05)  # whole seconds, as in a Lease


# ------------------------------------------------------------------------------ pure rules


def test_a_free_or_own_lease_may_be_taken_at_once() -> None:
    assert may_take({}, "a", observed_at=10.0, now=10.0)
    assert may_take({"holderIdentity": ""}, "a", observed_at=10.0, now=10.0)
    assert may_take({"holderIdentity": "a", "leaseDurationSeconds": 15}, "a", observed_at=10.0, now=10.0)


def test_someone_elses_lease_only_after_it_sat_unchanged_for_its_duration() -> None:
    held = {"holderIdentity": "b", "leaseDurationSeconds": 15}
    assert not may_take(held, "a", observed_at=10.0, now=24.9)
    assert may_take(held, "a", observed_at=10.0, now=25.0)


def test_first_claim_renewal_and_takeover() -> None:
    first = claimed({}, "a", NOW, 15.0)
    assert first == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2024-05-01T12:00:00.123456Z",
        "renewTime": "2024-05-01T12:00:00.123456Z",
        "leaseTransitions": 1,
    }
    later = NOW.replace(second=5)
    renewed = claimed(first, "a", later, 15.0)
    assert renewed["acquireTime"] == first["acquireTime"]
    assert renewed["renewTime"] == "2024-05-01T12:00:05.123456Z"
    assert renewed["leaseTransitions"] == 1
    taken = claimed(renewed, "b", later, 2.5)
    assert (taken["holderIdentity"], taken["acquireTime"], taken["leaseTransitions"]) == (
        "b",
        "2024-05-01T12:00:05.123456Z",
        2,
    )
    assert taken["leaseDurationSeconds"] == 3  # whole seconds, rounded up


def test_release_leaves_no_holder_and_a_short_duration() -> None:
    spec = released(claimed({}, "a", NOW, 15.0), NOW)
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 1


@pytest.mark.parametrize(("lease", "renew", "retry"), [(10, 10, 2), (10, 12, 2), (15, 10, 0), (15, 2, 2)])
def test_timing_must_leave_renewal_inside_the_lease(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        ElectionTiming(lease, renew, retry)


# ------------------------------------------------------------------------------ electors


class FakeLeaseApi:
    """One Lease with the API's optimistic concurrency: a write naming a stale resourceVersion is a
    409. ``down`` makes every call fail, like an unreachable server."""

    def __init__(self) -> None:
        self.lease: Obj | None = None
        self.revision = 0
        self.down = False
        self.reads = 0

    def _check(self) -> None:
        if self.down:
            raise OSError("connection refused")

    def _stored(self, obj: Obj) -> Obj:
        self.revision += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.lease = obj
        return copy.deepcopy(obj)

    async def get(self, path: str) -> Obj:
        await asyncio.sleep(0)
        self._check()
        self.reads += 1
        if self.lease is None:
            raise NotFoundError({"code": 404})
        return copy.deepcopy(self.lease)

    async def create(self, path: str, body: Obj) -> Obj:
        await asyncio.sleep(0)
        self._check()
        if self.lease is not None:
            raise AlreadyExistsError({"code": 409, "reason": "AlreadyExists"})
        return self._stored(body)

    async def replace(self, path: str, body: Obj) -> Obj:
        await asyncio.sleep(0)
        self._check()
        assert self.lease is not None
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise ConflictError({"code": 409})
        return self._stored(body)

    @property
    def holder(self) -> str:
        return ((self.lease or {}).get("spec") or {}).get("holderIdentity", "")


def elector(api: FakeLeaseApi, identity: str) -> LeaderElector:
    return LeaderElector(api, identity, FAST)  # type: ignore[arg-type]


async def until(check: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


class Leading:
    """A ``lead`` function recording which identities are leading right now."""

    def __init__(self) -> None:
        self.now: set[str] = set()
        self.most_at_once = 0

    def for_(self, identity: str) -> Any:
        async def lead() -> None:
            self.now.add(identity)
            self.most_at_once = max(self.most_at_once, len(self.now))
            try:
                await asyncio.Event().wait()
            finally:
                self.now.discard(identity)

        return lead


@pytest.mark.usefixtures("virtual_time")
async def test_exactly_one_of_several_candidates_leads() -> None:
    api, leading = FakeLeaseApi(), Leading()
    tasks = [asyncio.create_task(elector(api, name).run(leading.for_(name))) for name in ("a", "b", "c")]
    await until(lambda: leading.now)
    await asyncio.sleep(1.5)  # well past the lease duration: renewals keep the others out
    assert leading.now == {api.holder}
    assert leading.most_at_once == 1
    assert api.lease is not None and api.lease["spec"]["leaseTransitions"] == 1
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.usefixtures("virtual_time")
async def test_a_dead_leader_is_replaced_within_the_lease_duration() -> None:
    api, leading = FakeLeaseApi(), Leading()
    first = asyncio.create_task(elector(api, "a").run(leading.for_("a")))
    await until(lambda: leading.now == {"a"})
    second = asyncio.create_task(elector(api, "b").run(leading.for_("b")))
    await asyncio.sleep(0.2)
    assert leading.now == {"a"}
    # a crash: the task vanishes without releasing (its release goes nowhere)
    api.down = True
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    api.down = False
    died = asyncio.get_running_loop().time()
    await until(lambda: leading.now == {"b"})
    assert asyncio.get_running_loop().time() - died < FAST.lease_duration + 0.3
    assert api.holder == "b"
    assert api.lease is not None and api.lease["spec"]["leaseTransitions"] == 2
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)


@pytest.mark.usefixtures("virtual_time")
async def test_a_clean_shutdown_hands_over_at_once() -> None:
    api, leading = FakeLeaseApi(), Leading()
    first = asyncio.create_task(elector(api, "a").run(leading.for_("a")))
    await until(lambda: leading.now == {"a"})
    second = asyncio.create_task(elector(api, "b").run(leading.for_("b")))
    await asyncio.sleep(0.1)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert api.holder == ""  # released
    stopped = asyncio.get_running_loop().time()
    await until(lambda: leading.now == {"b"})
    assert asyncio.get_running_loop().time() - stopped < 0.3  # far below the lease duration
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)


@pytest.mark.usefixtures("virtual_time")
async def test_a_leader_that_cannot_renew_stops_before_anyone_may_take_over() -> None:
    api, leading = FakeLeaseApi(), Leading()
    task = asyncio.create_task(elector(api, "a").run(leading.for_("a")))
    await until(lambda: leading.now == {"a"})
    api.down = True
    cut = asyncio.get_running_loop().time()
    await until(lambda: not leading.now)
    assert asyncio.get_running_loop().time() - cut < FAST.lease_duration  # renew deadline, not later
    api.down = False
    await until(lambda: leading.now == {"a"})  # and it competes again
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.usefixtures("virtual_time")
async def test_a_leader_renews_the_lease_it_wrote_without_reading_it() -> None:
    # client-go's fast path: an idle cluster's leader costs the API one write per retry period
    api, leading = FakeLeaseApi(), Leading()
    task = asyncio.create_task(elector(api, "a").run(leading.for_("a")))
    await until(lambda: leading.now == {"a"})
    reads, revision = api.reads, api.revision
    await asyncio.sleep(FAST.retry_period * 10.5)
    assert api.revision - revision >= 9
    assert api.reads == reads
    assert api.holder == "a" and leading.now == {"a"}
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.usefixtures("virtual_time")
async def test_a_leader_replaced_behind_its_back_stops_at_its_next_renewal() -> None:
    api, leading = FakeLeaseApi(), Leading()
    task = asyncio.create_task(elector(api, "a").run(leading.for_("a")))
    await until(lambda: leading.now == {"a"})
    assert api.lease is not None
    api._stored({**api.lease, "spec": claimed(api.lease["spec"], "intruder", NOW, 60)})
    await until(lambda: not leading.now, within=FAST.retry_period * 10)
    assert api.holder == "intruder"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.usefixtures("virtual_time")
async def test_the_lead_functions_failure_propagates_and_releases() -> None:
    api = FakeLeaseApi()

    async def crash() -> None:
        raise RuntimeError("controller crashed")

    with pytest.raises(RuntimeError, match="controller crashed"):
        await elector(api, "a").run(crash)
    assert api.holder == ""


@pytest.mark.usefixtures("virtual_time")
async def test_a_cancellation_during_the_release_is_not_swallowed() -> None:
    """A stop that arrives while a leader whose ``lead`` returned hands the Lease back ends the elector,
    rather than being lost so that its caller (the guarded controller manager) runs on."""
    api = FakeLeaseApi()
    releasing, never = asyncio.Event(), asyncio.Event()
    replace = api.replace

    async def slow_release(path: str, body: Obj) -> Obj:
        if not body["spec"]["holderIdentity"]:
            releasing.set()
            await never.wait()
        return await replace(path, body)

    api.replace = slow_release  # type: ignore[method-assign]

    async def done() -> None:
        return None

    task = asyncio.create_task(elector(api, "a").run(done))
    await until(releasing.is_set)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
