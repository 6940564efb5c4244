"""Guarded background tasks: a part of the server or of a node that runs in the background (the
controllers, the embedded agent, a node's service proxy) never dies silently.

A guarded part that crashes is logged, one line saying what failed and what happens next plus the
traceback, and then either restarted after a capped exponential back-off (as systemd or a kubelet
restart a crashed container: the cause is often gone a moment later, and the back-off keeps a part
that fails at once from spinning), or, for a part that cannot be restarted, raised as
:class:`PartFailed` so that the process stops with an error instead of running on without it. A
crash loop repeating the same error logs its traceback once, then one line per further crash.

This module sits outside the layers (it imports nothing of pykube), so the core and the agent
share one guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


def loop_time() -> float:
    """The running event loop's clock: what measures a part's run and what its back-off sleeps on,
    one clock, so that a test driving the loop's time drives both."""
    return asyncio.get_running_loop().time()


#: how long stopping a guarded task waits for it to end before reporting that it refuses
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``first`` seconds after a first crash, doubling with each crash in a row up
    to ``cap``. A run that lasted ``reset_after`` seconds counts as healthy, so its crash starts from
    ``first`` again: a part that fails once a day should come back at once, not after the cap."""

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.first <= self.cap:
            raise ValueError(f"back-off needs 0 <= first <= cap, got {self.first} and {self.cap}")

    def delay(self, crashes: int) -> float:
        """Seconds to wait after the ``crashes``-th crash in a row (1 for the first)."""
        return min(self.first * 2.0 ** max(crashes - 1, 0), self.cap)


#: the back-off of every restartable part unless it says otherwise
RESTART = Backoff()


@dataclass
class Health:
    """What a guarded part is doing, for those who report on it (``kubectl get componentstatuses``):
    ``problem`` is empty while the part runs, and says what crashed and when it restarts while the
    part waits out its back-off, as a probe of a crashed process would fail until it is back."""

    problem: str = ""


class PartFailed(Exception):
    """A part that cannot be restarted crashed or ended; whoever runs it must stop too."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} failed and cannot be restarted")
        self.name = name


async def guard(
    name: str,
    run: Callable[[], Awaitable[object]],
    *,
    restart: Backoff | None = RESTART,
    clock: Callable[[], float] = loop_time,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    health: Health | None = None,
) -> None:
    """Run ``run()`` for ever under the name ``name``: when it crashes or returns, log that and call
    it again after ``restart``'s delay; with ``restart=None`` raise :class:`PartFailed` instead.
    Cancellation (a shutdown) passes through untouched. ``clock`` and ``sleep`` are the seams a test
    replaces to see the delays without waiting for them; ``health`` is kept up to date for reports."""
    health = health or Health()
    crashes, last = 0, ""
    while True:
        health.problem = ""
        started = clock()
        error: Exception | None = None
        try:
            await run()
        except Exception as exc:
            error = exc
        what = _describe(error)
        if restart is None:
            log.critical("%s %s; it cannot be restarted", name, what, exc_info=error)
            raise PartFailed(name) from error
        if clock() - started >= restart.reset_after:
            crashes, last = 0, ""
        crashes += 1
        delay = restart.delay(crashes)
        repeated = what == last
        log.error(
            "%s %s%s; restarting in %s s",
            name,
            what,
            " (as before, traceback above)" if repeated else "",
            f"{delay:g}",
            exc_info=None if repeated else error,
        )
        last = what
        health.problem = f"{name} {what}; restarting in {delay:g} s"
        await sleep(delay)


def _describe(error: BaseException | None) -> str:
    """What went wrong, in a few words: the exceptions themselves, also those inside a group (a
    TaskGroup's), since the group's own message only counts them."""
    if error is None:
        return "ended unexpectedly"
    return "crashed: " + "; ".join(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__ for e in _leaves(error))


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


@contextlib.asynccontextmanager
async def guarded_task(
    name: str,
    run: Callable[[], Awaitable[object]],
    *,
    restart: Backoff | None = RESTART,
    stop_timeout: float = STOP_TIMEOUT,
    health: Health | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """A task running :func:`guard` for the block, stopped on the way out: start-up and teardown
    side by side, for an :class:`~contextlib.AsyncExitStack`. The task is yielded so that its owner
    can notice a part that cannot be restarted ending (the task then holds :class:`PartFailed`)."""
    task = asyncio.create_task(guard(name, run, restart=restart, health=health), name=name)
    try:
        yield task
    finally:
        await _stop(task, stop_timeout)


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has ended; raise what it failed with, if not the cancellation.

    ``task.cancel()`` then ``await task`` under ``suppress(CancelledError)`` also swallows a
    cancellation of the caller arriving meanwhile, so whatever was stopping the caller (a SIGTERM)
    was lost and the caller ran on; ``asyncio.wait`` raises only the caller's own cancellation."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error


async def _stop(task: asyncio.Task[None], grace: float) -> None:
    """Cancel ``task`` and wait for it, at most ``grace`` seconds: a task that refuses to stop is
    reported by name rather than hanging the shutdown. Its failure, already logged by the guard, is
    not raised again here."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.error("%s did not stop within %s s of being cancelled; leaving it behind", task.get_name(), f"{grace:g}")
        return
    if not task.cancelled():
        task.exception()  # a PartFailed the guard has logged: marked as seen, not raised again
