"""Store fixtures: every store test runs against SQLite and a real PostgreSQL, each on a fresh database.

PostgreSQL comes from PYKUBE_TEST_POSTGRES_URL or, when that is unset, from scripts/postgres.sh (which
installs and starts one); if neither works the tests fail, they never skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from support import postgres_url as repository_postgres_url

from minikube_py import testing
from minikube_py.store import open_store
from minikube_py.store.base import Store

OpenStore = Callable[..., Awaitable[Store]]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return repository_postgres_url()


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL naming a fresh, empty database of the parametrized backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    async with testing.fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Callable[[], contextlib.AbstractAsyncContextManager[str]]:
    """Makes new, empty PostgreSQL databases (for tests that need PostgreSQL whatever the backend)."""
    return lambda: testing.fresh_postgres_database(postgres_url)


@pytest.fixture
async def open_started(store_url: str) -> AsyncIterator[OpenStore]:
    """Opens and starts stores on the test's database (any number; all are closed at the end)."""
    opened: list[Store] = []

    async def open_one(**options: object) -> Store:
        store = open_store(store_url, **options)
        await store.start()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_started: OpenStore) -> Store:
    return await open_started()
