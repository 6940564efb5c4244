"""The guard of background parts: crashes are logged and restarted with back-off, or end the owner."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from minikube_py.guard import Backoff, Health, PartFailed, cancel_and_wait, guard, guarded_task


class FakeTime:
    """A clock that moves only when the guard sleeps (or a part says it ran a while): the delays are
    seen exactly and cost nothing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


async def run_until_healthy(part: object, time: FakeTime, healthy: asyncio.Event, **kwargs: object) -> None:
    task = asyncio.create_task(guard("part", part, clock=time.clock, sleep=time.sleep, **kwargs))  # type: ignore[arg-type]
    await asyncio.wait_for(healthy.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_crashes_restart_with_capped_doubling_delays() -> None:
    time, healthy = FakeTime(), asyncio.Event()
    calls = 0

    async def part() -> None:
        nonlocal calls
        calls += 1
        if calls <= 7:
            raise RuntimeError("boom")
        healthy.set()
        await asyncio.Event().wait()

    await run_until_healthy(part, time, healthy)
    assert calls == 8
    assert time.sleeps == [1, 2, 4, 8, 16, 30, 30]


async def test_health_says_what_crashed_while_the_part_waits_to_restart() -> None:
    health, seen = Health(), []
    calls = 0

    async def part() -> None:
        nonlocal calls
        calls += 1
        seen.append(health.problem)  # what a report reads while the part runs
        if calls == 1:
            raise ValueError("bad row")

    async def sleep(delay: float) -> None:
        seen.append(health.problem)  # ... and while it waits out its back-off
        if len(seen) >= 4:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await guard("controller manager", part, clock=lambda: 0.0, sleep=sleep, health=health)
    assert seen == [
        "",
        "controller manager crashed: ValueError: bad row; restarting in 1 s",
        "",
        "controller manager ended unexpectedly; restarting in 2 s",
    ]


async def test_a_run_that_lasted_resets_the_back_off() -> None:
    time, healthy = FakeTime(), asyncio.Event()
    runs = iter([0.0, 0.0, 0.0, 61.0, 0.0])  # seconds each run lasts before it crashes

    async def part() -> None:
        lasted = next(runs, None)
        if lasted is None:
            healthy.set()
            await asyncio.Event().wait()
        time.now += lasted
        raise RuntimeError("boom")

    await run_until_healthy(part, time, healthy, restart=Backoff(first=0.5, cap=10, reset_after=60))
    assert time.sleeps == [0.5, 1, 2, 0.5, 1]


async def test_a_crash_is_one_line_with_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    time, healthy = FakeTime(), asyncio.Event()
    errors = iter([RuntimeError("boom"), RuntimeError("boom"), KeyError("other")])

    async def part() -> None:
        error = next(errors, None)
        if error is None:
            healthy.set()
            await asyncio.Event().wait()
        raise error

    with caplog.at_level(logging.ERROR, logger="minikube_py.guard"):
        await run_until_healthy(part, time, healthy)
    records = [(r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert records == [
        ("part crashed: RuntimeError: boom; restarting in 1 s", True),
        ("part crashed: RuntimeError: boom (as before, traceback above); restarting in 2 s", False),
        ("part crashed: KeyError: 'other'; restarting in 4 s", True),
    ]
    assert "RuntimeError: boom" in caplog.text  # the traceback itself


async def test_a_part_that_returns_is_restarted_too(caplog: pytest.LogCaptureFixture) -> None:
    time, healthy = FakeTime(), asyncio.Event()
    calls = 0

    async def part() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            healthy.set()
            await asyncio.Event().wait()

    await run_until_healthy(part, time, healthy)
    assert time.sleeps == [1]
    assert "part ended unexpectedly; restarting in 1 s" in caplog.text


async def test_a_task_group_failure_names_its_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    time, healthy = FakeTime(), asyncio.Event()

    async def part() -> None:
        if time.sleeps:
            healthy.set()
            await asyncio.Event().wait()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(_raise(ValueError("bad value")))
            tasks.create_task(_raise(OSError("no route")))

    await run_until_healthy(part, time, healthy)
    assert "part crashed: ValueError: bad value; OSError: no route; restarting" in caplog.text


async def _raise(error: Exception) -> None:
    raise error


async def test_a_part_that_cannot_be_restarted_fails_its_owner(caplog: pytest.LogCaptureFixture) -> None:
    async def part() -> None:
        raise RuntimeError("disk gone")

    with pytest.raises(PartFailed, match="writer failed and cannot be restarted") as failed:
        await guard("writer", part, restart=None)
    assert isinstance(failed.value.__cause__, RuntimeError)
    [record] = caplog.records
    assert record.levelno == logging.CRITICAL and record.exc_info is not None
    assert record.getMessage() == "writer crashed: RuntimeError: disk gone; it cannot be restarted"


async def test_cancellation_passes_through_and_is_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    started = asyncio.Event()

    async def part() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(guard("part", part))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert caplog.records == []


async def test_guarded_task_stops_with_the_block_and_reports_one_that_refuses(caplog: pytest.LogCaptureFixture) -> None:
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # ignores the first cancellation
            await asyncio.Event().wait()
        await asyncio.Event().wait()

    async with guarded_task("stubborn part", stubborn, stop_timeout=0.05) as task:
        await asyncio.sleep(0)
    assert "stubborn part did not stop within 0.05 s of being cancelled" in caplog.text
    task.cancel()  # a second time, which it heeds
    with pytest.raises(asyncio.CancelledError):
        await task

    async def quiet() -> None:
        await asyncio.Event().wait()

    async with guarded_task("quiet part", quiet) as task:
        await asyncio.sleep(0)
    assert task.cancelled()


def test_backoff_delays() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    with pytest.raises(ValueError, match="first <= cap"):
        Backoff(first=5, cap=1)


async def slow_to_stop(stopping: asyncio.Event) -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        stopping.set()
        await asyncio.sleep(0.2)  # cleans up for a while after being cancelled


@pytest.mark.usefixtures("virtual_time")  # the worker's slow clean-up takes no real time
async def test_cancel_and_wait_keeps_a_cancellation_of_its_caller() -> None:
    stopping = asyncio.Event()
    worker = asyncio.create_task(slow_to_stop(stopping))
    await asyncio.sleep(0)

    async def stop_it() -> str:
        await cancel_and_wait(worker)
        return "went on after being cancelled"

    caller = asyncio.create_task(stop_it())
    await stopping.wait()
    caller.cancel()  # e.g. SIGTERM's shutdown reaching the part that is stopping its worker
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.wait([worker])
    assert worker.cancelled()


async def test_cancel_and_wait_raises_what_the_task_failed_with() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await cancel_and_wait(task)
    quiet = asyncio.create_task(asyncio.sleep(3600))
    await cancel_and_wait(quiet)
    assert quiet.cancelled()
