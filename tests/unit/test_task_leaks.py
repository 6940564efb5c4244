"""The leaked-task check every async unit test and in-process server runs under (tests/leaks.py)."""

from __future__ import annotations

import asyncio

import pytest
from leaks import fail_on_leaks, leaked_tasks


async def test_a_task_still_pending_is_named_and_fails_its_test() -> None:
    before = asyncio.all_tasks()
    forgotten = asyncio.create_task(asyncio.Event().wait(), name="forgotten")
    finished = asyncio.create_task(asyncio.sleep(0), name="finished")
    await finished
    leaked = await leaked_tasks(before)
    assert [line.split(" ")[0] for line in leaked] == ["forgotten"]
    with pytest.raises(AssertionError, match="the test left 1 asyncio task"):
        fail_on_leaks(leaked, "the test")
    forgotten.cancel()
    assert await leaked_tasks(before) == []  # a task cancelled on the way out is given time to end


async def test_tasks_that_were_there_before_are_not_the_tests() -> None:
    earlier = asyncio.create_task(asyncio.Event().wait())
    assert await leaked_tasks(asyncio.all_tasks()) == []
    earlier.cancel()
    await asyncio.gather(earlier, return_exceptions=True)
