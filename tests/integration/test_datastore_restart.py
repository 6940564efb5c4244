"""PostgreSQL going away and coming back under two servers: meanwhile they stay up, say they are not
ready, refuse writes with 503 and still serve reads; afterwards they reconnect by themselves, and a
watch opened on one server before the outage sees every write made through the other exactly once,
in order, without reconnecting.

The database is a PostgreSQL cluster of this test's own (scripts/postgres.sh on a free port under a
directory of its own), stopped with ``pg_ctl stop -m immediate`` as a crash would, and removed after.
"""

from __future__ import annotations

import contextlib
import glob
import json
import shutil
import subprocess
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube_py.testing import RunningServer, eventually, free_port, start_server

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


class PrivatePostgres:
    """A PostgreSQL cluster nobody else uses, so that stopping it disturbs no other test."""

    def __init__(self) -> None:
        self.base = Path(f"/tmp/pykube-ha-pg-{uuid.uuid4().hex[:8]}")
        self.port = free_port()
        self.url = ""

    def start(self) -> None:
        done = subprocess.run(["bash", str(SCRIPT), str(self.base), str(self.port)], capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, f"scripts/postgres.sh failed:\n{done.stdout}\n{done.stderr}"
        self.url = done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """Stop at once, without a checkpoint, as a crash or a killed container would."""
        pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
        owner = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") and self.base.owner() == "postgres" else []
        subprocess.run([*owner, pg_ctl, "--pgdata", str(self.base / "data"), "stop", "-m", "immediate"],
                       capture_output=True, timeout=60, check=True)


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    database = PrivatePostgres()
    database.start()
    try:
        yield database
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            database.stop()
        shutil.rmtree(database.base, ignore_errors=True)


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": name}}


class Watcher:
    """One watch of the default namespace's ConfigMaps, read in a thread until the server ends it (a
    response cannot be closed from another thread while this one reads it)."""

    def __init__(self, server: RunningServer, resource_version: str) -> None:
        request = urllib.request.Request(
            f"{server.url}{CONFIGMAPS}?watch=true&resourceVersion={resource_version}&timeoutSeconds=600",
            headers={"Authorization": f"Bearer {server.admin_token}"})
        self._response = urllib.request.urlopen(request, context=server.ssl_context(), timeout=600)
        self.events: list[tuple[str, str, int]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._response:
            event = json.loads(line)
            meta = event["object"]["metadata"]
            if event["type"] != "BOOKMARK" and meta["name"] != "kube-root-ca.crt":  # the test's own only
                self.events.append((event["type"], meta["name"], int(meta["resourceVersion"])))


def test_servers_ride_out_a_database_restart(tmp_path: Path, postgres: PrivatePostgres) -> None:
    first = start_server(tmp_path / "a", "--datastore", postgres.url)
    second = start_server(tmp_path / "b", "--datastore", postgres.url, "--token", first.node_token)
    try:
        status, listing = second.request("GET", CONFIGMAPS)
        assert status == 200
        watcher = Watcher(second, listing["metadata"]["resourceVersion"])
        before = [f"before-{i}" for i in range(5)]
        for name in before:
            assert first.request("POST", CONFIGMAPS, configmap(name))[0] == 201

        postgres.stop()
        eventually(lambda: first.request("GET", "/readyz")[0] == 500 and second.request("GET", "/readyz")[0] == 500,
                   "both servers to report not ready")
        assert "[-]datastore failed" in first.request("GET", "/readyz")[1]
        status, refused = first.request("POST", CONFIGMAPS, configmap("during"))
        assert (status, refused["reason"], refused["code"]) == (503, "ServiceUnavailable", 503), refused
        assert "the datastore is unavailable" in refused["message"]
        assert first.request("GET", "/livez")[0] == 200
        assert second.request("GET", f"{CONFIGMAPS}/before-0")[0] == 200  # reads go on, from memory

        postgres.start()
        eventually(lambda: first.request("GET", "/readyz")[0] == 200 and second.request("GET", "/readyz")[0] == 200,
                   "both servers to be ready again")
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
