"""Secret encryption at rest (``--secrets-encryption``) with the real kubectl and real datastores:
the database holds only ciphertext of Secrets written while it is on, every read path (GET, LIST,
WATCH, server-side apply) still sees the values, Secrets stored plain before stay readable, and
``pykube secrets-encrypt`` rotates the key, across server restarts and across servers sharing one
PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support import postgres_url

from minikube_py.testing import RunningServer, eventually, fresh_postgres_database, start_server

SECRET_ROWS = "SELECT key, value FROM {table} WHERE key LIKE '/core/secrets/%'"


def secrets_encrypt(server: RunningServer, action: str) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "secrets-encrypt",
            action,
            "-o",
            "json",
            "--kubeconfig",
            str(server.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def create_secret(server: RunningServer, name: str, value: str) -> None:
    server.kubectl("create", "secret", "generic", name, f"--from-literal=password={value}")


def secret_value(server: RunningServer, name: str) -> str:
    shown = json.loads(server.kubectl("get", "secret", name, "-o", "json").stdout)
    return base64.b64decode(shown["data"]["password"]).decode()


def shows(server: RunningServer, name: str, value: str) -> bool | None:
    """Whether ``server`` serves Secret ``name`` with ``value`` (None while it does not yet)."""
    done = server.kubectl("get", "secret", name, "-o", "jsonpath={.data.password}", check=False)
    return (done.returncode == 0 and base64.b64decode(done.stdout).decode() == value) or None


def sqlite_rows(data_dir: Path) -> list[tuple[str, str]]:
    """Every stored value of a Secret, current and history, straight from the SQLite file."""
    with sqlite3.connect(data_dir / "state.db") as db:
        return [
            row for table in ("objects", "events") for row in db.execute(SECRET_ROWS.format(table=table)).fetchall()
        ]


def raw_files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob("state.db*"))


def forms(value: str) -> list[bytes]:
    """How a value could appear in the database unencrypted: as it is and base64-encoded (a Secret's data)."""
    return [value.encode(), base64.b64encode(value.encode())]


def test_sqlite_secrets_are_ciphertext_at_rest_and_rotate(tmp_path: Path) -> None:
    data = tmp_path / "atrest-sqlite"
    server = start_server(data)
    try:
        create_secret(server, "before", "plain-before-5d1e")
    finally:
        server.stop()
    server = start_server(data, "--secrets-encryption")
    try:
        status = secrets_encrypt(server, "status")
        assert status["enabled"] is True and status["stage"] == "start"
        first_key = status["writeKey"]
        # the one written before, as the current object and in history: plain, and still readable
        assert status["secretsByKey"] == {"identity": 2}
        assert secret_value(server, "before") == "plain-before-5d1e"

        create_secret(server, "after", "sealed-after-9c3a")
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "applied"},
            "stringData": {"password": "applied-value-77e1"},
        }
        server.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))
        server.kubectl("label", "secret", "after", "tier=db")
        assert secret_value(server, "after") == "sealed-after-9c3a"
        assert secret_value(server, "applied") == "applied-value-77e1"
        shown = server.kubectl("get", "secret", "after", "-o", "yaml").stdout
        assert base64.b64encode(b"sealed-after-9c3a").decode() in shown
        listed = json.loads(server.kubectl("get", "secrets", "-o", "json").stdout)
        assert {s["metadata"]["name"] for s in listed["items"]} >= {"before", "after", "applied"}
        # a watch from an old resourceVersion replays the history out of the events table
        code, events = server.request(
            "GET", "/api/v1/namespaces/default/secrets?watch=1&resourceVersion=1&timeoutSeconds=1"
        )
        assert code == 200 and "sealed-after-9c3a" not in events
        assert base64.b64encode(b"sealed-after-9c3a").decode() in events

        raw = raw_files(data)
        for value in ("sealed-after-9c3a", "applied-value-77e1"):
            assert not any(form in raw for form in forms(value)), value
        sealed = [v for k, v in sqlite_rows(data) if not k.endswith("/before")]
        assert sealed and all(v.startswith(f"k8s:enc:aesgcm:v1:{first_key}:") for v in sealed)

        status = secrets_encrypt(server, "prepare")
        assert status["stage"] == "prepare" and status["writeKey"] == first_key
        new_key = status["keys"][-1]
    finally:
        server.stop()
    server = start_server(data, "--secrets-encryption")  # a restart between the steps loses nothing
    try:
        status = secrets_encrypt(server, "rotate")
        assert status["stage"] == "rotate" and status["writeKey"] == new_key
        create_secret(server, "rotated", "rotated-value-2b8f")
        assert sqlite_rows(data)[-1][1].startswith(f"k8s:enc:aesgcm:v1:{new_key}:")
        assert secret_value(server, "after") == "sealed-after-9c3a"  # the old key still opens its Secrets
    finally:
        server.stop()
    server = start_server(data, "--secrets-encryption")
    try:
        status = secrets_encrypt(server, "reencrypt")
        assert status["keys"] == [new_key] and status["stage"] == "start"
        assert set(status["secretsByKey"]) == {new_key}  # the plain one and the history too
        rows = sqlite_rows(data)
        assert rows and all(v.startswith(f"k8s:enc:aesgcm:v1:{new_key}:") for _, v in rows)
        for name, value in (
            ("before", "plain-before-5d1e"),
            ("after", "sealed-after-9c3a"),
            ("applied", "applied-value-77e1"),
            ("rotated", "rotated-value-2b8f"),
        ):
            assert secret_value(server, name) == value
        # other kinds are never sealed
        server.kubectl("create", "configmap", "visible", "--from-literal=k=configmap-value-e4")
        assert b"configmap-value-e4" in raw_files(data)
    finally:
        server.stop()
    server = start_server(data, "--secrets-encryption")
    try:
        assert secret_value(server, "rotated") == "rotated-value-2b8f"
    finally:
        server.stop()


async def postgres_rows(url: str) -> list[tuple[str, str]]:
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            return [
                (row.key, row.value)
                for table in ("objects", "events")
                for row in await conn.execute(text(SECRET_ROWS.format(table=table)))
            ]
    finally:
        await engine.dispose()


def test_servers_sharing_postgresql_share_the_keys_and_their_rotation(tmp_path: Path) -> None:
    async def run() -> None:
        async with fresh_postgres_database(postgres_url()) as url:
            await asyncio.to_thread(scenario, url)

    def scenario(url: str) -> None:
        first = start_server(tmp_path / "atrest-pg-a", "--datastore", url, "--secrets-encryption")
        second: RunningServer | None = None
        try:
            second = start_server(tmp_path / "atrest-pg-b", "--datastore", url, "--token", first.node_token)
            create_secret(first, "shared", "shared-value-41c0")
            eventually(lambda: shows(second, "shared", "shared-value-41c0"), "the Secret on the second server")
            old_key = secrets_encrypt(second, "status")["writeKey"]
            status = secrets_encrypt(second, "rotate-keys")  # on the other server than the one that enabled it
            new_key = status["writeKey"]
            assert new_key != old_key and status["keys"] == [new_key]
            create_secret(second, "fresh", "fresh-value-0f9e")  # the first learns the new key as it reads this
            eventually(lambda: shows(first, "fresh", "fresh-value-0f9e"), "the rotated Secret on the first server")
            create_secret(first, "later", "later-value-8d2a")  # the first server writes with the new key
            eventually(lambda: shows(second, "later", "later-value-8d2a"), "the new Secret on the second server")
            assert secret_value(first, "shared") == "shared-value-41c0"
            rows = asyncio.run(postgres_rows(url))
            assert rows and all(v.startswith(f"k8s:enc:aesgcm:v1:{new_key}:") for _, v in rows)
            assert not any(
                value in v for _, v in rows for value in ("shared-value-41c0", "later-value-8d2a", "fresh-value-0f9e")
            )
        finally:
            if second is not None:
                second.stop()
            first.stop()
        # a third server started later reads them all with the keys from the datastore
        third = start_server(tmp_path / "atrest-pg-c", "--datastore", url, "--token", first.node_token)
        try:
            assert secret_value(third, "later") == "later-value-8d2a"
        finally:
            third.stop()

    asyncio.run(run())
