"""Fixtures shared by the unit tests."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from virtualtime import VirtualClock

from minikube_py.store import open_store
from minikube_py.store.base import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A started SQLite store of the test's own (a module may define a ``store`` of its own instead)."""
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    await opened.start()
    yield opened
    await opened.close()


@pytest.fixture(autouse=True)
def _async_tests_leak_no_tasks(request: pytest.FixtureRequest) -> None:
    """Every async unit test is checked for leaked tasks: the check is set up before the test's other
    fixtures, so it runs after all of them are torn down."""
    if inspect.iscoroutinefunction(request.function):
        request.getfixturevalue("no_leaked_tasks")


@pytest.fixture
async def virtual_time() -> AsyncIterator[VirtualClock]:
    """The test's event loop on virtual time: waits on its timers pass at once (tests/virtualtime.py)."""
    clock = VirtualClock(asyncio.get_running_loop())
    clock.install()
    yield clock
    clock.uninstall()
