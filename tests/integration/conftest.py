"""Store fixtures: every store test runs against SQLite and a real PostgreSQL, each on a fresh database.

PostgreSQL comes from PYKUBE_TEST_POSTGRES_URL or, when that is unset, from scripts/postgres.sh (which
installs and starts one); if neither works the tests fail, they never skip.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from minikube_py.store import open_store
from minikube_py.store.base import Store

REPO = Path(__file__).resolve().parents[2]

OpenStore = Callable[..., Awaitable[Store]]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("PYKUBE_TEST_POSTGRES_URL")
    if url:
        return url
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "postgres.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"scripts/postgres.sh failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip().splitlines()[-1]


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL naming a fresh, empty database of the parametrized backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    async with _fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Callable[[], contextlib.AbstractAsyncContextManager[str]]:
    """Makes new, empty PostgreSQL databases (for tests that need PostgreSQL whatever the backend)."""
    return lambda: _fresh_postgres_database(postgres_url)


@contextlib.asynccontextmanager
async def _fresh_postgres_database(base: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``base``, dropped afterwards."""
    name = f"pykube_test_{uuid.uuid4().hex[:12]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE refuse to run inside one)."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


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
