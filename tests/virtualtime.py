"""Virtual time for the running event loop, as Trio's autojumping ``MockClock`` gives: whenever the
loop has nothing ready and would block until its next timer, its clock jumps to that timer instead.
Sleeps, ``asyncio.wait`` timeouts and ``asyncio.timeout`` deadlines then pass at once, in order, and
a test of leases or back-off that "waits well past the lease duration" runs in milliseconds while
every duration it measures on the loop's clock (``loop.time()``, :func:`minikube_py.guard.loop_time`)
is exactly what it would have been.

Only for code that waits on nothing but the loop's timers and itself: a jump does not wait for a
socket or a thread, so a test with real I/O in flight would see its timeouts fire early. Waiting on
the loop with no timer at all still blocks for real (there is nothing to jump to).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable


class VirtualClock:
    """The clock of ``loop`` while installed: its real time plus every jump made so far."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        selector = getattr(loop, "_selector", None)
        if not isinstance(selector, selectors.BaseSelector):
            raise TypeError(f"virtual time needs a selector event loop, not {type(loop).__name__}")
        self._loop = loop
        self._selector = selector
        self._real_time: Callable[[], float] = loop.time
        self._real_select = selector.select
        #: seconds the clock has jumped ahead of the loop's real one
        self.offset = 0.0

    def time(self) -> float:
        return self._real_time() + self.offset

    def _select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """The loop's wait: what is ready now, or, when nothing is and a timer is due in ``timeout``
        seconds, a jump to that timer rather than the wait."""
        ready = self._real_select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer: only I/O or another thread can wake the loop
            return self._real_select(None)
        self.offset += timeout
        return []

    def install(self) -> None:
        self._loop.time = self.time  # type: ignore[method-assign]
        self._selector.select = self._select  # type: ignore[method-assign]

    def uninstall(self) -> None:
        del self._loop.time
        del self._selector.select
