"""The virtual clock the lease and back-off tests run on (tests/virtualtime.py)."""

from __future__ import annotations

import asyncio

import pytest
from virtualtime import VirtualClock


async def test_timers_fire_in_order_at_their_virtual_times(virtual_time: VirtualClock) -> None:
    loop = asyncio.get_running_loop()
    start, fired = loop.time(), []

    async def after(delay: float) -> None:
        await asyncio.sleep(delay)
        fired.append((delay, loop.time() - start))

    await asyncio.gather(after(3600), after(0.5), after(60))
    assert [delay for delay, _ in fired] == [0.5, 60, 3600]
    assert all(at == pytest.approx(delay, abs=0.05) for delay, at in fired)
    assert virtual_time.offset >= 3599


async def test_deadlines_expire_on_the_virtual_clock(virtual_time: VirtualClock) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.Event().wait()
    assert loop.time() - start == pytest.approx(30, abs=0.05)
    waiter = asyncio.ensure_future(asyncio.Event().wait())
    done, _ = await asyncio.wait({waiter}, timeout=10)
    assert not done and loop.time() - start == pytest.approx(40, abs=0.05)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
