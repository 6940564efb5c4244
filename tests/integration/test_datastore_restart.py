"""PostgreSQL going away and coming back under two servers: meanwhile they stay up, say they are not
ready, refuse writes with 503 and still serve reads; afterwards they reconnect by themselves, and a
watch opened on one server before the outage sees every write made through the other exactly once,
in order, without reconnecting.

The database is a PostgreSQL cluster of this test's own (scripts/postgres.sh on a free port under a
directory of its own), stopped with ``pg_ctl stop -m immediate`` as a crash would, and removed after.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import PrivatePostgres, Watcher, private_postgres

from minikube_py.testing import eventually, start_server

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as database:
        yield database


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": name}}


def test_servers_ride_out_a_database_restart(tmp_path: Path, postgres: PrivatePostgres) -> None:
    first = start_server(tmp_path / "a", "--datastore", postgres.url)
    second = start_server(tmp_path / "b", "--datastore", postgres.url, "--token", first.node_token)
    try:
        status, listing = second.request("GET", CONFIGMAPS)
        assert status == 200
        watcher = Watcher(second, CONFIGMAPS, listing["metadata"]["resourceVersion"])
        before = [f"before-{i}" for i in range(5)]
        for name in before:
            assert first.request("POST", CONFIGMAPS, configmap(name))[0] == 201

        postgres.stop()
        eventually(
            lambda: first.request("GET", "/readyz")[0] == 500 and second.request("GET", "/readyz")[0] == 500,
            "both servers to report not ready",
        )
        assert "[-]etcd failed: reason withheld" in first.request("GET", "/readyz")[1]
        assert "the datastore is unavailable" in first.request("GET", "/readyz/etcd")[1]
        status, refused = first.request("POST", CONFIGMAPS, configmap("during"))
        assert (status, refused["reason"], refused["code"]) == (503, "ServiceUnavailable", 503), refused
        assert "the datastore is unavailable" in refused["message"]
        assert first.request("GET", "/livez")[0] == 200
        assert second.request("GET", f"{CONFIGMAPS}/before-0")[0] == 200  # reads go on, from memory

        postgres.start()
        eventually(
            lambda: first.request("GET", "/readyz")[0] == 200 and second.request("GET", "/readyz")[0] == 200,
            "both servers to be ready again",
        )
        after = [f"after-{i}" for i in range(5)]
        for name in after:
            assert first.request("POST", CONFIGMAPS, configmap(name))[0] == 201
        eventually(lambda: len(watcher.events) >= 10, "the watch on the other server to see every write", timeout=20)
        assert [(kind, name) for kind, name, _ in watcher.events] == [("ADDED", name) for name in before + after]
        revisions = [revision for _, _, revision in watcher.events]
        assert revisions == sorted(set(revisions))
        status, listing = second.request("GET", CONFIGMAPS)
        names = {item["metadata"]["name"] for item in listing["items"]} - {"kube-root-ca.crt"}
        assert names == {*before, *after}
        assert first.process.poll() is None and second.process.poll() is None
    finally:
        first.stop()
        second.stop()
