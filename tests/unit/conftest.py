"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minikube_py.store import open_store
from minikube_py.store.base import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A started SQLite store of the test's own (a module may define a ``store`` of its own instead)."""
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    await opened.start()
    yield opened
    await opened.close()
