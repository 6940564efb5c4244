"""Tasks a test leaves behind: an asyncio task a test (or the code it drives) started and that is still
pending once everything the test set up has been torn down. Such a task keeps running into the next
test, or is cancelled without notice when the event loop closes, hiding a missing cancellation or an
unawaited shutdown in the product; the suites fail the test instead, naming each task and where it is
suspended."""

from __future__ import annotations

import asyncio

#: rounds of the event loop a task that was cancelled during teardown gets to finish in
_SETTLE_ROUNDS = 20


async def leaked_tasks(before: set[asyncio.Task[object]]) -> list[str]:
    """The tasks started since ``before`` (the tasks of the loop when the test began) that are still
    pending, each described by its name, its coroutine and the line it waits at; the calling task
    is not one of them. Tasks that are just finishing (cancelled moments ago) are given a few rounds
    of the loop first."""
    current = asyncio.current_task()
    pending: list[asyncio.Task[object]] = []
    for _ in range(_SETTLE_ROUNDS):
        pending = [t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()]
        if not pending:
            return []
        await asyncio.sleep(0)
    return sorted(_describe(task) for task in pending)


def _describe(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", repr(coro))
    frames = task.get_stack(limit=1)
    where = f" at {frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else ""
    return f"{task.get_name()} ({name}){where}"


def fail_on_leaks(leaked: list[str], what: str) -> None:
    """Fail, naming the leaked tasks of ``what`` (a test or an in-process server)."""
    if leaked:
        raise AssertionError(f"{what} left {len(leaked)} asyncio task(s) pending:\n  " + "\n  ".join(leaked))
